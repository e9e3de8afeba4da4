"""Two runs of the bundled crawl (the quickstart and Gopher recipes), a small shared training config and an
ablation of them to compare against: short enough for a test, with every step of a real one."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from ablate_factory import CONFIG, ablate_args
from eval_factory import TASK_ROWS
from rich.console import Console

from gristmill.cli import main
from pipeline.prepared import prepare_run
from pipeline.runner import execute

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


@pytest.fixture(scope="session")
def ablation_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/quickstart, runs/gopher, small.toml and task.jsonl."""
    folder = tmp_path_factory.mktemp("ablate")
    for recipe in ("quickstart", "gopher"):
        prepared = prepare_run(RECIPES / f"{recipe}.toml", output=folder / "runs" / recipe)
        assert execute(prepared, Console(file=io.StringIO())).complete
    (folder / "small.toml").write_text(CONFIG)
    (folder / "task.jsonl").write_text("".join(json.dumps(row) + "\n" for row in TASK_ROWS))
    return folder


@pytest.fixture(scope="session")
def reference(ablation_inputs: Path) -> Path:
    output = ablation_inputs / "reference"
    assert main(ablate_args(ablation_inputs, output)) == 0
    return output
