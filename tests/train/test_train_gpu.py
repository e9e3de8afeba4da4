"""On a CUDA GPU: the trainer with its defaults there (bf16 autocast, Triton kernels), eager and compiled, on
the packed test data; the loss falls and the two agree at the first step. Skipped without CUDA."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rich.console import Console

from train.config import load_config
from train.loop import run_training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_bf16_triton_training_on_gpu_eager_and_compiled(config_file: Callable[[str], Path]) -> None:
    options = ["run.steps=30", "optim.lr=1e-2", 'model.kernels="auto"']
    eager = run_training(load_config(config_file("eager"), options), console=Console(file=io.StringIO()))
    compiled = run_training(
        load_config(config_file("compiled"), [*options, "run.compile=true"]), console=Console(file=io.StringIO())
    )
    for records in (eager, compiled):
        assert records[-1]["loss"] < records[0]["loss"] * 0.6
    assert compiled[0]["loss"] == pytest.approx(eager[0]["loss"], rel=2e-2)
