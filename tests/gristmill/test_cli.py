"""The `gristmill` command as a user runs it: help, one-line errors with exit status 2, the quickstart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def gristmill(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gristmill", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"]])
def test_help(args: list[str]):
    result = gristmill(*args)
    assert result.returncode == 0
    assert "usage: gristmill" in result.stdout


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        (
            '[[stage]]\nkind = "ingest"\ninputs = ["x"]\nextractor = "lxml"\n',
            "stage[0].extractor: expected 'resiliparse' or 'trafilatura', got 'lxml'",
        ),
        ('[[stage]]\nkind = "ingest"\ninputs = ["x"]\nworkers = 3\n', "stage[0].workers: unknown key"),
        ('[executor]\nworkers = "two"\n[[stage]]\nkind = "ingest"\n', "executor.workers: expected a valid integer"),
        ('[[stage]]\nkind = "ingest"\ninputs = ["missing.warc.gz"]\n', "missing.warc.gz: no such file or folder"),
        ('[[stage]]\nkind = "ingest"\n', "no inputs"),
        ("[[stage]\n", "not valid TOML"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path: Path, recipe: str, expected: str):
    path = tmp_path / "bad.toml"
    path.write_text(recipe)
    result = gristmill("run", str(path), "--output", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"gristmill: error: {path}: ")
    assert expected in lines[0]
    assert not (tmp_path / "run").exists()


def test_bad_cli_values_exit_2(tmp_path: Path):
    result = gristmill("run", str(REPO / "recipes" / "quickstart.toml"), "--workers", "0", "--output", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == "gristmill: error: --workers: expected a number >= 1, got 0"


def test_quickstart_as_in_the_readme(tmp_path: Path):
    result = gristmill("run", str(REPO / "recipes" / "quickstart.toml"), "--output", str(tmp_path / "qs"))
    assert result.returncode == 0, result.stderr
    assert "documents in 1 shard" in result.stdout
    manifest = json.loads((tmp_path / "qs" / "shards" / "manifest.json").read_text())
    assert manifest["documents"] > 200
    summary = json.loads((tmp_path / "qs" / "stats" / "summary.json").read_text())["stages"][0]
    assert summary["docs_in"] == 251 == summary["kept"] + sum(summary["removed"].values())
