"""On a CUDA GPU: document-masked attention through compiled FlexAttention and through masked SDPA, forward and the
gradients of q, k and v, in fp32 and bf16, against attention written out here in fp64 (the mask built from the
document lengths: causal, within a document); and a packed window's logits and parameter gradients are each
document's alone. Skipped without CUDA (this project's CPU torch has no FlexAttention backward;
tests/model/test_attention.py compares the forwards there)."""

from __future__ import annotations

import math

import pytest
import torch

from model.attention import DocumentAttention, document_positions
from model.config import GPTConfig
from model.gpt import GPT

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
LENGTHS = [100, 37, 250, 125]
# relative error (over the whole tensor) against fp64: fp32 kernels are ~1e-6 off, bf16 ones ~1e-2 at most; a wrong
# mask (a token seeing the next document or a later position) is tens of per cent off
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 5e-2}


def documents_of(lengths: list[int], device: str = "cuda") -> torch.Tensor:
    return torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])[None].to(device)


def written_out(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + mask) v, query head h reading key / value head h // (heads / kv_heads)."""
    document = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths)).to(q.device)
    position = torch.arange(document.numel(), device=q.device)
    allowed = (position[:, None] >= position[None, :]) & (document[:, None] == document[None, :])
    group = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


def output_and_gradients(attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, upstream: torch.Tensor):
    leaves = [x.detach().clone().requires_grad_() for x in (q, k, v)]
    out = attention(*leaves)
    out.backward(upstream.to(out.dtype))
    return [out.detach(), *(leaf.grad for leaf in leaves)]


def relative_error(value: torch.Tensor, exact: torch.Tensor) -> float:
    return float((value.double() - exact).norm() / exact.norm())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("kv_heads", [8, 2])
def test_flex_and_masked_sdpa_equal_attention_written_out(kv_heads: int, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    documents = documents_of(LENGTHS).expand(2, -1).contiguous()
    q = torch.randn(2, 8, 512, 64, device="cuda")
    k, v = torch.randn(2, kv_heads, 512, 64, device="cuda"), torch.randn(2, kv_heads, 512, 64, device="cuda")
    upstream = torch.randn(2, 8, 512, 64, device="cuda")
    inputs = [x.to(dtype) for x in (q, k, v)]  # the exact result is of these very values
    exact = output_and_gradients(lambda a, b, c: written_out(a, b, c, LENGTHS), *(x.double() for x in inputs),
                                 upstream.double())  # fmt: skip
    results = {}
    for flex in (True, False):
        results[flex] = output_and_gradients(DocumentAttention(documents, flex=flex), *inputs, upstream)
        for name, value, expected in zip(["out", "grad q", "grad k", "grad v"], results[flex], exact, strict=True):
            assert value.dtype == dtype, name
            error = relative_error(value, expected)
            assert error < TOLERANCE[dtype], f"{'flex' if flex else 'sdpa'} {name}: relative error {error:.2e}"
    if dtype == torch.float32:
        for flexed, dense in zip(results[True], results[False], strict=True):
            torch.testing.assert_close(flexed, dense, atol=2e-4, rtol=2e-4)


def test_a_packed_window_on_gpu_equals_each_document_alone_forward_and_backward() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=512, seq_len=256, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2)).cuda()
    model.eval()
    lengths = [60, 130, 66]
    tokens = torch.randint(0, 512, (1, sum(lengths)), device="cuda")
    upstream = torch.randn(1, sum(lengths), 512, device="cuda")
    documents = documents_of(lengths)
    packed = model(tokens, documents=documents, positions=document_positions(documents))
    (packed * upstream).sum().backward()
    packed_gradients = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    start = 0
    for length in lengths:
        alone = model(tokens[:, start : start + length])
        torch.testing.assert_close(packed[:, start : start + length], alone, atol=1e-4, rtol=1e-4)
        (alone * upstream[:, start : start + length]).sum().backward()  # gradients add up over the documents
        start += length
    for (name, parameter), packed_gradient in zip(model.named_parameters(), packed_gradients, strict=True):
        error = (packed_gradient - parameter.grad).norm() / parameter.grad.norm()
        assert error < 1e-4, f"{name}: relative error {error:.2e}"
