"""The report of a run with a classifier stage: the score histogram counts every scored document once, on the
side the stage put it, the threshold is the one the stage applied, and the examples are the documents
nearest it on each side; terminal, HTML and JSON (by its schema) all show it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest

import pipeline.report
from gristmill.cli import main
from pipeline.classifier.training import TrainingOptions, train_classifier

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"
INPUTS = [SAMPLES / "classifier-positive.jsonl.gz", SAMPLES / "classifier-negative.jsonl.gz"]
SCHEMA = json.loads((Path(pipeline.report.__file__).parent / "schema.json").read_text())


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "model"
    train_classifier(
        {"positive": [str(INPUTS[0])], "negative": [str(INPUTS[1])]}, folder, TrainingOptions(buckets=1 << 14)
    )
    return folder


def reported(folder: Path, model: Path, rule: str, capsys: pytest.CaptureFixture[str]) -> tuple[Path, dict, str]:
    """Run a recipe (ingest, classifier with `rule`, a length filter after it) and report it: the run folder,
    the JSON figures (checked against the schema) and what the terminal showed."""
    inputs = ", ".join(json.dumps(str(path)) for path in INPUTS)
    recipe = folder / "recipe.toml"
    recipe.write_text(
        f'[executor]\nworkers = 2\n\n[[stage]]\nkind = "ingest"\ninputs = [{inputs}]\n\n'
        f'[[stage]]\nkind = "classifier"\nmodel = "{model}"\nkeep_label = "positive"\n{rule}\n\n'
        '[[stage]]\nkind = "length"\nmin_words = 60\n'
    )
    run_dir = folder / "run"
    assert main(["run", str(recipe), "--output", str(run_dir)]) == 0
    capsys.readouterr()
    json_path, html_path = folder / "report.json", folder / "report.html"
    assert main(["report", str(run_dir), "--json", str(json_path), "--html", str(html_path)]) == 0
    figures = json.loads(json_path.read_text())
    jsonschema.validate(figures, SCHEMA)
    assert 'data-chart="scores-classifier"' in html_path.read_text()
    return run_dir, figures, " ".join(capsys.readouterr().out.split())  # the console wraps long lines


def frames(run_dir: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Kept, removed by the classifier, removed by the length filter after it."""
    read = [
        pl.read_parquet(run_dir / part / "*.parquet") for part in ("shards", "removed/classifier", "removed/length")
    ]
    return read[0], read[1], read[2]


def check_sides(scores: dict, passed: pl.DataFrame, removed: pl.DataFrame) -> None:
    histogram = scores["histogram"]
    assert sum(histogram["passed"]) == passed.height and sum(histogram["removed"]) == removed.height
    assert scores["documents"] == passed.height + removed.height and scores["removed"] == removed.height
    lowest = passed.sort("classifier_score").head(3)
    assert [row["score"] for row in scores["nearest_passed"]] == lowest["classifier_score"].to_list()
    assert [row["id"] for row in scores["nearest_passed"]] == lowest["id"].to_list()
    highest = removed.sort("classifier_score", descending=True).head(3)
    assert [row["score"] for row in scores["nearest_removed"]] == highest["classifier_score"].to_list()
    texts = dict(zip(removed["id"], removed["text"], strict=True))
    assert all(texts[row["id"]].startswith(row["text"]) for row in scores["nearest_removed"])


def test_a_top_fraction_shows_its_cutoff_and_the_documents_on_each_side(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, figures, screen = reported(tmp_path, model, "keep_top_fraction = 0.25", capsys)
    kept, removed, later = frames(run_dir)
    (scores,) = figures["scores"]
    passed = pl.concat([kept, later.select(kept.columns)])  # removed by a later stage: this one passed them
    check_sides(scores, passed, removed)
    assert passed.height == 505  # 0.25 x 2,021 = 505.25
    rank = json.loads((run_dir / "stats" / "classifier" / "rank.json").read_text())
    assert scores["threshold"] == rank["cutoff_score"] == scores["nearest_passed"][0]["score"]
    assert scores["rule"] == "keep_top_fraction 0.25"
    assert "classifier (classifier_score): 2,021 scored, 1,516 removed (75.0%); threshold" in screen


def test_a_min_score_shows_its_threshold_between_the_two_sides(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, figures, screen = reported(tmp_path, model, "min_score = 0.5", capsys)
    kept, removed, later = frames(run_dir)
    (scores,) = figures["scores"]
    check_sides(scores, pl.concat([kept, later.select(kept.columns)]), removed)
    assert scores["threshold"] == 0.5 and scores["rule"] == "min_score"
    assert scores["nearest_passed"][0]["score"] >= 0.5 > scores["nearest_removed"][0]["score"]
    assert "threshold 0.5 (min_score)" in screen and "highest removed" in screen
