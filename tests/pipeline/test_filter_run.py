"""`gristmill run` with filter stages: every document accounted for per stage, columns, routing, masking."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from crawl_factory import PARAGRAPHS, WarcEntry, html_page, multilingual_entries, write_warc
from rich.console import Console

from gristmill_base.errors import UserError
from pipeline.prepared import prepare_run
from pipeline.runner import check_run_dir, execute

ARTICLE = [
    "The mill on the river has ground grain for the village since the year of the great flood.",
    "Its wheel turns with the water and the farmers bring their harvest to it every autumn.",
    "The miller keeps a ledger of every sack, and he writes to the council at miller@example.org.",
    "Visitors can call the office on (555) 234-5678 to book a tour of the old machinery.",
    "The stones were cut from a quarry in the hills and carried down on carts pulled by oxen.",
    "Children from the school visit in spring to learn how flour is made from wheat and rye.",
    "A small museum beside the mill shows the tools that the first millers used by hand.",
]


def page(url: str, paragraphs: list[str]) -> WarcEntry:
    return WarcEntry(url, html_page(url.rsplit("/", 1)[-1], paragraphs))


@pytest.fixture
def crawl(tmp_path: Path) -> Path:
    folder = tmp_path / "crawl"
    folder.mkdir()
    editions = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    english = [
        page(f"http://mill.example/article-{i}", [*ARTICLE, f"This is the {name} edition of the page about the mill."])
        for i, name in enumerate(editions)
    ]
    special = [
        page("http://blocked.example/a", ARTICLE),  # url_filter (user domain list)
        page("http://mill.example/short", ["Too short to be a page of real prose."]),  # gopher_quality
        page("http://mill.example/spam", ["Buy cheap flour now and save money today."] * 40),  # repetition
        page("http://mill.example/fr", [f"{PARAGRAPHS['fr']} Partie {i}." for i in range(12)]),  # langid
    ]
    write_warc(folder / "a.warc.gz", english[:3] + special[:2])
    write_warc(folder / "b.warc.gz", english[3:] + special[2:] + multilingual_entries(4, "http://multi.example/p"))
    return folder


def write_recipe(path: Path, crawl: Path, stages: str) -> Path:
    path.write_text(
        f'[executor]\nworkers = 2\n\n[[stage]]\nkind = "ingest"\ninputs = ["{crawl}"]\n\n{stages}\n'
        '[[stage]]\nkind = "shard"\n'
    )
    return path


def run(recipe: Path, output: Path) -> str:
    screen = io.StringIO()
    result = execute(prepare_run(recipe, output=output), Console(file=screen, width=140))
    assert result.complete
    return screen.getvalue()


def stage_stats(run_dir: Path, stage: str) -> dict:
    total: dict = {"docs_in": 0, "kept": 0, "removed": {}}
    for path in (run_dir / "stats" / stage).glob("task-*.json"):
        data = json.loads(path.read_text())
        total["docs_in"] += data["docs_in"]
        total["kept"] += data["kept"]
        for rule, count in data["removed"].items():
            total["removed"][rule] = total["removed"].get(rule, 0) + count
    return total


def rows(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.rglob("part-*.parquet")) for row in pq.read_table(path).to_pylist()]


ENGLISH_CHAIN = """
[[stage]]
kind = "url_filter"
default_lists = false
domains_files = ["blocked.txt"]

[[stage]]
kind = "langid"
keep = ["en"]
min_score = 0.65

[[stage]]
kind = "gopher_repetition"

[[stage]]
kind = "gopher_quality"

[[stage]]
kind = "c4"
terminal_punctuation = false

[[stage]]
kind = "fineweb"

