"""On a CUDA GPU: the trainer with its defaults there (bf16 autocast, Triton kernels), eager and compiled, on the
packed test data, against the same run on the PyTorch reference kernels: the start line says which device and
kernels each run had, the first loss of the random model is ln(vocab), the first steps' losses agree with the
reference run's and the loss falls in each. Skipped without CUDA."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rich.console import Console

from train.config import load_config
from train.loop import run_training

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
VOCAB = 100  # the packed test data's (packed_factory)


def train(config_file: Callable[[str], Path], name: str, options: list[str]) -> tuple[list[float], str]:
    """Each step's loss and what the run printed."""
    out = io.StringIO()
    records = run_training(load_config(config_file(name), ["run.steps=30", "optim.lr=1e-2", *options]),
                           console=Console(file=out, width=300))  # fmt: skip
    return [r["loss"] for r in records], out.getvalue()


def test_bf16_triton_training_on_gpu_eager_and_compiled_follows_the_reference_kernels(
    config_file: Callable[[str], Path],
) -> None:
    runs = {
        "triton": train(config_file, "eager", ['model.kernels="auto"']),
        "triton-ce": train(config_file, "compiled", ['model.kernels="auto"', "run.compile=true"]),
        "torch": train(config_file, "reference", ['model.kernels="torch"']),
    }
    reference = runs["torch"][0]
    assert reference[0] == pytest.approx(math.log(VOCAB), abs=0.05)  # a random model is unsure of every token
    for kernels, (losses, printed) in runs.items():
        assert "on 1 x cuda" in printed and f"kernels {kernels}," in printed, printed  # auto: Triton on CUDA
        assert losses[-1] < losses[0] * 0.6, kernels
        assert losses[:5] == pytest.approx(reference[:5], rel=2e-2), kernels  # bf16 on both sides
