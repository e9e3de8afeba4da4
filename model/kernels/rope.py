"""Fused RoPE in Triton on q and k in one launch (q's rows, then k's: grouped-query k may have fewer heads).
Pairs are (first half, second half) of each head, as in the reference; backward rotates by the negative
angle. Math in fp32 (fp64 for fp64 inputs)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from model.kernels.launch import accumulator


@triton.jit
def _rotate(src_ptr, dst_ptr, cos_ptr, sin_ptr, row, seq, half, sign, BLOCK: tl.constexpr, ACC: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    mask = cols < half
    position = row % seq
    cos = tl.load(cos_ptr + position * half + cols, mask=mask, other=0.0).to(ACC)
    sin = tl.load(sin_ptr + position * half + cols, mask=mask, other=0.0).to(ACC) * sign
    base = row * 2 * half
    x1 = tl.load(src_ptr + base + cols, mask=mask, other=0.0).to(ACC)
    x2 = tl.load(src_ptr + base + half + cols, mask=mask, other=0.0).to(ACC)
    tl.store(dst_ptr + base + cols, (x1 * cos - x2 * sin).to(dst_ptr.dtype.element_ty), mask=mask)
    tl.store(dst_ptr + base + half + cols, (x1 * sin + x2 * cos).to(dst_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _rope_qk(q_ptr, k_ptr, q_out, k_out, cos_ptr, sin_ptr, q_rows, seq, half, sign,
             BLOCK: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    row = tl.program_id(0)
    if row < q_rows:
        _rotate(q_ptr, q_out, cos_ptr, sin_ptr, row, seq, half, sign, BLOCK=BLOCK, ACC=ACC)
    else:
        _rotate(k_ptr, k_out, cos_ptr, sin_ptr, row - q_rows, seq, half, sign, BLOCK=BLOCK, ACC=ACC)


def _launch(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: float):
    q, k = q.contiguous(), k.contiguous()
    q_out, k_out = torch.empty_like(q), torch.empty_like(k)
    seq, half = q.shape[-2], q.shape[-1] // 2
    q_rows, k_rows = q.numel() // (2 * half), k.numel() // (2 * half)
    _rope_qk[(q_rows + k_rows,)](q, k, q_out, k_out, cos.contiguous(), sin.contiguous(), q_rows, seq, half, sign,
                                 BLOCK=triton.next_power_of_2(half), ACC=accumulator(q)[1])  # fmt: skip
    return q_out, k_out


class RoPEFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        ctx.save_for_backward(cos, sin)
        return _launch(q, k, cos, sin, 1.0)

    @staticmethod
    def backward(ctx, dq: torch.Tensor, dk: torch.Tensor):
        cos, sin = ctx.saved_tensors
        grad_q, grad_k = _launch(dq, dk, cos, sin, -1.0)
        return grad_q, grad_k, None, None


def rope_qk(
    q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """q [batch, heads, seq, head_dim] and k [batch, kv_heads, seq, head_dim] rotated by the angles whose
    cos / sin are [seq, head_dim / 2]."""
    return RoPEFunction.apply(q, k, cos, sin)
