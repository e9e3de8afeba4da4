"""Running `gristmill train` again in a run's folder: after a kill -9 or a Ctrl-C at any point the same command
(or the one the interrupt prints) continues the run to the weights and metrics of an uninterrupted one without
rewriting a checkpoint; a finished run is left alone, a run of another config is refused with every byte kept,
and --restart moves the old run aside whole."""

from __future__ import annotations

import json
import math
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from interrupted_run import await_marker, figures, go_on, hashes, metrics, run, said, start, stop, typed_command
from packed_factory import write_packed
from tiny_training import SECTIONS, write_learnable_packed

from gristmill.cli import main
from train.rerun import cut_metrics

CONFIG = (
    SECTIONS
    + """
[run]
steps = 9
output = "run"
log_every = 1
eval_every = 3
eval_sequences = 8
checkpoint_every = 3
keep_last = 5
"""
)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_learnable_packed(tmp_path_factory.mktemp("data") / "packed")


def config(folder: Path, packed: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "run.toml"
    path.write_text(CONFIG.format(data=packed))
    return path


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, packed: Path) -> Path:
    """The run folder of the command run once, to the end, in its own process."""
    folder = tmp_path_factory.mktemp("whole")
    config(folder, packed)
    done = run([sys.executable, "-m", "gristmill", "train", "run.toml"], folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "run"


def checkpoint_files(output: Path) -> dict[str, tuple[str, int, int]]:
    """Every file of every step folder: its sha256 and, to show it was not even rewritten, inode and mtime."""
    found = {}
    for name, digest in hashes(output).items():
        if name.startswith("step-"):
            stat = (output / name).stat()
            found[name] = (digest, stat.st_ino, stat.st_mtime_ns)
    return found


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sig", "hold", "step", "checkpoint"),
    [
        pytest.param(signal.SIGKILL, "metrics", 2, None, id="kill-9-before-the-first-checkpoint"),
        pytest.param(signal.SIGKILL, "metrics", 5, 3, id="kill-9-between-checkpoints-tensorboard"),
        pytest.param(signal.SIGKILL, "checkpoint", 6, 6, id="kill-9-right-after-a-checkpoint"),
        pytest.param(signal.SIGINT, "metrics", 1, None, id="ctrl-c-before-the-first-checkpoint"),
        pytest.param(signal.SIGINT, "metrics", 4, 3, id="ctrl-c-between-checkpoints"),
        pytest.param(signal.SIGINT, "checkpoint", 3, 3, id="ctrl-c-right-after-a-checkpoint"),
    ],
)
def test_a_rerun_after_an_interruption_ends_as_an_uninterrupted_run(
    tmp_path: Path, packed: Path, uninterrupted: Path, sig: signal.Signals, hold: str, step: int,
    checkpoint: int | None,
) -> None:  # fmt: skip
    config(tmp_path, packed)
    extra = ["--set", 'run.report_to=["tensorboard"]'] if (sig, step) == (signal.SIGKILL, 5) else []
    args = ["train", "run.toml", *extra]
    _, err = stop(start(args, hold, step, tmp_path / "held", tmp_path), tmp_path / "held", sig)
    output = tmp_path / "run"
    assert [r["step"] for r in metrics(output)] == list(range(1, step + 1))
    latest = f"step-{checkpoint:06d}" if checkpoint else None
    assert ((output / "latest").read_text().strip() if (output / "latest").exists() else None) == latest
    kept, stopped = checkpoint_files(output), hashes(output)
    if sig == signal.SIGINT:
        where = f"the last complete checkpoint is {output / latest}" if latest else "no checkpoint yet"
        assert f"gristmill: interrupted after step {step} of 9; {where}" in err
        command = typed_command(err)
        assert command[1:] == ["-m", "gristmill", *args] and Path(command[0]).name.startswith("python")
    else:
        command = [sys.executable, "-m", "gristmill", *args]

    again = run(command, tmp_path)

    assert again.returncode == 0, again.stderr[-3000:]
    if latest:
        cut = f"; metrics.jsonl cut to step {checkpoint} ({step - checkpoint} later lines dropped)"
        assert f"resuming {output}: {latest} of 9 steps{cut if step > checkpoint else ''}" in said(again.stdout)
    else:  # the stopped attempt, whole, beside the new run
        (moved,) = tmp_path.glob("run.replaced-*")
        assert hashes(moved) == stopped
        assert (f"{output} held {step} metrics lines but no checkpoint (stopped before its first): moved to {moved}; "
                "starting at step 1") in said(again.stdout)  # fmt: skip
    assert f"steps {(checkpoint or 0) + 1}..9" in said(again.stdout)
    assert figures(output) == figures(uninterrupted)  # each step once, in order, with the same figures
    final = "step-000009/model.safetensors"
    assert (output / final).read_bytes() == (uninterrupted / final).read_bytes()
    assert {name: found for name, found in checkpoint_files(output).items() if name in kept} == kept
    if extra:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        events = EventAccumulator(str(output / "tensorboard"))
        events.Reload()
        losses = events.Scalars("loss")
        assert [e.step for e in losses] == list(range(1, 10))
        assert [e.value for e in losses] == pytest.approx([r["loss"] for r in metrics(uninterrupted)])


