"""Running `gristmill finetune sft | dpo` again in a run's folder: after a kill -9 or a Ctrl-C the same command
(or the one the interrupt prints) continues to the weights and metrics of an uninterrupted run, and a rerun on
other data is refused with every byte of the folder kept."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest
from chat_factory import CONVERSATIONS, PREFERENCES, finetune_config
from interrupted_run import figures, hashes, run, said, start, stop, typed_command

from gristmill.cli import main

SETTINGS = {
    "run": {"steps": 9, "checkpoint_every": 3, "eval_every": 3, "log_every": 1, "keep_last": 5},
    "dpo": {"precompute_reference": True},
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "sig", "hold", "step", "checkpoint"),
    [
        pytest.param("sft", signal.SIGKILL, "metrics", 5, 3, id="sft-kill-9-between-checkpoints"),
        pytest.param("dpo", signal.SIGINT, "checkpoint", 6, 6, id="dpo-ctrl-c-right-after-a-checkpoint"),
        pytest.param("sft", signal.SIGINT, "metrics", 2, None, id="sft-ctrl-c-before-the-first-checkpoint"),
        pytest.param("dpo", signal.SIGKILL, "metrics", 4, 3, id="dpo-kill-9-between-checkpoints"),
    ],
)
def test_a_rerun_after_an_interruption_ends_as_an_uninterrupted_run(
    tmp_path: Path, base, kind: str, sig: signal.Signals, hold: str, step: int, checkpoint: int | None
) -> None:
    _, base_checkpoint = base
    data = CONVERSATIONS if kind == "sft" else PREFERENCES
    settings = SETTINGS if kind == "dpo" else {"run": SETTINGS["run"]}
    finetune_config(tmp_path, "whole", base_checkpoint, data, **settings)
    finetune_config(tmp_path, "run", base_checkpoint, data, **settings)
    whole = run([sys.executable, "-m", "gristmill", "finetune", kind, "whole.toml"], tmp_path)
    assert whole.returncode == 0, whole.stderr[-3000:]
    args = ["finetune", kind, "run.toml"]
    _, err = stop(start(args, hold, step, tmp_path / "held", tmp_path), tmp_path / "held", sig)
    output = tmp_path / "run"
    stopped = hashes(output)
    kept = {name: digest for name, digest in stopped.items() if name.startswith("step-")}
    if sig == signal.SIGINT:
        where = f"the last complete checkpoint is {output}/step-{checkpoint:06d}" if checkpoint else "no checkpoint yet"
        assert f"gristmill: interrupted after step {step} of 9; {where}" in err
        command = typed_command(err)
    else:
        command = [sys.executable, "-m", "gristmill", *args]

    again = run(command, tmp_path)

    assert again.returncode == 0, again.stderr[-3000:]
    if checkpoint:
        assert f"resuming {output}: step-{checkpoint:06d}" in said(again.stdout)
    else:  # the stopped attempt moved aside whole
        (moved,) = tmp_path.glob("run.replaced-*")
        assert f"{output} held {step} metrics lines but no checkpoint" in said(again.stdout)
        assert hashes(moved) == stopped
    assert figures(output) == figures(tmp_path / "whole")
    final = "step-000009/model.safetensors"
    assert (output / final).read_bytes() == (tmp_path / "whole" / final).read_bytes()
    assert {name: digest for name, digest in hashes(output).items() if name in kept} == kept


def test_a_rerun_on_other_data_is_refused_and_changes_nothing(tmp_path: Path, base, capsys) -> None:
    _, base_checkpoint = base
    data = tmp_path / "chat.jsonl"
    data.write_text(CONVERSATIONS.read_text())
    config = finetune_config(tmp_path, "run", base_checkpoint, data, run={"steps": 2, "checkpoint_every": 1})
    assert main(["finetune", "sft", str(config)]) == 0
    before = hashes(tmp_path / "run")
    data.write_text(CONVERSATIONS.read_text().replace("366", "365") + '{"messages": []}\n')  # another skip, too
    capsys.readouterr()
    assert main(["finetune", "sft", str(config)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "data_sha256" in error[0] and "--restart" in error[0], error
    assert hashes(tmp_path / "run") == before  # skipped.jsonl included
