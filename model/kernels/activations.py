"""Fused MLP activations in Triton: SwiGLU (silu(gate) * up) and ReLU^2, forward and backward each one
elementwise pass (no intermediate tensors saved but the inputs). Math in fp32 (fp64 for fp64 inputs)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from model.kernels.launch import accumulator

BLOCK = 1024


def _acc(tensor: torch.Tensor) -> tl.dtype:
    return accumulator(tensor)[1]


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


@triton.jit
def _swiglu_forward(gate_ptr, up_ptr, out_ptr, n, BLOCK: tl.constexpr, ACC: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    g = tl.load(gate_ptr + offsets, mask=mask, other=0.0).to(ACC)
    u = tl.load(up_ptr + offsets, mask=mask, other=0.0).to(ACC)
    silu = g / (1.0 + tl.exp(-g))
    tl.store(out_ptr + offsets, (silu * u).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _swiglu_backward(gate_ptr, up_ptr, dout_ptr, dgate_ptr, dup_ptr, n, BLOCK: tl.constexpr, ACC: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    g = tl.load(gate_ptr + offsets, mask=mask, other=0.0).to(ACC)
    u = tl.load(up_ptr + offsets, mask=mask, other=0.0).to(ACC)
    d = tl.load(dout_ptr + offsets, mask=mask, other=0.0).to(ACC)
    sigmoid = 1.0 / (1.0 + tl.exp(-g))
    silu = g * sigmoid
    tl.store(dup_ptr + offsets, (d * silu).to(dup_ptr.dtype.element_ty), mask=mask)
    dgate = d * u * sigmoid * (1.0 + g * (1.0 - sigmoid))
    tl.store(dgate_ptr + offsets, dgate.to(dgate_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _relu2_forward(x_ptr, out_ptr, n, BLOCK: tl.constexpr, ACC: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.maximum(tl.load(x_ptr + offsets, mask=mask, other=0.0).to(ACC), 0.0)
    tl.store(out_ptr + offsets, (x * x).to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _relu2_backward(x_ptr, dout_ptr, dx_ptr, n, BLOCK: tl.constexpr, ACC: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.maximum(tl.load(x_ptr + offsets, mask=mask, other=0.0).to(ACC), 0.0)
    d = tl.load(dout_ptr + offsets, mask=mask, other=0.0).to(ACC)
    tl.store(dx_ptr + offsets, (2.0 * x * d).to(dx_ptr.dtype.element_ty), mask=mask)


class SwiGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        gate, up = gate.contiguous(), up.contiguous()
        out = torch.empty_like(gate)
        _swiglu_forward[_grid(gate.numel())](gate, up, out, gate.numel(), BLOCK=BLOCK, ACC=_acc(gate))
        ctx.save_for_backward(gate, up)
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gate, up = ctx.saved_tensors
        dgate, dup = torch.empty_like(gate), torch.empty_like(up)
        n = gate.numel()
        _swiglu_backward[_grid(n)](gate, up, dout.contiguous(), dgate, dup, n, BLOCK=BLOCK, ACC=_acc(gate))
        return dgate, dup


class ReLU2Function(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        _relu2_forward[_grid(x.numel())](x, out, x.numel(), BLOCK=BLOCK, ACC=_acc(x))
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        dx = torch.empty_like(x)
        _relu2_backward[_grid(x.numel())](x, dout.contiguous(), dx, x.numel(), BLOCK=BLOCK, ACC=_acc(x))
        return dx


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return SwiGLUFunction.apply(gate, up)


def relu2(x: torch.Tensor) -> torch.Tensor:
    return ReLU2Function.apply(x)
