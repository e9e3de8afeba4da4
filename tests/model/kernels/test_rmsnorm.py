"""Fused RMSNorm (Triton, interpreted on CPU) against the reference: forward, backward, dtypes, gradcheck."""

from __future__ import annotations

import pytest
import torch

from model.kernels import reference
from model.kernels.rmsnorm import rms_norm

SHAPES = [(1, 7), (5, 33), (9, 64), (2, 3, 100)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_weight", [True, False])
def test_forward_and_backward_match_the_reference_in_fp32(shape: tuple[int, ...], with_weight: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(shape, requires_grad=True)
    w = (torch.rand(shape[-1]) + 0.5).requires_grad_() if with_weight else None
    dy = torch.randn(shape)
    ours = rms_norm(x, w, 1e-6)
    ours.backward(dy)
    got = (ours.detach(), x.grad.clone(), w.grad.clone() if w is not None else None)
    x.grad = None
    if w is not None:
        w.grad = None
    expected = reference.rms_norm(x, w, 1e-6)
    expected.backward(dy)
    assert torch.allclose(got[0], expected.detach(), atol=1e-6, rtol=1e-5)
    assert torch.allclose(got[1], x.grad, atol=1e-5, rtol=1e-5)
    if w is not None:
        assert torch.allclose(got[2], w.grad, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_accumulate_in_fp32(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    x = torch.randn(6, 48).to(dtype)
    w = torch.rand(48).to(dtype) + 0.5
    out = rms_norm(x, w, 1e-6)
    assert out.dtype == dtype
    assert torch.allclose(out.float(), reference.rms_norm(x, w, 1e-6).float(), atol=2e-2, rtol=2e-2)


def test_fp64_gradcheck() -> None:
    torch.manual_seed(2)
    x = torch.randn(3, 10, dtype=torch.float64, requires_grad=True)
    w = torch.rand(10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: rms_norm(a, b, 1e-6), (x, w), eps=1e-6, atol=1e-5)
