"""The tiny model with Triton kernels (interpreted on CPU) against the same model on the PyTorch reference."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from model.config import PRESETS
from model.gpt import GPT
from model.kernels import kernels_for


def train(kernels: str, steps: int) -> list[float]:
    torch.manual_seed(0)
    config = dataclasses.replace(PRESETS["tiny"], seq_len=16, kernels=kernels)
    model = GPT(config)
    assert model.ops.name == kernels
    tokens = torch.randint(0, config.vocab_size, (2, 17), generator=torch.Generator().manual_seed(1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = model(tokens[:, :-1], tokens[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def test_triton_and_torch_kernels_train_the_same_model() -> None:
    reference, fused = train("torch", 6), train("triton", 6)
    assert fused[0] == pytest.approx(reference[0], abs=1e-5)  # the same loss at step 0
    assert fused == pytest.approx(reference, abs=1e-3)  # and close after
    assert fused[-1] < fused[0]


def test_auto_is_the_reference_without_cuda_and_triton_is_explicit() -> None:
    if not torch.cuda.is_available():
        assert kernels_for("auto").name == "torch"
    assert kernels_for("triton").name == "triton"  # the interpreter is on for these tests


@pytest.mark.slow
@pytest.mark.parametrize("kernels", ["triton", "triton-ce"])
def test_a_compiled_model_calls_the_triton_kernels_as_they_are(kernels: str) -> None:
    """torch.compile leaves the Triton functions alone (they are hidden from dynamo), so a compiled model with
    them gives the eager model's loss and gradients (here with the kernels interpreted on CPU)."""
    torch.manual_seed(0)
    model = GPT(dataclasses.replace(PRESETS["tiny"], seq_len=16, kernels=kernels))
    tokens = torch.randint(0, 512, (2, 17), generator=torch.Generator().manual_seed(1))
    eager = model(tokens[:, :-1], tokens[:, 1:])
    eager.backward()
    expected = model.embedding.weight.grad.clone()
    model.zero_grad()
    compiled = torch.compile(model)(tokens[:, :-1], tokens[:, 1:])
    compiled.backward()
    assert compiled.item() == pytest.approx(eager.item(), abs=1e-5)
    assert torch.allclose(model.embedding.weight.grad, expected, atol=1e-5)
