"""On a CUDA GPU: every kernel in bf16 at model-sized shapes against the reference (skipped without CUDA)."""

from __future__ import annotations

import pytest
import torch

from model.gpt import rope_tables
from model.kernels import reference
from model.kernels.activations import swiglu
from model.kernels.cross_entropy import linear_cross_entropy
from model.kernels.rmsnorm import rms_norm
from model.kernels.rope import rope_qk

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a.float(), b.float(), atol=3e-2, rtol=3e-2)


def test_bf16_kernels_match_the_reference_on_gpu() -> None:
    torch.manual_seed(0)
    x = torch.randn(4096, 1536, device="cuda", dtype=torch.bfloat16)
    w = torch.rand(1536, device="cuda", dtype=torch.bfloat16) + 0.5
    assert close(rms_norm(x, w, 1e-6), reference.rms_norm(x, w, 1e-6))
    assert close(swiglu(x, x), reference.swiglu(x, x))
    cos, sin = (t.cuda() for t in rope_tables(512, 64, 10_000.0))
    q, k = (
        torch.randn(2, 8, 512, 64, device="cuda", dtype=torch.bfloat16),
        torch.randn(2, 2, 512, 64, device="cuda", dtype=torch.bfloat16),
    )
    q2, k2 = rope_qk(q, k, cos, sin)
    assert close(q2, reference.rope(q, cos, sin)) and close(k2, reference.rope(k, cos, sin))
    hidden, weight = torch.randn(2048, 512, device="cuda"), torch.randn(50000, 512, device="cuda") * 0.05
    targets = torch.randint(0, 50000, (2048,), device="cuda")
    assert torch.allclose(
        linear_cross_entropy(hidden, weight, targets),
        reference.linear_cross_entropy(hidden, weight, targets),
        rtol=1e-4,
    )
