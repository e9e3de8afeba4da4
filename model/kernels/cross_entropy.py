"""Fused linear + cross-entropy: the loss of `hidden @ weight.T` without the [tokens x vocab] logits.

Tokens go through in chunks. For a chunk, the logits come from one matmul; a Triton kernel then makes,
per row, the log-sum-exp online over vocab blocks (of the soft-capped logits when asked), the loss
(plus z-loss * lse^2), and overwrites the row with the gradient of the mean loss with respect to the raw
logits (softmax - one-hot, z-loss and soft-cap terms included; zero for ignored targets). Two more matmuls
turn that into the chunk's gradients for `hidden` and `weight`. So the gradients are computed in the
forward pass, and backward only scales them by the upstream gradient. Memory: one chunk of fp32 logits.

The three matmuls run in the input dtype (bf16 / fp16 use tensor cores; an fp32 matmul there is an order of
magnitude slower); only the row kernel and the weight gradient's running sum are fp32. Under autocast the
inputs are cast to the autocast dtype first, outside the Function, as autocast would cast a plain matmul.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from model.kernels.launch import accumulator, row_warps

CHUNK_BYTES = 256 << 20
BLOCK = 2048


@triton.jit
def _tanh(x):
    return 1.0 - 2.0 / (tl.exp(2.0 * x) + 1.0)


@triton.jit
def _rows(logits_ptr, targets_ptr, loss_ptr, vocab, ignore_index, softcap, z_loss, scale_ptr,
          HAS_SOFTCAP: tl.constexpr, BLOCK: tl.constexpr, ACC: tl.constexpr):  # fmt: skip
    row = tl.program_id(0)
    scale = tl.load(scale_ptr)
    base = logits_ptr + row.to(tl.int64) * vocab
    target = tl.load(targets_ptr + row)
    high = tl.full((), float("-inf"), ACC)
    total = tl.zeros((), ACC)
    for start in range(0, vocab, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < vocab, other=0.0).to(ACC)
        if HAS_SOFTCAP:
            x = softcap * _tanh(x / softcap)
        x = tl.where(cols < vocab, x, float("-inf"))  # padding lanes add nothing to the sum
        new_high = tl.maximum(high, tl.max(x, axis=0))
        total = total * tl.exp(high - new_high) + tl.sum(tl.exp(x - new_high), axis=0)
        high = new_high
    lse = high + tl.log(total)
    if target == ignore_index:
        tl.store(loss_ptr + row, 0.0)
        for start in range(0, vocab, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            tl.store(base + cols, tl.zeros((BLOCK,), ACC), mask=cols < vocab)
    else:
        x_target = tl.load(base + target).to(ACC)
        if HAS_SOFTCAP:
            x_target = softcap * _tanh(x_target / softcap)
        tl.store(loss_ptr + row, lse - x_target + z_loss * lse * lse)
        for start in range(0, vocab, BLOCK):
            cols = start + tl.arange(0, BLOCK)
            mask = cols < vocab
            x = tl.load(base + cols, mask=mask, other=0.0).to(ACC)
            z = x
            if HAS_SOFTCAP:
                z = softcap * _tanh(x / softcap)
            grad = tl.exp(z - lse) * (1.0 + 2.0 * z_loss * lse) - tl.where(cols == target, 1.0, 0.0)
            if HAS_SOFTCAP:
                grad = grad * (1.0 - (z / softcap) * (z / softcap))
            tl.store(base + cols, grad * scale, mask=mask)


class LinearCrossEntropyFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int,
                softcap: float | None, z_loss: float) -> torch.Tensor:  # fmt: skip
        h = hidden.reshape(-1, hidden.shape[-1])
        t = targets.reshape(-1).contiguous()
        rows, vocab = h.shape[0], weight.shape[0]
        acc_dtype, acc = accumulator(hidden)
        scale = (1.0 / (t != ignore_index).sum().clamp(min=1).to(acc_dtype)).reshape(1)  # on the device: no sync
        grad_hidden = torch.empty_like(h)
        grad_weight = torch.zeros(weight.shape, dtype=acc_dtype, device=weight.device)
        low_precision = weight.dtype != acc_dtype  # chunk products in the input dtype, summed in fp32
        product = torch.empty_like(weight) if low_precision else None
        losses = torch.empty(rows, dtype=acc_dtype, device=h.device)
        chunk = max(1, min(rows, CHUNK_BYTES // (vocab * acc_dtype.itemsize)))
        for start in range(0, rows, chunk):
            part = h[start : start + chunk]
            logits = (part @ weight.T).to(acc_dtype).contiguous()
            _rows[(part.shape[0],)](
                logits, t[start : start + chunk], losses[start : start + chunk], vocab, ignore_index,
                float(softcap or 1.0), float(z_loss), scale, HAS_SOFTCAP=bool(softcap), BLOCK=BLOCK, ACC=acc,
                num_warps=row_warps(BLOCK),
            )  # fmt: skip
            grad_logits = logits.to(weight.dtype)
            torch.mm(grad_logits, weight, out=grad_hidden[start : start + chunk])
            if product is None:
                grad_weight.addmm_(grad_logits.T, part)
            else:
                grad_weight += torch.mm(grad_logits.T, part, out=product)
        del product  # before the cast below, so peak memory holds one extra weight-sized buffer, not two
        ctx.save_for_backward(grad_hidden.view(hidden.shape), grad_weight.to(weight.dtype))
        return losses.sum() * scale[0]  # fp32 (fp64 for fp64 inputs), like the reference

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        grad_hidden, grad_weight = ctx.saved_tensors
        # in fp32 (fp64 for fp64): a bf16 1/3 (gradient accumulation) would be 0.4% off
        scale = grad_output.to(torch.float64 if grad_hidden.dtype == torch.float64 else torch.float32)
        grad_hidden, grad_weight = (
            (grad_hidden * scale).to(grad_hidden.dtype),
            (grad_weight * scale).to(grad_weight.dtype),
        )
        return grad_hidden, grad_weight, None, None, None, None


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    softcap: float | None = None,
    z_loss: float = 0.0,
) -> torch.Tensor:
    """The reference's loss (mean over targets that are not `ignore_index`) without materialising the logits."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
        with torch.autocast(device, enabled=False):
            return LinearCrossEntropyFunction.apply(hidden, weight, targets, ignore_index, softcap, z_loss)
    return LinearCrossEntropyFunction.apply(hidden, weight, targets, ignore_index, softcap, z_loss)