@pytest.mark.slow
def test_a_finished_or_foreign_run_is_left_alone_and_restart_moves_it_aside(
    tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    assert main(["train", path]) == 0
    first = figures(output)
    whole = checkpoint_files(output) | {"metrics.jsonl": hashes(output)["metrics.jsonl"]}
    capsys.readouterr()

    assert main(["train", path]) == 0  # finished: nothing to do
    assert "holds a finished run (step-000009 of 9 steps): nothing to do" in said(capsys.readouterr().out)
    for refused, reason in [
        (["--set", "model.overrides.d_model=48"], "trained with another model: d_model 32 != 48"),
        (["--set", "run.steps=6"], "holds a run at step 9, past run.steps = 6"),
    ]:
        assert main(["train", path, *refused]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and reason in error[0] and "--restart" in error[0], error
        assert checkpoint_files(output) | {"metrics.jsonl": hashes(output)["metrics.jsonl"]} == whole

    assert main(["train", path, "--set", "run.steps=12"]) == 0  # a longer run continues, its schedule stretched
    grown = metrics(output)
    assert [r["step"] for r in grown] == list(range(1, 13)) and figures(output)[:9] == first
    floor, progress = 3e-3 * 0.1, (9 - 2) / (12 - 2)  # cosine from the peak to min_ratio x peak after warmup
    assert grown[9]["lr"] == pytest.approx(floor + (3e-3 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
    assert "run.steps 9 -> 12" in said(capsys.readouterr().out)
    before = hashes(output)

    assert main(["train", path, "--restart"]) == 0
    (moved,) = tmp_path.glob("run.replaced-*")
    assert hashes(moved) == before  # the old run, whole, beside the new one
    assert f"--restart: the earlier run is now {moved}" in said(capsys.readouterr().out)
    assert figures(output) == first


def test_metrics_are_cut_to_the_checkpoint_a_run_resumes_from(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in range(1, 8)) + '{"step": 8, "lo')
    assert cut_metrics(path, 5) == 3  # steps 6 and 7, and the line a kill tore
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3, 4, 5]
    assert cut_metrics(path, 5) == 0 and cut_metrics(tmp_path / "none.jsonl", 5) == 0


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.slow
def test_a_run_in_progress_is_neither_continued_nor_moved_by_a_second_command(tmp_path: Path, packed: Path) -> None:
    config(tmp_path, packed)
    marker, output = tmp_path / "held", tmp_path / "run"
    first = start(["train", "run.toml"], "metrics", 2, marker, tmp_path)
    try:
        await_marker(first, marker)
        before = hashes(output)
        for extra in ([], ["--restart"]):
            again = run([sys.executable, "-m", "gristmill", "train", "run.toml", *extra], tmp_path)
            error = again.stderr.strip().splitlines()
            assert again.returncode == 2 and len(error) == 1, again.stderr[-3000:]
            assert f"{output} is in use by another gristmill train (pid {first.pid}: " in error[0]
            assert hashes(output) == before and not list(tmp_path.glob("run.replaced-*"))
    finally:
        first.kill()
        first.wait()


def test_step_folders_without_a_usable_latest_are_refused_not_trained_over(
    tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    assert main(["train", path, "--set", "run.steps=6"]) == 0  # checkpoints 3 and 6; run.steps 9 would continue
    (output / "latest").unlink()
    for latest, why in [(None, "`latest` is missing"), ("step-000009", "`latest` names step-000009, not there")]:
        if latest:
            (output / "latest").write_text(latest + "\n")
        before = hashes(output)
        error = one_line_error(["train", path], capsys)
        assert f"{why}; it holds step-000003, step-000006" in error and "--restart" in error, error
        assert hashes(output) == before


def test_a_rerun_that_cannot_restore_its_checkpoint_keeps_every_metrics_line(
    tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    assert main(["train", path, "--set", "run.steps=4"]) == 0  # checkpoints 3 and 4
    shutil.rmtree(output / "step-000004")
    (output / "latest").write_text("step-000003\n")  # as if killed before step 4's checkpoint: line 4 unbacked
    state, optimizer = output / "step-000003/state.json", output / "step-000003/optimizer.pt"
    whole = {file: file.read_bytes() for file in (state, optimizer)}
    without_position = json.dumps({k: v for k, v in json.loads(whole[state]).items() if k != "data"})
    for args, damage, message in [
        (["--set", "run.seed=1"], None, "data position of seed 0 and world size 1"),
        ([], (state, without_position.encode()), "state.json has no data position"),
        ([], (optimizer, b"\x00" * 64), "optimizer.pt: cannot be loaded"),
    ]:
        if damage:
            damage[0].write_bytes(damage[1])
        before = hashes(output)
        assert main(["train", path, *args]) == 2
        assert hashes(output) == before  # metrics.jsonl still holds step 4
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0] and "--restart" in error[0], error
        for file, content in whole.items():
            file.write_bytes(content)
    assert main(["train", path, "--set", "run.steps=4"]) == 0  # the undamaged run continues
    assert "metrics.jsonl cut to step 3 (1 later lines dropped)" in said(capsys.readouterr().out)


def test_a_rerun_on_other_packed_data_is_refused_and_on_a_copy_of_it_continues(
    tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    assert main(["train", path, "--set", "run.steps=3"]) == 0
    before = hashes(output)
    rng = np.random.default_rng(1)  # made with the same tokenizer: only the documents differ
    documents = [[5, 6, 7, 8, 9] * int(rng.integers(2, 8)) + list(rng.integers(10, 40, 3)) for _ in range(300)]
    other = write_packed(write_packed(tmp_path / "other", documents), documents[:60], parts=1, split="val")
    error = one_line_error(["train", path, "--set", f'data.path="{other}"'], capsys)
    assert "holds a run of another config (data: another pack, manifest sha256 " in error and "--restart" in error
    assert hashes(output) == before
    copy = shutil.copytree(packed, tmp_path / "moved" / "packed")  # the same pack elsewhere: the same data
    assert main(["train", path, "--set", f'data.path="{copy}"']) == 0
    assert [r["step"] for r in metrics(output)] == list(range(1, 10))


def test_a_checkpoint_from_before_the_pack_was_recorded_still_resumes(
    tmp_path: Path, packed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    assert main(["train", path, "--set", "run.steps=3"]) == 0
    written = output / (output / "latest").read_text().strip() / "config.json"
    older = json.loads(written.read_text())
    del older["packed_sha256"]  # as gristmill wrote it before this key
    written.write_text(json.dumps(older))
    assert main(["train", path, "--set", "run.steps=4"]) == 0
    assert "resuming" in said(capsys.readouterr().out)
    assert [r["step"] for r in metrics(output)] == [1, 2, 3, 4]


def test_restart_refuses_to_move_away_the_data_it_reads(tmp_path: Path, packed: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path, output = str(config(tmp_path, packed)), tmp_path / "run"
    inside = shutil.copytree(packed, output / "packed")
    assert main(["train", path, "--set", f'data.path="{inside}"', "--set", "run.steps=2"]) == 0
    before = hashes(output)
    error = one_line_error(["train", path, "--set", f'data.path="{inside}"', "--restart"], capsys)
    assert f"--restart would move {output} aside, and data.path {inside} lies inside it" in error, error
    assert hashes(output) == before and not list(tmp_path.glob("run.replaced-*"))


@pytest.mark.slow
def test_a_second_ctrl_c_while_stopping_changes_nothing(tmp_path: Path, packed: Path) -> None:
    config(tmp_path, packed)
    marker = tmp_path / "held"
    process = start(["train", "run.toml"], "stopping", 4, marker, tmp_path)
    try:
        for point in (marker, marker.with_name("held.closing"), marker.with_name("held.typing")):
            await_marker(process, point)  # held after step 4, then closing the metrics, then wording the command
            process.send_signal(signal.SIGINT)
            if point != marker:
                go_on(point)
        process.wait(timeout=600)
    finally:
        process.kill()
    err = marker.with_suffix(".err").read_text()
    assert process.returncode == 130, err[-3000:]
    checkpoint = tmp_path / "run" / "step-000003"
    assert f"gristmill: interrupted after step 4 of 9; the last complete checkpoint is {checkpoint}" in err
    assert typed_command(err)[1:] == ["-m", "gristmill", "train", "run.toml"]
