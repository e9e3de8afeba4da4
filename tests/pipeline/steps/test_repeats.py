"""Records given twice: a real WARC file twice, a truncated copy and a copy with flipped bytes, and JSONL ids
that repeat. Ids stay unique across shards/ and removed/, every record is accounted for, the copy kept is
the first complete one in input order whatever the worker count, and the report reads the run."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from text_factory import write_jsonl

from gristmill.cli import main
from pipeline.inputs import resolve_inputs
from pipeline.prepared import prepare_run
from pipeline.readers import ReaderOptions, read_records
from pipeline.runner import execute
from pipeline.steps.repeats import RULE

QUICKSTART = Path(__file__).resolve().parents[3] / "recipes" / "samples" / "quickstart.warc.gz"


def run(folder: Path, output: Path, workers: int = 2, recipe_extra: str = "") -> Path:
    recipe = output.parent / f"{output.name}.toml"
    recipe.write_text(f'[executor]\nworkers = {workers}\n\n[[stage]]\nkind = "ingest"\n{recipe_extra}\n')
    result = execute(prepare_run(recipe, inputs=[str(folder)], output=output), Console(file=io.StringIO()))
    assert result.complete
    return output


def every_row(run_dir: Path) -> pl.DataFrame:
    """id, source, removed_by, removed_detail and place (shards or the removing stage) of every document."""
    kept = pl.read_parquet(run_dir / "shards" / "*.parquet", columns=["id", "source"]).with_columns(
        removed_by=pl.lit(None, pl.String), removed_detail=pl.lit(None, pl.String), place=pl.lit("shards")
    )
    removed = [
        pl.read_parquet(path, columns=["id", "source", "removed_by", "removed_detail"]).with_columns(
            place=pl.lit(path.parent.name)
        )
        for path in sorted(run_dir.glob("removed/*/*.parquet"))
    ]
    return pl.concat([kept, *removed])


@pytest.fixture(scope="module")
def damaged_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled real crawl twice, a copy cut at two thirds, and a copy with 20 flipped bytes."""
    folder = tmp_path_factory.mktemp("inputs")
    data = QUICKSTART.read_bytes()
    (folder / "a-crawl.warc.gz").write_bytes(data)
    (folder / "b-same-crawl.warc.gz").write_bytes(data)
    (folder / "c-truncated.warc.gz").write_bytes(data[: len(data) * 2 // 3])
    flipped = bytearray(data)
    rng = random.Random(0)
    for position in rng.sample(range(1000, len(data)), 20):
        flipped[position] ^= 0xFF
    (folder / "d-flipped.warc.gz").write_bytes(bytes(flipped))
    return folder


@pytest.fixture(scope="module")
def damaged_run(damaged_inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(damaged_inputs, tmp_path_factory.mktemp("runs") / "run")


@pytest.fixture(scope="module")
def single_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("single")
    shutil.copy(QUICKSTART, folder / "a-crawl.warc.gz")
    return run(folder, tmp_path_factory.mktemp("runs") / "single")


def test_every_id_is_unique_across_shards_and_removed(damaged_run: Path):
    rows = every_row(damaged_run)
    assert rows["id"].n_unique() == rows.height
    assert rows.filter(pl.col("removed_by") == RULE).height > 500  # three more copies of ~250 records


def test_every_document_record_is_accounted_for(damaged_inputs: Path, damaged_run: Path):
    files = resolve_inputs([str(damaged_inputs)])
    records = sum(record.document for file in files for record in read_records(file, ReaderOptions()))
    assert every_row(damaged_run).height == records
    summary = json.loads((damaged_run / "stats" / "summary.json").read_text())
    ingest = next(stage for stage in summary["stages"] if stage["stage"] == "ingest")
    assert ingest["docs_in"] == records


def test_the_kept_documents_are_those_of_the_crawl_read_once(damaged_run: Path, single_run: Path):
    kept = every_row(damaged_run).filter(pl.col("place") == "shards")
    once = every_row(single_run).filter(pl.col("removed_by").is_null())
    assert sorted(kept["id"]) == sorted(once["id"])
    assert set(kept["source"].str.extract(r"/([^/@]+)@")) == {"a-crawl.warc.gz"}  # the first file in path order


def test_a_repeat_names_its_id_and_where_it_was_kept(damaged_run: Path):
    rows = every_row(damaged_run)
    repeats = rows.filter(pl.col("removed_by") == RULE)
    sources = set(rows["source"])
    for detail in repeats["removed_detail"].to_list():
        original, place = detail.removeprefix("repeat of id ").split(", ", 1)
        assert original.startswith("urn:uuid:")
        kept_at = place.removeprefix("kept at ").removeprefix("first read at ").split(",")[0].split(";")[0]
        assert kept_at in sources
    truncated_copies = repeats.filter(pl.col("source").str.contains("c-truncated"))
    assert truncated_copies.height > 100


def test_the_same_copies_are_kept_and_removed_with_any_worker_count(damaged_inputs: Path, damaged_run: Path, tmp_path):
    other = run(damaged_inputs, tmp_path / "one-worker", workers=1)
    assert every_row(other).sort("id").equals(every_row(damaged_run).sort("id"))


def test_the_report_reads_the_run_and_every_check_holds(damaged_run: Path, tmp_path: Path, capsys):
    figures = tmp_path / "report.json"
    assert main(["report", str(damaged_run), "--html", str(tmp_path / "r.html"), "--json", str(figures)]) == 0
    checks = json.loads(figures.read_text())["checks"]
    assert checks and all(check["ok"] for check in checks), [c for c in checks if not c["ok"]]
    assert "Traceback" not in capsys.readouterr().err


def test_jsonl_ids_keep_the_first_complete_record(tmp_path: Path):
    inputs = tmp_path / "inputs"
    write_jsonl(inputs / "a.jsonl", [("x", "first x"), ("y", "first y"), ("x", "second x in the same file")])
    write_jsonl(inputs / "b.jsonl", [("y", "second y"), ("z", "only z")])
    # a row "w" with no text is removed while reading, so the later complete "w" keeps the id
    (inputs / "a0.jsonl").write_text('{"id": "w", "text": null}\n', encoding="utf-8")
    write_jsonl(inputs / "c.jsonl", [("w", "complete w")])
    rows = every_row(run(inputs, tmp_path / "run"))
    kept = rows.filter(pl.col("removed_by").is_null()).sort("id")
    assert kept.select("id", "source").rows() == [
        ("w", f"{inputs}/c.jsonl:1"),
        ("x", f"{inputs}/a.jsonl:1"),
        ("y", f"{inputs}/a.jsonl:2"),
        ("z", f"{inputs}/b.jsonl:2"),
    ]
    repeats = rows.filter(pl.col("removed_by") == RULE).sort("source")
    assert repeats.select("source", "removed_detail").rows() == [
        (f"{inputs}/a.jsonl:3", f"repeat of id x, kept at {inputs}/a.jsonl:1"),
        (
            f"{inputs}/a0.jsonl:1",
            f"repeat of id w, kept at {inputs}/c.jsonl:1; this copy was also missing_text: field 'text' is absent",
        ),
        (f"{inputs}/b.jsonl:1", f"repeat of id y, kept at {inputs}/a.jsonl:2"),
    ]
    assert rows["id"].n_unique() == rows.height


def test_inputs_without_ids_need_no_repeat_check(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.txt").write_text("one text\n", encoding="utf-8")
    (inputs / "b.txt").write_text("one text\n", encoding="utf-8")
    run_dir = run(inputs, tmp_path / "run")
    assert not (run_dir / "repeats").exists()
    assert every_row(run_dir)["id"].n_unique() == 2
