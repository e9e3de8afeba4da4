"""A rerun under torchrun (FSDP2 over 2 gloo processes): Ctrl-C prints the torchrun command to type, which
continues the run to the metrics and weights of an uninterrupted one; a rerun of another config is refused on
every rank without hanging or changing a byte; --restart moves the run aside once. And ranks that disagree about
the folder, or fail reading it, all refuse with the same line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from interrupted_run import ENV, await_marker, figures, hashes, torchrun_holding, typed_command

pytestmark = pytest.mark.slow
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
OPTIONS = ["--set", "run.steps=9", "--set", "run.checkpoint_every=3", "--set", "run.eval_every=3", "--set",
           "run.parallel=fsdp", "--set", "data.micro_batch=2", "--set", "run.log_every=1"]  # fmt: skip


def torchrun(folder: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    command = [*TORCHRUN, "-m", "gristmill", "train", f"{name}.toml", *OPTIONS, *extra]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=600, env=ENV)


def test_two_ranks_continue_refuse_and_restart_as_one(tmp_path: Path, config_file) -> None:
    config_file("whole"), config_file("run")
    whole = torchrun(tmp_path, "whole")
    assert whole.returncode == 0, whole.stderr[-3000:]
    output = tmp_path / "run"
    command = [*TORCHRUN, "-m", "gristmill", "train", "run.toml", *OPTIONS]
    marker = tmp_path / "held"  # every worker holds after step 4's metrics
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               env=torchrun_holding("metrics", 4, marker, tmp_path / "site"))  # fmt: skip
    await_marker(process, marker.with_name("held.rank0"), marker.with_name("held.rank1"))
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends torchrun; it passes the signal on to the workers
    _, err = process.communicate(timeout=300)
    assert f"interrupted after step 4 of 9; the last complete checkpoint is {output / 'step-000003'}" in err
    typed = typed_command(err)
    assert typed[typed.index("-m") + 1 :] == ["torch.distributed.run", *TORCHRUN[3:], "-m", "gristmill", "train",
                                             "run.toml", *OPTIONS]  # fmt: skip
    assert err.count("to continue, type: ") == 1  # rank 0 alone says it

    again = subprocess.run(typed, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=ENV)

    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("resuming ") == 1
    assert figures(output) == figures(tmp_path / "whole")
    final = "step-000009/model.safetensors"
    assert (output / final).read_bytes() == (tmp_path / "whole" / final).read_bytes()
    before = hashes(output)

    refused = torchrun(tmp_path, "run", "--set", "model.overrides.d_model=48")
    assert refused.returncode != 0 and "trained with another model: d_model 32 != 48" in refused.stderr
    assert hashes(output) == before

    restarted = torchrun(tmp_path, "run", "--restart")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    (moved,) = tmp_path.glob("run.replaced-*")
    assert hashes(moved) == before and figures(output) == figures(tmp_path / "whole")


@pytest.mark.parametrize("scenario", ["steps", "unreadable"])
def test_ranks_that_see_different_folders_all_refuse_and_none_hangs(tmp_path: Path, scenario: str) -> None:
    """Three ranks, so that one rank's step can be the mean of the others'; one rank failing unexpectedly."""
    command = [*TORCHRUN[:-1], "3", str(Path(__file__).with_name("deciding_ranks.py")), scenario, str(tmp_path)]
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        output, _ = process.communicate(timeout=300)  # a rank blocked in a collective would never end
    finally:
        with contextlib.suppress(ProcessLookupError):  # the workers too, had one blocked
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    said = [(tmp_path / f"rank{rank}.txt").read_text() for rank in range(3)]
    assert process.returncode == 0, output[-3000:]
    if scenario == "steps":
        assert all(text.startswith("refused: ") and "the ranks see different checkpoints" in text for text in said)
    else:
        assert said[0] == said[1] == said[2], said
        assert said[0].startswith(f"refused: run.output {tmp_path / 'rank1'}: ") and "UnicodeDecodeError" in said[0]
