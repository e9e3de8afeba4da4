"""The trainer's options on CPU: Muon + AdamW, bf16 autocast, torch.compile, throughput / MFU / ETA figures,
TensorBoard and W&B sinks, and one clear line (exit 2) for each user error."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rich.console import Console

from gristmill.cli import main
from tokenizer import train_bpe
from train.config import load_config
from train.loop import run_training


def quiet() -> Console:
    return Console(file=io.StringIO())


def test_muon_trains_and_resumes_exactly(tmp_path: Path, config_file: Callable[[str], Path]) -> None:
    options = ["optim.name=muon", "optim.muon_lr=0.02"]
    whole = run_training(load_config(config_file("whole"), [*options, "run.steps=8"]), console=quiet())
    assert whole[-1]["loss"] < whole[0]["loss"] * 0.9
    optimizer = torch.load(tmp_path / "whole/step-000008/optimizer.pt", weights_only=True)
    assert "momentum_buffer" in optimizer["state"]["blocks.0.attention.q.weight"]  # Muon's state
    assert "exp_avg" in optimizer["state"]["embedding.weight"]  # AdamW's
    (tmp_path / "resumed").mkdir()
    shutil.copytree(tmp_path / "whole/step-000004", tmp_path / "resumed/step-000004")
    (tmp_path / "resumed/latest").write_text("step-000004\n")
    rest = run_training(load_config(config_file("resumed"), [*options, "run.steps=8"]), console=quiet())
    assert [r["step"] for r in rest] == [5, 6, 7, 8]
    for a, b in zip(whole[4:], rest, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6)


def test_bf16_autocast_trains_close_to_fp32(config_file: Callable[[str], Path]) -> None:
    fp32 = run_training(load_config(config_file("fp32"), ["run.steps=12"]), console=quiet())
    bf16 = run_training(load_config(config_file("bf16"), ["run.steps=12", "run.dtype=bf16"]), console=quiet())
    assert bf16[0]["loss"] == pytest.approx(fp32[0]["loss"], rel=1e-2)
    assert bf16[-1]["loss"] < bf16[0]["loss"] * 0.9
    assert bf16[-1]["loss"] == pytest.approx(fp32[-1]["loss"], rel=5e-2)


@pytest.mark.slow
def test_compiled_model_takes_the_eager_steps(config_file: Callable[[str], Path]) -> None:
    eager = run_training(load_config(config_file("eager"), ["run.steps=3"]), console=quiet())
    compiled = run_training(load_config(config_file("compiled"), ["run.steps=3", "run.compile=true"]), console=quiet())
    for a, b in zip(eager, compiled, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)


def test_throughput_mfu_eta_and_the_summary(config_file: Callable[[str], Path]) -> None:
    out = io.StringIO()
    config = load_config(config_file("t"), ["run.steps=6", "run.log_every=2", "run.peak_tflops=0.001"])
    records = run_training(config, console=Console(file=out, width=200))
    logged = [r for r in records if "tokens_per_s" in r]
    assert [r["step"] for r in logged] == [2, 4, 6]  # the first window starts after step 1 (warm-up)
    flops = 215_808  # GPTConfig.flops_per_token of this model, tested in tests/model
    for record in logged:
        assert record["mfu"] == pytest.approx(record["tokens_per_s"] * flops / 1e9)
        assert record["eta_s"] >= 0
    assert logged[-1]["eta_s"] == 0
    text = out.getvalue()
    assert "MFU" in text and "ETA" in text and "tok/s" in text
    assert "gristmill train" in text and "after the first step" in text and "step-000006" in text


def test_tensorboard_and_wandb_receive_the_metrics(
    tmp_path: Path, config_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("wandb")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    config = load_config(config_file("tb"), ["run.steps=4", 'run.report_to=["tensorboard", "wandb"]'])
    records = run_training(config, console=quiet())
    events = EventAccumulator(str(tmp_path / "tb/tensorboard"))
    events.Reload()
    losses = events.Scalars("loss")
    assert [e.step for e in losses] == [1, 2, 3, 4]
    assert [e.value for e in losses] == pytest.approx([r["loss"] for r in records])
    assert list((tmp_path / "tb/wandb").glob("offline-run-*/run-*.wandb"))


@pytest.fixture
def other_tokenizer(tmp_path: Path) -> Path:
    texts = tmp_path / "texts.txt"
    texts.write_text("the mill grinds the grain into flour, the flour into bread\n" * 50)
    train_bpe([texts], 280, ["<|endoftext|>"], workers=1).save(str(tmp_path / "tok"))  # the text gives 285
    return tmp_path / "tok"


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["train", *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_user_errors_are_one_line(
    tmp_path: Path, config_file: Callable[[str], Path], other_tokenizer: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(config_file("e"))
    assert "is not the tokenizer" in one_line_error([path, "--set", f'data.tokenizer="{other_tokenizer}"'], capsys)
    assert "is not a tokenizer" in one_line_error([path, "--set", f'data.tokenizer="{tmp_path}"'], capsys)
    assert "run.report_to" in one_line_error([path, "--set", 'run.report_to=["mlflow"]'], capsys)
    assert "optim.name" in one_line_error([path, "--set", "optim.name=sgd"], capsys)
    assert "run.dtype" in one_line_error([path, "--set", "run.dtype=fp8"], capsys)
    too_long = one_line_error([path, "--set", "run.steps=3", "--set", "optim.warmup=20"], capsys)
    assert "optim.warmup: 20 warmup steps in a run of run.steps = 3" in too_long


def test_resuming_a_damaged_or_foreign_checkpoint_is_one_line(
    tmp_path: Path, config_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(config_file("r"))
    assert main(["train", path, "--set", "run.steps=2"]) == 0
    capsys.readouterr()
    wider = one_line_error([path, "--resume", "--set", "model.overrides.d_model=64"], capsys)
    assert "trained with another model: d_model 32 != 64" in wider
    (tmp_path / "r/step-000002/model.safetensors").write_bytes(b"\x00" * 16)
    assert "model.safetensors: cannot be read" in one_line_error([path, "--resume"], capsys)
    (tmp_path / "r/step-000002/state.json").unlink()
    assert "state.json missing" in one_line_error([path, "--resume"], capsys)


def test_fsdp_with_one_process_runs_unsharded(config_file: Callable[[str], Path]) -> None:
    out = io.StringIO()
    records = run_training(
        load_config(config_file("f"), ["run.steps=2", "run.parallel=fsdp"]), console=Console(file=out)
    )
    assert [r["step"] for r in records] == [1, 2] and "nothing to shard" in out.getvalue()


def test_a_resumed_run_logs_each_step_once(tmp_path: Path, config_file: Callable[[str], Path]) -> None:
    path = config_file("m")
    run_training(load_config(path), console=quiet())  # 8 steps, checkpoints at 4 and 8
    shutil.rmtree(tmp_path / "m/step-000008")
    (tmp_path / "m/latest").write_text("step-000004\n")  # as if killed between step 4's checkpoint and step 8
    run_training(load_config(path), console=quiet())
    lines = (tmp_path / "m/metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 9))
