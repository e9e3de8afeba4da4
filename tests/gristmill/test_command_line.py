"""The command an interruption tells the user to type: as they typed it (a console script or torchrun by the name
PATH finds, `python -m` as given), `--restart` and its abbreviations left out, words quoted for a shell."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from gristmill.command_line import as_typed, typed_again


@pytest.fixture
def bin_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on PATH with a `python`, a `gristmill` and a `torchrun`."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in ("python", "gristmill", "torchrun"):
        (folder / name).write_text("#!/bin/sh\n")
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_a_script_on_path_is_named_as_typed(bin_folder: Path, tmp_path: Path) -> None:
    python = str(bin_folder / "python")
    assert as_typed([python, str(bin_folder / "gristmill"), "train", "a b.toml"]) == ["gristmill", "train", "a b.toml"]
    launched = [python, str(bin_folder / "torchrun"), "--nproc_per_node", "2", "-m", "gristmill", "train", "c.toml"]
    assert as_typed(launched) == ["torchrun", *launched[2:]]
    elsewhere = tmp_path / "gristmill"  # a copy PATH does not find: its path, through the interpreter
    elsewhere.write_text("#!/bin/sh\n")
    assert as_typed([python, str(elsewhere), "train"]) == ["python", str(elsewhere), "train"]
    assert as_typed(["python3", "-m", "gristmill", "train"]) == ["python3", "-m", "gristmill", "train"]
    assert as_typed(["/opt/py/bin/python", "-m", "gristmill"]) == ["/opt/py/bin/python", "-m", "gristmill"]


def test_restart_is_left_out_and_words_are_quoted(monkeypatch: pytest.MonkeyPatch, bin_folder: Path) -> None:
    typed = typed_again(["train", "my run.toml", "--restart", "--set", "run.steps=9"])
    assert shlex.split(typed) == ["gristmill", "train", "my run.toml", "--set", "run.steps=9"]
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "gristmill", "finetune", "sft", "c.toml", "--rest"])
    assert typed_again(None) == "python -m gristmill finetune sft c.toml"
    monkeypatch.setattr(sys, "orig_argv", ["python", "-m", "gristmill", "train", "c.toml", "--resume", "--res"])
    assert typed_again(None) == "python -m gristmill train c.toml --resume --res"  # not --restart's
