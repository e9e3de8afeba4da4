"""`gristmill train` on CPU: the loss falls, a resumed run continues exactly, and bad configs are one line."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console

from gristmill.cli import main
from train.config import TrainConfig, load_config
from train.loop import run_training


def test_loss_falls_and_validation_is_logged(tmp_path: Path, config_file: Callable[[str], Path]) -> None:
    config = load_config(config_file("a"), ["run.steps=40", "optim.lr=1e-2", "run.eval_every=20"])
    records = run_training(config, console=Console(file=io.StringIO()))
    assert [r["step"] for r in records] == list(range(1, 41))
    assert records[-1]["loss"] < records[0]["loss"] * 0.6
    assert records[-1]["val_loss"] < records[19]["val_loss"] < records[0]["loss"]
    assert "val_loss" not in records[2]
    assert (tmp_path / "a" / "latest").read_text().strip() == "step-000040"


def test_a_resumed_run_gives_the_losses_of_an_uninterrupted_one(
    tmp_path: Path, config_file: Callable[[str], Path]
) -> None:
    quiet = Console(file=io.StringIO())
    whole = run_training(load_config(config_file("whole")), console=quiet)
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(tmp_path / "whole" / "step-000004", resumed_dir / "step-000004")  # as if killed after step 4
    (resumed_dir / "latest").write_text("step-000004\n")
    rest = run_training(load_config(config_file("resumed")), console=quiet)
    assert [r["step"] for r in rest] == [5, 6, 7, 8]
    for a, b in zip(whole[4:], rest, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-6) and a["grad_norm"] == pytest.approx(
            b["grad_norm"], abs=1e-6
        )


def test_config_errors_are_one_line(
    tmp_path: Path, config_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file("c")
    cases = [
        ([str(path), "--set", "optim.learning_rate=1"], "optim.learning_rate: unknown key"),
        ([str(path), "--set", "data.path=/nonexistent"], "not a `gristmill pack` output"),
        ([str(path), "--set", "optim.lr=-1"], "optim.lr"),
        ([str(tmp_path / "missing.toml")], "config file not found"),
        ([str(path), "--set", "data.document_positions=true"], "needs data.document_mask = true"),
    ]
    for args, message in cases:
        assert main(["train", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]


def test_the_docs_list_every_key_with_its_default(tmp_path: Path, packed: Path) -> None:
    """docs/training.md's "Every key, with its default" block loads as a config, and names every field."""
    readme = (Path(__file__).parents[2] / "docs" / "training.md").read_text()
    block = readme.split("Every key, with its default:\n\n```toml\n", 1)[1].split("```", 1)[0]
    listed = set(re.findall(r"^#? ?(\w+) = ", block, flags=re.MULTILINE))
    expected = {name for section in TrainConfig.model_fields.values() for name in section.annotation.model_fields}
    assert listed == expected
    path = tmp_path / "readme.toml"
    path.write_text(block.replace('path = "packed/"', f'path = "{packed}"'))
    config = load_config(path)
    defaults = TrainConfig.model_validate({"data": {"path": str(packed)}})
    assert config.model_dump(exclude={"data": {"path"}, "run": {"output"}}) == defaults.model_dump(
        exclude={"data": {"path"}, "run": {"output"}}
    )
