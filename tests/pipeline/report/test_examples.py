"""Examples per rule: real removed and kept documents, each with the value that decided, nearest the threshold."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import MARKUP

from pipeline.filters.gopher import GopherQualityStage, GopherRepetitionStage
from pipeline.filters.langid import LangIdStage
from pipeline.filters.words import content_words
from pipeline.recipe import STAGE_KINDS
from pipeline.report.examples import EXAMPLE_CHARS
from pipeline.report.figures import compute_figures
from pipeline.report.probes import _NGRAM_PROBES, _PROBES, measure
from pipeline.report.run_folder import RunFolder


def by_id(folder: Path) -> dict[str, dict]:
    return {r["id"]: r for path in folder.rglob("part-*.parquet") for r in pq.read_table(path).to_pylist()}


@pytest.fixture(scope="module")
def examples(report_run: Path) -> dict[str, dict]:
    figures = compute_figures(RunFolder.open(report_run), samples=3)
    return {group["rule"]: group for group in figures["examples"]}


def test_every_rule_has_removed_examples_that_it_really_removed(report_run: Path, examples: dict) -> None:
    assert set(examples) == {
        "lang_not_kept",
        "gopher_duplicate_lines",
        "gopher_word_count",
        "exact_duplicate",
        "near_duplicate",
    }
    for rule, group in examples.items():
        removed = by_id(report_run / "removed" / group["stage"])
        assert 1 <= len(group["removed"]) <= 3
        for example in group["removed"]:
            row = removed[example["id"]]
            assert row["removed_by"] == rule and example["value"] == row["removed_detail"]
            assert example["text"] == row["text"][:EXAMPLE_CHARS]
            assert example["text_bytes"] == len(row["text"].encode())


def test_kept_examples_are_the_kept_documents_nearest_the_threshold(report_run: Path, examples: dict) -> None:
    kept = by_id(report_run / "shards")
    words = {doc_id: len(content_words(row["text"])) for doc_id, row in kept.items()}
    picked = examples["gopher_word_count"]["kept"]
    for example in picked:
        assert example["value"] == f"words={words[example['id']]} (removed if < 50)"
    nearest = sorted(words.values())[:3]
    assert sorted(int(e["value"].split("=")[1].split()[0]) for e in picked) == nearest
    lang = examples["lang_not_kept"]["kept"]
    assert {e["value"] for e in lang} <= {"lang=en", "lang=de", "lang=fr"}


def test_dedup_examples_show_the_original_and_the_cluster_survivors(report_run: Path, examples: dict) -> None:
    kept = by_id(report_run / "shards")
    for example in examples["near_duplicate"]["removed"]:
        original_id = example["value"].split()[2]
        assert example["id"].startswith("near-") and original_id.startswith("orig-")
        assert example["original"] == kept[original_id]["text"][:EXAMPLE_CHARS]
    survivors = examples["near_duplicate"]["kept"]
    assert survivors and all(e["value"] == "kept for a cluster of 2" for e in survivors)
    assert all(kept[e["id"]]["minhash_dedup_cluster_size"] == 2 for e in survivors)


def test_long_text_is_truncated_and_markup_kept_as_text(report_run: Path) -> None:
    figures = compute_figures(RunFolder.open(report_run), samples=100)
    every = [e for group in figures["examples"] for e in group["removed"] + group["kept"]]
    assert any(e["truncated"] and len(e["text"]) == EXAMPLE_CHARS for e in every)
    assert all(e["truncated"] == (e["text_bytes"] > len(e["text"].encode())) for e in every)
    removals = sum(stage["removed"] for stage in figures["funnel"])
    assert sum(len(g["removed"]) for g in figures["examples"]) == removals  # under the samples cap: every one
    assert all(e["text"].startswith(MARKUP) for e in figures_rule(figures, "gopher_word_count")["removed"])


def figures_rule(figures: dict, rule: str) -> dict:
    return next(group for group in figures["examples"] if group["rule"] == rule)


@pytest.mark.parametrize("rule", [*_PROBES, "gopher_top_2gram", "gopher_duplicate_7grams"])
def test_every_probe_measures_its_rule_on_a_passing_document(rule: str) -> None:
    """A probe names real options and makes exactly its rule fire, reporting `name=value`."""
    stages = {"gopher": GopherQualityStage, "lang": LangIdStage}
    kind = next((m for prefix, m in stages.items() if rule.startswith(prefix)), None)
    if rule.startswith("gopher_duplicate") or rule.startswith("gopher_top"):
        kind = GopherRepetitionStage
    kind = kind or STAGE_KINDS[rule.split("_")[0] if rule.split("_")[0] != "fineweb" else "fineweb"]
    text = "The miller and the baker walked to the old mill by the river.\n" + "\n".join(
        f"Line {i} of the story tells how the wheel turned and the flour was made." for i in range(40)
    )
    (value,) = measure(kind(), rule, [(text, "https://example.org/")])
    assert value is not None and "=" in value
    assert any(p.fullmatch(rule) for p, _ in _NGRAM_PROBES) or rule in _PROBES


def test_examples_are_read_by_position_even_when_ids_repeat(report_run: Path, tmp_path: Path) -> None:
    """A run folder whose ids repeat (an older version's, or shards edited by hand) still shows each removed
    document's own text, not another document's with the same id."""
    run = tmp_path / "run"
    shutil.copytree(report_run, run)
    kept_id = next(iter(by_id(run / "shards")))
    path = next((run / "removed" / "gopher_repetition").glob("part-*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.set_column(0, "id", pa.array([kept_id] * table.num_rows)), path)
    assert table.column_names[0] == "id"
    group = figures_rule(compute_figures(RunFolder.open(run), samples=100), "gopher_duplicate_lines")
    texts = {row["text"][:EXAMPLE_CHARS] for row in table.to_pylist()}
    assert group["removed"] and all(e["id"] == kept_id and e["text"] in texts for e in group["removed"])
