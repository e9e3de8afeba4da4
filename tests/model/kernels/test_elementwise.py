"""Fused SwiGLU, ReLU^2 and RoPE (Triton, interpreted on CPU) against the reference, forward and backward."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from model.gpt import rope_tables
from model.kernels import reference
from model.kernels.activations import relu2, swiglu
from model.kernels.rope import rope_qk


def grads(function: Callable, *inputs: torch.Tensor, upstream: list[torch.Tensor]) -> tuple[list, list]:
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = function(*leaves)
    outs = out if isinstance(out, tuple) else (out,)
    torch.autograd.backward(outs, upstream)
    return [o.detach() for o in outs], [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("shape", [(7,), (3, 5, 33), (2, 1500)])
def test_swiglu_and_relu2_match_the_reference(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    gate, up, d = torch.randn(shape), torch.randn(shape), torch.randn(shape)
    ours = grads(swiglu, gate, up, upstream=[d])
    expected = grads(reference.swiglu, gate, up, upstream=[d])
    for a, b in zip(ours[0] + ours[1], expected[0] + expected[1], strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
    ours = grads(relu2, gate, upstream=[d])
    expected = grads(reference.relu2, gate, upstream=[d])
    for a, b in zip(ours[0] + ours[1], expected[0] + expected[1], strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("function", [swiglu, reference.swiglu], ids=["triton", "reference"])
def test_swiglu_is_silu_of_its_first_argument_times_its_second(function: Callable) -> None:
    """Against the formula written out here: the kernel and the reference could agree on swapped arguments."""
    torch.manual_seed(4)
    gate, up = torch.randn(3, 50, dtype=torch.float64), torch.randn(3, 50, dtype=torch.float64) + 1.0
    expected = gate / (1 + torch.exp(-gate)) * up
    assert torch.allclose(function(gate, up), expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(function(up, gate), expected, atol=1e-2)  # these inputs tell the arguments apart


@pytest.mark.parametrize(("heads", "kv_heads", "seq", "head_dim"), [(4, 4, 9, 16), (4, 2, 5, 12), (3, 1, 17, 6)])
def test_rope_on_q_and_k_matches_the_reference(heads: int, kv_heads: int, seq: int, head_dim: int) -> None:
    torch.manual_seed(1)
    cos, sin = rope_tables(seq, head_dim, 10_000.0)
    q, k = torch.randn(2, heads, seq, head_dim), torch.randn(2, kv_heads, seq, head_dim)
    dq, dk = torch.randn_like(q), torch.randn_like(k)
    ours = grads(lambda a, b: rope_qk(a, b, cos, sin), q, k, upstream=[dq, dk])
    expected = grads(lambda a, b: (reference.rope(a, cos, sin), reference.rope(b, cos, sin)), q, k, upstream=[dq, dk])
    for a, b in zip(ours[0] + ours[1], expected[0] + expected[1], strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_fp64_gradchecks() -> None:
    torch.manual_seed(2)
    gate = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    up = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(swiglu, (gate, up))
    assert torch.autograd.gradcheck(relu2, (gate + 0.05,))  # away from the kink at 0
    cos, sin = (t.double() for t in rope_tables(3, 4, 10_000.0))
    q = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 1, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: rope_qk(a, b, cos, sin), (q, k))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision(dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    gate, up = torch.randn(5, 40).to(dtype), torch.randn(5, 40).to(dtype)
    out = swiglu(gate, up)
    assert out.dtype == dtype
    assert torch.allclose(out.float(), reference.swiglu(gate, up).float(), atol=2e-2, rtol=2e-2)
