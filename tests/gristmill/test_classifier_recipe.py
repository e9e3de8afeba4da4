"""recipes/classifier.toml as its header says to run it: train the classifier on the bundled samples, then
run the recipe on the bundled crawl. Decontamination finds the crawl's passages in the evaluation sample
and nothing else; the classifier keeps exactly half of what reaches it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl

from gristmill.cli import main

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_the_classifier_recipe_runs_offline_from_the_bundled_samples(tmp_path: Path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy(RECIPES / "classifier.toml", folder / "classifier.toml")
    (folder / "samples").symlink_to(RECIPES / "samples")
    samples = RECIPES / "samples"
    train = ["classifier", "train", "--positive", str(samples / "classifier-positive.jsonl.gz")]
    train += [
        "--negative",
        str(samples / "classifier-negative.jsonl.gz"),
        "--output",
        str(tmp_path / "runs" / "classifier-model"),
    ]
    assert main(train) == 0
    run_dir = tmp_path / "run"
    assert main(["run", str(folder / "classifier.toml"), "--output", str(run_dir)]) == 0

    contaminated = pl.read_parquet(run_dir / "removed" / "decontaminate" / "*.parquet")
    assert contaminated.height >= 5  # five passages, and the crawl's copies of their pages
    assert all(detail.startswith("eval-sample.jsonl item crawl-") for detail in contaminated["removed_detail"])
    summary = {s["stage"]: s for s in json.loads((run_dir / "stats" / "summary.json").read_text())["stages"]}
    rank = json.loads((run_dir / "stats" / "classifier" / "rank.json").read_text())
    assert rank["documents"] == summary["classifier"]["docs_in"] > 10
    assert rank["kept"] == summary["classifier"]["kept"] == int(rank["documents"] * 0.5 + 0.5)
    kept = pl.read_parquet(run_dir / "shards" / "*.parquet")
    assert kept.height == rank["kept"] and (kept["quality_score"] >= rank["cutoff_score"]).all()