[[stage]]
kind = "pii"
"""


def test_english_chain_accounts_for_every_document(tmp_path: Path, crawl: Path) -> None:
    (tmp_path / "blocked.txt").write_text("# test list\nblocked.example\n")
    recipe = write_recipe(tmp_path / "r.toml", crawl, ENGLISH_CHAIN)
    run_dir = tmp_path / "run"
    screen = run(recipe, run_dir)

    stages = ["ingest", "url_filter", "langid", "gopher_repetition", "gopher_quality", "c4", "fineweb", "pii"]
    totals = {stage: stage_stats(run_dir, stage) for stage in stages}
    for stage in stages:  # docs in = kept + removed, and each stage takes in what the one before kept
        t = totals[stage]
        assert t["docs_in"] == t["kept"] + sum(t["removed"].values()), stage
        removed_rows = rows(run_dir / "removed" / stage)
        assert len(removed_rows) == sum(t["removed"].values()), stage
        assert {r["removed_by"] for r in removed_rows} == set(t["removed"]), stage
    for before, after in itertools.pairwise(stages):
        assert totals[after]["docs_in"] == totals[before]["kept"], after
    assert totals["ingest"]["docs_in"] == 14

    by_url = {r["url"]: r for stage in stages for r in rows(run_dir / "removed" / stage)}
    assert by_url["http://blocked.example/a"]["removed_by"] == "url_domain"
    assert by_url["http://blocked.example/a"]["text"] == ""  # never extracted
    assert by_url["http://mill.example/fr"]["removed_by"] == "lang_not_kept"
    assert by_url["http://mill.example/fr"]["lang"] == "fr"
    assert by_url["http://mill.example/spam"]["removed_by"].startswith("gopher_duplicate")
    assert by_url["http://mill.example/short"]["removed_by"] == "gopher_word_count"
    assert by_url["http://mill.example/short"]["removed_detail"].startswith("words=")

    kept = rows(run_dir / "shards")
    assert sorted(r["url"] for r in kept) == sorted(f"http://mill.example/article-{i}" for i in range(6))
    for row in kept:
        assert row["lang"] == "en" and row["lang_score"] >= 0.65
        assert (row["pii_email"], row["pii_ip"], row["pii_phone"]) == (1, 0, 1)
        assert "miller@example.org" not in row["text"] and "<EMAIL>" in row["text"]
        assert "(555) 234-5678" not in row["text"] and "<PHONE>" in row["text"]
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert manifest["languages"] == {"en": 6}
    assert [c["name"] for c in manifest["schema"]][-6:] == [
        "lang",
        "lang_score",
        "c4_lines_removed",
        "pii_email",
        "pii_ip",
        "pii_phone",
    ]
    assert "lang_not_kept" in screen and "url_domain" in screen and "gopher_quality" in screen


def test_language_routing_writes_hive_partitions(tmp_path: Path, crawl: Path) -> None:
    stages = '[[stage]]\nkind = "langid"\nkeep = ["en", "fr", "de"]\nroute = true\n'
    run_dir = tmp_path / "run"
    run(write_recipe(tmp_path / "r.toml", crawl, stages), run_dir)
    folders = sorted(p.name for p in (run_dir / "shards").iterdir() if p.is_dir())
    assert folders == ["lang=de", "lang=en", "lang=fr"]
    for folder in folders:
        assert {r["lang"] for r in rows(run_dir / "shards" / folder)} == {folder.split("=")[1]}
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert sum(manifest["languages"].values()) == manifest["documents"]
    assert all("/" in shard["file"] for shard in manifest["shards"])
    dataset = ds.dataset(run_dir / "shards", format="parquet", partitioning="hive", exclude_invalid_files=True)
    assert dataset.count_rows() == manifest["documents"]
    removed = rows(run_dir / "removed" / "langid")
    assert {r["lang"] for r in removed} <= {"ru", "ja"} and removed


def test_rerun_of_a_filter_run_resumes_to_the_same_result(tmp_path: Path, crawl: Path) -> None:
    stages = '[[stage]]\nkind = "langid"\nkeep = ["en"]\n\n[[stage]]\nkind = "gopher_quality"\n'
    recipe = write_recipe(tmp_path / "r.toml", crawl, stages)
    run_dir = tmp_path / "run"
    run(recipe, run_dir)
    first = sorted(r["id"] for r in rows(run_dir / "shards"))
    (run_dir / "ingest" / "completions" / "00001").unlink()  # as if task 1 had died
    run(recipe, run_dir)
    assert sorted(r["id"] for r in rows(run_dir / "shards")) == first
    assert stage_stats(run_dir, "gopher_quality")["docs_in"] == stage_stats(run_dir, "langid")["kept"]


def test_a_changed_url_list_refuses_to_resume_and_the_resolved_recipe_runs_again(tmp_path: Path, crawl: Path) -> None:
    blocked = tmp_path / "blocked.txt"
    blocked.write_text("blocked.example\n")
    stages = '[[stage]]\nkind = "url_filter"\ndefault_lists = false\ndomains_files = ["blocked.txt"]\n'
    recipe = write_recipe(tmp_path / "r.toml", crawl, stages)
    run_dir = tmp_path / "run"
    run(recipe, run_dir)
    blocked.write_text("blocked.example\nmill.example\n")
    with pytest.raises(UserError, match="different input files or list files"):
        prepare_and_check(recipe, run_dir)
    again = run(run_dir / "recipe.toml", tmp_path / "again")  # RUN/recipe.toml is itself a recipe
    assert "url_domain" in again
    assert stage_stats(tmp_path / "again", "url_filter")["removed"]["url_domain"] > 1


def prepare_and_check(recipe: Path, run_dir: Path) -> None:
    check_run_dir(prepare_run(recipe, output=run_dir))
