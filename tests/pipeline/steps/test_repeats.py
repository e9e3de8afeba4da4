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
from pipeline.readers.record import stable_id
from pipeline.recipe import IngestStage
from pipeline.runner import execute
from pipeline.steps.ingest import IngestStep
from pipeline.steps.repeats import (
    RECORD_COLUMNS,
    RULE,
    FileRepeats,
    RepeatResolveStep,
    RepeatScanStep,
    RepeatsFolder,
    decide,
)

QUICKSTART = Path(__file__).resolve().parents[3] / "recipes" / "samples" / "quickstart.warc.gz"


def run(folder: Path, output: Path, workers: int = 2, tasks: int = 0) -> Path:
    recipe = output.parent / f"{output.name}.toml"
    recipe.write_text(f'[executor]\nworkers = {workers}\ntasks = {tasks}\n\n[[stage]]\nkind = "ingest"\n')
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


@pytest.mark.parametrize(("workers", "tasks"), [(1, 0), (1, 1), (2, 3)])
def test_the_same_copies_are_kept_and_removed_with_any_worker_or_task_count(
    damaged_inputs: Path, damaged_run: Path, tmp_path: Path, workers: int, tasks: int
):
    other = run(damaged_inputs, tmp_path / "other", workers=workers, tasks=tasks)
    assert every_row(other).sort("id").equals(every_row(damaged_run).sort("id"))


def test_the_report_reads_the_run_and_every_check_holds(damaged_run: Path, tmp_path: Path, capsys):
    figures = tmp_path / "report.json"
    assert main(["report", str(damaged_run), "--html", str(tmp_path / "r.html"), "--json", str(figures)]) == 0
    checks = json.loads(figures.read_text())["checks"]
    assert checks and all(check["ok"] for check in checks), [c for c in checks if not c["ok"]]
    assert "Traceback" not in capsys.readouterr().err


def test_jsonl_a_repeat_is_the_same_id_with_the_same_text(tmp_path: Path):
    inputs = tmp_path / "inputs"
    write_jsonl(inputs / "a.jsonl", [("x", "first x"), ("y", "first y"), ("x", "another x"), ("x", "first x")])
    write_jsonl(inputs / "b.jsonl", [("y", "first y"), ("z", "only z")])
    # a row "w" with no text is removed while reading, so the later complete "w" keeps the id
    (inputs / "a0.jsonl").write_text('{"id": "w", "text": null}\n', encoding="utf-8")
    write_jsonl(inputs / "c.jsonl", [("w", "complete w")])
    rows = every_row(run(inputs, tmp_path / "run"))
    assert rows["id"].n_unique() == rows.height == 8
    kept = rows.filter(pl.col("removed_by").is_null()).sort("source")
    assert kept.select("id", "source").rows() == [
        ("x", f"{inputs}/a.jsonl:1"),
        ("y", f"{inputs}/a.jsonl:2"),
        (f"x~{stable_id(f'{inputs}/a.jsonl:3')[:16]}", f"{inputs}/a.jsonl:3"),  # another document, its own id
        ("z", f"{inputs}/b.jsonl:2"),
        ("w", f"{inputs}/c.jsonl:1"),
    ]
    repeats = rows.filter(pl.col("removed_by") == RULE).sort("source")
    assert repeats.select("source", "removed_detail").rows() == [
        (f"{inputs}/a.jsonl:4", f"repeat of id x, kept at {inputs}/a.jsonl:1"),
        (f"{inputs}/b.jsonl:1", f"repeat of id y, kept at {inputs}/a.jsonl:2"),
    ]
    textless = rows.filter(pl.col("removed_by") == "missing_text")
    assert textless["id"].to_list() == [f"w~{stable_id(f'{inputs}/a0.jsonl:1')[:16]}"]


def test_jsonl_files_numbered_from_one_each_keep_every_document(tmp_path: Path, capsys):
    inputs = tmp_path / "inputs"
    for name in ("a", "b", "c"):
        write_jsonl(inputs / f"{name}.jsonl", [(str(n), f"document {n} of export {name}") for n in (1, 2, 3)])
    recipe = tmp_path / "run.toml"
    recipe.write_text('[[stage]]\nkind = "ingest"\n')
    assert main(["run", str(recipe), "--input", str(inputs), "--output", str(tmp_path / "run")]) == 0
    rows = every_row(tmp_path / "run")
    assert rows.height == 9 and rows["removed_by"].null_count() == 9
    assert rows["id"].n_unique() == 9
    assert "6 documents have an id that another document" in capsys.readouterr().out


def test_inputs_without_ids_need_no_repeat_check(tmp_path: Path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "a.txt").write_text("one text\n", encoding="utf-8")
    (inputs / "b.txt").write_text("one text\n", encoding="utf-8")
    run_dir = run(inputs, tmp_path / "run")
    assert not (run_dir / "repeats").exists()
    assert every_row(run_dir)["id"].n_unique() == 2


