"""Data parallelism on CPU under torchrun with gloo: DDP and FSDP2 over 2 processes take the steps of 1 process
at the same global batch, and an FSDP run resumes exactly from its own (whole-tensor) checkpoint."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file

from train.config import load_config
from train.loop import run_training

pytestmark = pytest.mark.slow


def torchrun(config: Path, *overrides: str, resume: bool = False) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "gristmill", "train", str(config), *(f"--set={o}" for o in overrides)]  # fmt: skip
    result = subprocess.run([*command, "--resume"] if resume else command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def assert_same_steps(expected: list[dict], actual: list[dict]) -> None:
    assert [r["step"] for r in actual] == [r["step"] for r in expected]
    for a, b in zip(expected, actual, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], abs=1e-4)
        assert a.get("val_loss", 0) == pytest.approx(b.get("val_loss", 0), abs=1e-5)


def test_two_gloo_processes_take_the_steps_of_one(tmp_path: Path, config_file: Callable[[str], Path]) -> None:
    single = run_training(load_config(config_file("one"), ["run.steps=5"]), console=Console(file=io.StringIO()))
    torchrun(config_file("two"), "run.steps=5", "data.micro_batch=2")  # 2 accumulated micro-batches per rank
    assert_same_steps(single, metrics(tmp_path / "two"))


def test_fsdp_takes_the_steps_of_one_process_and_resumes_exactly(
    tmp_path: Path, config_file: Callable[[str], Path]
) -> None:
    """FSDP2 over 2 gloo processes: the losses and final weights of the unsharded single process; a copy of
    its step-3 checkpoint resumed under FSDP continues with the same steps."""
    options = ["run.steps=6", "run.checkpoint_every=3", "run.eval_every=3", "run.eval_sequences=12"]
    single = run_training(load_config(config_file("one"), options), console=Console(file=io.StringIO()))
    torchrun(config_file("fsdp"), *options, "run.parallel=fsdp", "data.micro_batch=2")
    assert_same_steps(single, metrics(tmp_path / "fsdp"))
    whole, sharded = (
        load_file(tmp_path / "one/step-000006/model.safetensors"),
        load_file(tmp_path / "fsdp/step-000006/model.safetensors"),
    )
    assert whole.keys() == sharded.keys()
    assert all(torch.allclose(whole[k], sharded[k], atol=1e-5) for k in whole)

    (tmp_path / "resumed").mkdir()
    shutil.copytree(tmp_path / "fsdp/step-000003", tmp_path / "resumed/step-000003")
    (tmp_path / "resumed/latest").write_text("step-000003\n")
    torchrun(config_file("resumed"), *options, "run.parallel=fsdp", "data.micro_batch=2", resume=True)
    assert_same_steps(single[3:], metrics(tmp_path / "resumed"))
