"""Fused RMSNorm in Triton: one pass over each row forward (the row's 1/rms is kept for backward), one pass
backward that also accumulates the weight's gradient per program (summed afterwards, no atomics).
Rows are whole in one block (the model's widths fit); math in fp32 (fp64 for fp64 inputs, so gradcheck
applies), results in the input dtype."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from model.kernels.launch import accumulator, row_programs, row_warps


@triton.jit
def _forward(x_ptr, w_ptr, y_ptr, rstd_ptr, rows, dim, eps, rows_per_program,
             HAS_WEIGHT: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    program = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < dim
    if HAS_WEIGHT:
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(ACC)
    for i in range(rows_per_program):
        row = program * rows_per_program + i
        if row < rows:
            x = tl.load(x_ptr + row * dim + cols, mask=mask, other=0.0).to(ACC)
            rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=0) / dim + eps)
            y = x * rstd
            if HAS_WEIGHT:
                y = y * w
            tl.store(y_ptr + row * dim + cols, y.to(y_ptr.dtype.element_ty), mask=mask)
            tl.store(rstd_ptr + row, rstd)


@triton.jit
def _backward(dy_ptr, x_ptr, w_ptr, rstd_ptr, dx_ptr, dw_ptr, rows, dim, rows_per_program,
              HAS_WEIGHT: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    program = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < dim
    dw = tl.zeros((BLOCK,), dtype=ACC)
    if HAS_WEIGHT:
        w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(ACC)
    for i in range(rows_per_program):
        row = program * rows_per_program + i
        if row < rows:
            x = tl.load(x_ptr + row * dim + cols, mask=mask, other=0.0).to(ACC)
            dy = tl.load(dy_ptr + row * dim + cols, mask=mask, other=0.0).to(ACC)
            rstd = tl.load(rstd_ptr + row)
            x_hat = x * rstd
            g = dy
            if HAS_WEIGHT:
                g = dy * w
                dw += dy * x_hat
            dx = rstd * (g - x_hat * (tl.sum(g * x_hat, axis=0) / dim))
            tl.store(dx_ptr + row * dim + cols, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    if HAS_WEIGHT:
        tl.store(dw_ptr + program * dim + cols, dw, mask=mask)


class RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1]).contiguous()
        rows, dim = x2.shape
        y = torch.empty_like(x2)
        acc_dtype, acc = accumulator(x)
        rstd = torch.empty(rows, dtype=acc_dtype, device=x.device)
        programs, per_program = row_programs(rows, x.device)
        block = triton.next_power_of_2(dim)
        w = weight if weight is not None else x2  # unused pointer when there is no weight
        _forward[(programs,)](x2, w, y, rstd, rows, dim, eps, per_program,
                              HAS_WEIGHT=weight is not None, BLOCK=block, ACC=acc,
                              num_warps=row_warps(block))  # fmt: skip
        ctx.save_for_backward(x2, weight, rstd)
        ctx.programs, ctx.per_program, ctx.block, ctx.shape, ctx.acc = programs, per_program, block, shape, acc
        return y.view(shape)

    @staticmethod
    def backward(ctx, dy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, None]:
        x2, weight, rstd = ctx.saved_tensors
        rows, dim = x2.shape
        dy2 = dy.reshape(rows, dim).contiguous()
        dx = torch.empty_like(x2)
        has_weight = weight is not None
        partial = torch.empty((ctx.programs, dim), dtype=rstd.dtype, device=x2.device) if has_weight else rstd
        w = weight if has_weight else x2
        _backward[(ctx.programs,)](dy2, x2, w, rstd, dx, partial, rows, dim, ctx.per_program,
                                   HAS_WEIGHT=has_weight, BLOCK=ctx.block, ACC=ctx.acc,
                                   num_warps=row_warps(ctx.block))  # fmt: skip
        dw = partial.sum(0).to(weight.dtype) if has_weight else None
        return dx.view(ctx.shape), dw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    return RMSNormFunction.apply(x, weight, eps)
