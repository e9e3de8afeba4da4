"""`gristmill train` on CPU: the loss falls, a resumed run continues exactly, and bad configs are one line."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from packed_factory import write_packed
from rich.console import Console

from gristmill.cli import main
from train.config import load_config
from train.loop import run_training

CONFIG = """
[model]
preset = "tiny"
kernels = "torch"
overrides = {{ d_model = 32, n_heads = 2, n_kv_heads = 1 }}

[data]
path = "{data}"
seq_len = 32
micro_batch = 4
global_batch = 8

[optim]
lr = 3e-3
warmup = 2

[run]
steps = 8
output = "{output}"
log_every = 4
eval_every = 4
checkpoint_every = 4
"""


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    pattern = [5, 6, 7, 8, 9]  # a learnable, repeated structure
    documents = [pattern * int(rng.integers(2, 8)) + list(rng.integers(10, 40, 3)) for _ in range(300)]
    write_packed(tmp_path / "packed", documents)
    return write_packed(tmp_path / "packed", documents[:60], parts=1, split="val")


def config_file(tmp_path: Path, packed: Path, output: str) -> Path:
    path = tmp_path / f"{output}.toml"
    path.write_text(CONFIG.format(data=packed, output=tmp_path / output))
    return path


def test_loss_falls_and_validation_is_logged(tmp_path: Path, packed: Path) -> None:
    config = load_config(config_file(tmp_path, packed, "a"), ["run.steps=40", "optim.lr=1e-2", "run.eval_every=20"])
    records = run_training(config, console=Console(file=io.StringIO()))
    assert [r["step"] for r in records] == list(range(1, 41))
    assert records[-1]["loss"] < records[0]["loss"] * 0.6
    assert records[-1]["val_loss"] < records[19]["val_loss"] < records[0]["loss"]
    assert "val_loss" not in records[2]
    assert (tmp_path / "a" / "latest").read_text().strip() == "step-000040"


def test_a_resumed_run_gives_the_losses_of_an_uninterrupted_one(tmp_path: Path, packed: Path) -> None:
    quiet = Console(file=io.StringIO())
    whole = run_training(load_config(config_file(tmp_path, packed, "whole")), console=quiet)
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(tmp_path / "whole" / "step-000004", resumed_dir / "step-000004")  # as if killed after step 4
    (resumed_dir / "latest").write_text("step-000004\n")
    rest = run_training(load_config(config_file(tmp_path, packed, "resumed")), resume=True, console=quiet)
    assert [r["step"] for r in rest] == [5, 6, 7, 8]
    for a, b in zip(whole[4:], rest, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["grad_norm"] == pytest.approx(
            b["grad_norm"], abs=1e-6
        )


def test_config_errors_are_one_line(tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config_file(tmp_path, packed, "c")
    cases = [
        ([str(path), "--set", "optim.learning_rate=1"], "optim.learning_rate: unknown key"),
        ([str(path), "--set", "data.path=/nonexistent"], "not a `gristmill pack` output"),
        ([str(path), "--set", "optim.lr=-1"], "optim.lr"),
        ([str(tmp_path / "missing.toml")], "config file not found"),
    ]
    for args, message in cases:
        assert main(["train", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]


@pytest.mark.slow
def test_two_gloo_processes_take_the_steps_of_one(tmp_path: Path, packed: Path) -> None:
    """At the same global batch, DDP over 2 CPU processes (torchrun, gloo) gives the losses of 1 process."""
    config = config_file(tmp_path, packed, "one")
    single = run_training(load_config(config, ["run.steps=5"]), console=Console(file=io.StringIO()))
    two = config_file(tmp_path, packed, "two")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "gristmill", "train", str(two), "--set", "run.steps=5", "--set", "data.micro_batch=4"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5]
    for a, b in zip(single, records, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5) and a["grad_norm"] == pytest.approx(
            b["grad_norm"], abs=1e-4
        )
