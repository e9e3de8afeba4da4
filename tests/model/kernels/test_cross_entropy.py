"""Fused linear + cross-entropy (Triton, interpreted on CPU) against the reference: loss and gradients with
ignored targets, soft-cap and z-loss, chunking, and fp64 gradcheck."""

from __future__ import annotations

import pytest
import torch

from model.kernels import cross_entropy, reference
from model.kernels.cross_entropy import linear_cross_entropy


def both(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, **options: float) -> list:
    results = []
    for function in (linear_cross_entropy, reference.linear_cross_entropy):
        h, w = hidden.clone().requires_grad_(), weight.clone().requires_grad_()
        loss = function(h, w, targets, **options)
        (loss * 1.7).backward()  # a non-unit upstream gradient
        results.append((loss.detach(), h.grad, w.grad))
    return results


@pytest.mark.parametrize(
    ("tokens", "dim", "vocab", "options"),
    [
        (7, 16, 37, {}),
        (12, 24, 1500, {"softcap": 5.0}),
        (9, 8, 100, {"z_loss": 1e-3, "softcap": 2.0}),
    ],
)
def test_loss_and_gradients_match_the_reference(tokens: int, dim: int, vocab: int, options: dict) -> None:
    torch.manual_seed(0)
    hidden, weight = torch.randn(tokens, dim), torch.randn(vocab, dim) * 0.5
    targets = torch.randint(0, vocab, (tokens,))
    targets[1] = -100
    ours, expected = both(hidden, weight, targets, **options)
    for a, b in zip(ours, expected, strict=True):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)


def test_chunks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(1)
    hidden, weight = torch.randn(2, 5, 16), torch.randn(50, 16)
    targets = torch.randint(0, 50, (2, 5))
    whole = both(hidden, weight, targets)[0]
    monkeypatch.setattr(cross_entropy, "CHUNK_BYTES", 3 * 50 * 4)  # three tokens per chunk
    chunked = both(hidden, weight, targets)[0]
    for a, b in zip(whole, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_all_targets_ignored_gives_zero_loss_and_gradients() -> None:
    hidden, weight = torch.randn(4, 8), torch.randn(20, 8)
    loss, grad_h, grad_w = both(hidden, weight, torch.full((4,), -100))[0]
    assert loss.item() == 0.0 and not grad_h.any() and not grad_w.any()


def test_fp64_gradcheck() -> None:
    torch.manual_seed(2)
    hidden = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(11, 6, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([1, 3, -100, 10, 0])
    function = lambda h, w: linear_cross_entropy(h, w, targets, softcap=3.0, z_loss=1e-2)  # noqa: E731
    assert torch.autograd.gradcheck(function, (hidden, weight))


def test_bf16_inputs_give_bf16_gradients_close_to_the_reference() -> None:
    torch.manual_seed(3)
    hidden, weight = torch.randn(10, 32, dtype=torch.bfloat16), (torch.randn(300, 32) * 0.2).bfloat16()
    targets = torch.randint(0, 300, (10,))
    (loss, grad_h, grad_w), (ref_loss, ref_h, ref_w) = both(hidden, weight, targets)
    assert loss.dtype == torch.float32 and grad_h.dtype == grad_w.dtype == torch.bfloat16
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-3)
    assert torch.allclose(grad_h.float(), ref_h.float(), atol=2e-3, rtol=2e-2)
    assert torch.allclose(grad_w.float(), ref_w.float(), atol=2e-3, rtol=2e-2)


def test_autocast_casts_fp32_inputs_like_a_plain_matmul() -> None:
    """Under autocast the fp32 hidden states and weight are cast to bf16 for the matmuls; their gradients come
    back fp32 through the casts, and the loss matches the reference under the same autocast."""
    torch.manual_seed(4)
    hidden, weight = torch.randn(12, 16), torch.randn(70, 16) * 0.3
    targets = torch.randint(0, 70, (12,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (loss, grad_h, grad_w), (ref_loss, ref_h, ref_w) = both(hidden, weight, targets)
    assert loss.dtype == torch.float32 and grad_h.dtype == grad_w.dtype == torch.float32
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-3)
    assert torch.allclose(grad_h, ref_h, atol=3e-3, rtol=2e-2)
    assert torch.allclose(grad_w, ref_w, atol=3e-3, rtol=2e-2)