def test_decide_keeps_the_first_complete_copy_and_renames_distinct_documents():
    records = pl.DataFrame(
        {
            "hi": [1, 1, 1, 1, 2],
            "lo": [5, 5, 5, 5, 6],
            "content": [7, 7, 8, 7, 0],
            "complete": [False, True, True, True, True],
            "file": [0, 1, 1, 2, 2],
            "ordinal": [0, 0, 1, 0, 1],
        },
        schema=RECORD_COLUMNS,
    )
    rows = decide(records).sort("file", "ordinal").rows(named=True)
    assert [(r["file"], r["ordinal"], r["renamed"], r["kept_file"], r["kept_ordinal"]) for r in rows] == [
        (0, 0, False, 1, 0),  # the damaged first copy is the repeat of the complete one
        (1, 1, True, None, None),  # same id, another text: another document
        (2, 0, False, 1, 0),
    ]


def scan(inputs: Path, work: Path) -> list:
    files = resolve_inputs([str(inputs)])
    step = RepeatScanStep(files, [list(range(len(files)))], [None], ReaderOptions(), work, work / "progress")
    list(step.run())
    return files


def test_ingest_fails_when_a_file_reads_differently_than_in_the_scan(tmp_path: Path):
    path = write_jsonl(tmp_path / "in" / "a.jsonl", [("1", "one"), ("2", "two")])
    files = scan(tmp_path / "in", tmp_path / "repeats")
    folder = RepeatsFolder(tmp_path / "repeats")
    repeats = FileRepeats(folder, 0, files[0])
    for ordinal, record in enumerate(read_records(files[0], ReaderOptions())):
        repeats.apply(ordinal, record)
    repeats.finish()  # read as scanned: no complaint
    write_jsonl(path, [("1", "one"), ("2", "two"), ("3", "three")])
    repeats = FileRepeats(folder, 0, files[0])
    with pytest.raises(RuntimeError, match="reads differently now than in the repeat scan: document record 3"):
        for ordinal, record in enumerate(read_records(files[0], ReaderOptions())):
            repeats.apply(ordinal, record)
    write_jsonl(path, [("1", "one")])
    repeats = FileRepeats(folder, 0, files[0])
    repeats.apply(0, next(read_records(files[0], ReaderOptions())))
    with pytest.raises(RuntimeError, match="ended after 1 document records, the scan read 2"):
        repeats.finish()


def test_a_scan_task_that_runs_again_voids_the_decisions(tmp_path: Path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [("1", "one")])
    folder = RepeatsFolder(tmp_path / "repeats")
    folder.resolve_done.parent.mkdir(parents=True)
    folder.resolve_done.touch()
    scan(tmp_path / "in", tmp_path / "repeats")
    assert not folder.resolve_done.exists()


def test_resolve_waits_for_every_scan_task(tmp_path: Path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [("1", "one")])
    scan(tmp_path / "in", tmp_path / "repeats")
    folder = RepeatsFolder(tmp_path / "repeats")
    folder.scan_done(0).parent.mkdir(parents=True)
    folder.scan_done(0).touch()
    with pytest.raises(RuntimeError, match=r"scan tasks \[1\] have not finished"):
        list(RepeatResolveStep(1, 2, tmp_path / "repeats").run())
    folder.scan_done(1).touch()
    list(RepeatResolveStep(1, 2, tmp_path / "repeats").run())
    assert json.loads(folder.stats.read_text()) == {"documents": 1, "repeats": 0, "renamed": 0}


def test_ingest_does_not_start_before_the_decisions_exist(tmp_path: Path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [("1", "one")])
    files = scan(tmp_path / "in", tmp_path / "repeats")
    step = IngestStep(
        tmp_path, "ingest", IngestStage(kind="ingest"), files, [[0]], [None], repeats_dir=tmp_path / "repeats"
    )
    with pytest.raises(RuntimeError, match=r"repeats/resolve\) has not finished"):
        list(step.run())


def test_a_run_folder_whose_ingest_finished_before_the_check_skips_it(tmp_path: Path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(QUICKSTART, folder / "a.warc.gz")
    run_dir = run(folder, tmp_path / "run")
    before = every_row(run_dir).sort("id")
    shutil.rmtree(run_dir / "repeats")  # as a run folder of an earlier version has none
    run(folder, run_dir)
    assert not (run_dir / "repeats").exists()
    assert every_row(run_dir).sort("id").equals(before)


def test_a_lost_ingest_task_after_a_complete_run_redoes_the_check(tmp_path: Path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    for name in ("a.warc.gz", "b.warc.gz"):
        shutil.copy(QUICKSTART, folder / name)
    run_dir = run(folder, tmp_path / "run")
    before = every_row(run_dir).sort("id")
    assert not (run_dir / "repeats" / "work").exists()  # deleted with the intermediate data
    (run_dir / "ingest" / "completions" / "00001").unlink()  # as if task 1's output were lost
    run(folder, run_dir)
    after = every_row(run_dir).sort("id")
    assert after.equals(before) and after["id"].n_unique() == after.height
