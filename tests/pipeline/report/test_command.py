"""`gristmill report` from the command line: outputs, the JSON schema, and one clear line for a bad request."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import pipeline.report
from gristmill.cli import main

SCHEMA = json.loads((Path(pipeline.report.__file__).parent / "schema.json").read_text())


def test_report_writes_html_and_json_that_follows_the_schema(
    report_run: Path, strict_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, figures = tmp_path / "out" / "r.html", tmp_path / "out" / "r.json"
    code = main(["report", str(report_run), "--html", str(html), "--json", str(figures), "--compare", str(strict_run)])
    assert code == 0
    data = json.loads(figures.read_text())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(data, SCHEMA)
    assert data["compare"]["b"] == str(strict_run.resolve())
    assert html.read_text().startswith("<!DOCTYPE html>")
    screen = capsys.readouterr().out
    for heading in ("funnel", "languages", "document length", "top domains", "time:", "checks", "kept only by A"):
        assert heading in screen
    assert "gopher_word_count" in screen and "minhash_dedup: removed" in screen


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "{missing}"], "not a gristmill run folder"),
        (["report", "{run}", "--samples", "-1"], "--samples: expected a number from 0 to 100"),
        (["report", "{run}", "--compare", "{missing}"], "not a gristmill run folder"),
        (["report", "{run}", "--html", "{folder}"], "is a folder"),
    ],
)
def test_bad_requests_are_one_line(
    report_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    values = {"missing": str(tmp_path / "nope"), "run": str(report_run), "folder": str(tmp_path)}
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_an_unfinished_run_is_refused(report_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "recipe.toml").write_text((report_run / "recipe.toml").read_text())
    assert main(["report", str(tmp_path)]) == 2
    assert "has not finished" in capsys.readouterr().err
