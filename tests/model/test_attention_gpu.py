"""On a CUDA GPU: document-masked attention through compiled FlexAttention gives the masked-SDPA result, forward
and backward, and a packed window's logits are each document's alone. Skipped without CUDA (this project's
CPU torch has no FlexAttention backward; tests/model/test_attention.py compares the forwards there)."""

from __future__ import annotations

import pytest
import torch

from model.attention import DocumentAttention, document_positions
from model.config import GPTConfig
from model.gpt import GPT

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def documents_of(lengths: list[int], device: str = "cuda") -> torch.Tensor:
    return torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None].to(device)


@pytest.mark.parametrize("kv_heads", [8, 2])
def test_flex_equals_masked_sdpa_forward_and_backward(kv_heads: int) -> None:
    torch.manual_seed(0)
    documents = documents_of([100, 37, 250, 125]).expand(2, -1).contiguous()
    q = torch.randn(2, 8, 512, 64, device="cuda", requires_grad=True)
    k, v = (torch.randn(2, kv_heads, 512, 64, device="cuda", requires_grad=True) for _ in range(2))
    results = []
    for flex in (True, False):
        out = DocumentAttention(documents, flex=flex)(q, k, v)
        grads = torch.autograd.grad(out.square().sum(), (q, k, v))
        results.append((out, *grads))
    for flexed, dense in zip(*results, strict=True):
        torch.testing.assert_close(flexed, dense, atol=2e-4, rtol=2e-4)


def test_a_packed_window_on_gpu_equals_each_document_alone() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=512, seq_len=256, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2)).cuda()
    model.eval()
    lengths = [60, 130, 66]
    tokens = torch.randint(0, 512, (1, sum(lengths)), device="cuda")
    documents = documents_of(lengths)
    with torch.no_grad():
        packed = model(tokens, documents=documents, positions=document_positions(documents))
        start = 0
        for length in lengths:
            alone = model(tokens[:, start : start + length])
            torch.testing.assert_close(packed[:, start : start + length], alone, atol=1e-4, rtol=1e-4)
            start += length
