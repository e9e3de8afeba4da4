"""A classifier stage with keep_top_fraction: the kept count is the exact rounded share of the run, the kept
set is the same for any worker or task count and after a kill -9 and rerun, ties are broken by id, and the
removed documents say where the cutoff was."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from gristmill_base.errors import UserError
from pipeline.classifier.training import TrainingOptions, train_classifier
from pipeline.prepared import prepare_run
from pipeline.recipe import load_recipe
from pipeline.runner import execute
from pipeline.steps.rank import Cutoff, id_hash, kept_count

SAMPLES = Path(__file__).resolve().parents[3] / "recipes" / "samples"
INPUTS = [SAMPLES / "classifier-positive.jsonl.gz", SAMPLES / "classifier-negative.jsonl.gz"]
DOCUMENTS = 821 + 1200


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models") / "model"
    sources = {"positive": [str(INPUTS[0])], "negative": [str(INPUTS[1])]}
    train_classifier(sources, folder, TrainingOptions(buckets=1 << 14))
    return folder


def write_recipe(folder: Path, model: Path, workers: int = 2, tasks: int = 0, fraction: float = 0.1) -> Path:
    recipe = folder / f"r-{workers}-{tasks}.toml"
    inputs = ", ".join(json.dumps(str(path)) for path in INPUTS)
    recipe.write_text(
        f"[executor]\nworkers = {workers}\ntasks = {tasks}\n\n"
        f'[[stage]]\nkind = "ingest"\ninputs = [{inputs}]\n\n'
        f'[[stage]]\nkind = "classifier"\nmodel = "{model}"\nkeep_label = "positive"\n'
        f"keep_top_fraction = {fraction}\n\n"
        '[[stage]]\nkind = "length"\nmin_words = 1\n'
    )
    return recipe


def run(recipe: Path, output: Path) -> Path:
    assert execute(prepare_run(recipe, output=output), Console(file=io.StringIO())).complete
    return output


def kept_ids(run_dir: Path) -> list[str]:
    return sorted(pl.read_parquet(run_dir / "shards" / "*.parquet", columns=["id"])["id"].to_list())


@pytest.fixture(scope="module")
def reference(model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rank")
    return run(write_recipe(folder, model), folder / "run")


def test_the_kept_count_is_the_rounded_share_and_the_best_scores(reference: Path):
    assert len(kept_ids(reference)) == kept_count(0.1, DOCUMENTS) == 202  # 202.1 rounds to 202
    kept = pl.read_parquet(reference / "shards" / "*.parquet")
    removed = pl.read_parquet(reference / "removed" / "classifier" / "*.parquet")
    assert kept.height + removed.height == DOCUMENTS
    assert kept["classifier_score"].min() >= removed["classifier_score"].max()
    assert set(removed["removed_by"]) == {"classifier_rank"}
    assert "ranks below the cutoff" in removed["removed_detail"][0]
    assert "the top 0.1 keeps 202 of 2,021" in removed["removed_detail"][0]
    stats = json.loads((reference / "stats" / "classifier" / "rank.json").read_text())
    assert stats == {
        "documents": DOCUMENTS,
        "kept": 202,
        "fraction": 0.1,
        "cutoff_score": kept["classifier_score"].min(),
    }


@pytest.mark.parametrize(("workers", "tasks"), [(1, 0), (4, 0), (2, 3)])
def test_the_kept_set_is_the_same_for_any_worker_or_task_count(
    model: Path, reference: Path, tmp_path: Path, workers: int, tasks: int
):
    assert kept_ids(run(write_recipe(tmp_path, model, workers, tasks), tmp_path / "run")) == kept_ids(reference)


def test_a_run_killed_while_scoring_resumes_to_the_same_kept_set(model: Path, reference: Path, tmp_path: Path):
    """The main process alone is killed (as the OOM killer does); its workers die with it, and the rerun,
    started as soon as the main process is reaped, finds the run folder free."""
    recipe, run_dir = write_recipe(tmp_path, model), tmp_path / "killed"
    command = [sys.executable, "-m", "gristmill", "run", str(recipe), "--output", str(run_dir)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    marker = run_dir / "classifier" / "scores" / "completions"
    deadline = time.monotonic() + 300  # against a hang only
    while not (marker.is_dir() and any(marker.iterdir())) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before a scoring task finished"
    process.kill()
    process.wait()
    assert kept_ids(run(recipe, run_dir)) == kept_ids(reference)


def test_ties_are_broken_by_the_id_hash_then_the_id():
    cutoff = Cutoff(documents=10, keep=3, score=0.5, id_hash=id_hash("m"), id="m")
    assert cutoff.keeps(0.6, id_hash("z"), "z")  # a better score
    assert not cutoff.keeps(0.4, 0, "a")  # a worse one
    assert cutoff.keeps(0.5, id_hash("m"), "m")
    assert cutoff.keeps(0.5, id_hash("m") - 1, "x") and not cutoff.keeps(0.5, id_hash("m") + 1, "x")
    assert not Cutoff(documents=10, keep=0, score=float("inf"), id_hash=0, id="").keeps(1.0, 0, "a")


def test_rounding_is_half_up():
    assert [kept_count(0.1, n) for n in (14, 15, 25, 0)] == [1, 2, 3, 0]
    assert kept_count(1.0, 7) == 7


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("min_score = 0.5", "keep_top_fraction and min_score: give one of them"),
        ("", "give keep_label too"),
    ],
)
def test_keep_top_fraction_needs_a_label_and_no_min_score(model: Path, tmp_path: Path, extra: str, message: str):
    recipe = tmp_path / "r.toml"
    label = "" if not extra else 'keep_label = "positive"\n'
    recipe.write_text(
        f'[[stage]]\nkind = "ingest"\ninputs = ["{INPUTS[0]}"]\n\n[[stage]]\nkind = "classifier"\n'
        f'model = "{model}"\n{label}keep_top_fraction = 0.5\n{extra}\n'
    )
    with pytest.raises(UserError, match=message):
        load_recipe(recipe)
