"""The report's figures against counts computed here, independently, from the run's files with pyarrow."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.report.figures import HISTOGRAM_EDGES, compute_figures
from pipeline.report.run_folder import RunFolder


def rows(folder: Path) -> list[dict]:
    return [row for path in sorted(folder.rglob("part-*.parquet")) for row in pq.read_table(path).to_pylist()]


@pytest.fixture(scope="module")
def figures(report_run: Path) -> dict:
    return compute_figures(RunFolder.open(report_run), samples=2)


def test_funnel_is_the_runs_stats_and_matches_the_removed_files(report_run: Path, figures: dict) -> None:
    summary = json.loads((report_run / "stats" / "summary.json").read_text())
    assert [s["stage"] for s in figures["funnel"]] == [s["stage"] for s in summary["stages"]]
    for stage, stats in zip(figures["funnel"], summary["stages"], strict=True):
        assert (stage["docs_in"], stage["kept"], stage["bytes_in"]) == (
            stats["docs_in"],
            stats["kept"],
            stats["bytes_in"],
        )
        assert {r["rule"]: r["documents"] for r in stage["rules"]} == stats["removed"]
        removed = rows(report_run / "removed" / stage["stage"])
        by_rule = Counter(r["removed_by"] for r in removed)
        bytes_by_rule = Counter()
        for r in removed:
            bytes_by_rule[r["removed_by"]] += len(r["text"].encode())
        assert {r["rule"]: r["documents"] for r in stage["rules"]} == dict(by_rule)
        assert {r["rule"]: r["bytes"] for r in stage["rules"]} == dict(bytes_by_rule)
        assert stage["docs_in"] == stage["kept"] + stage["removed"]
    expected_rules = {
        "lang_not_kept",
        "gopher_duplicate_lines",
        "gopher_word_count",
        "exact_duplicate",
        "near_duplicate",
    }
    assert {r["rule"] for s in figures["funnel"] for r in s["rules"]} == expected_rules
    assert all(check["ok"] for check in figures["checks"]) and len(figures["checks"]) >= 13


def test_languages_lengths_and_domains_equal_independent_counts(report_run: Path, figures: dict) -> None:
    kept = rows(report_run / "shards")
    removed = [(stage.name, r) for stage in (report_run / "removed").iterdir() for r in rows(stage)]
    assert figures["output"]["documents"] == len(kept) == 53
    languages = Counter(r["lang"] for r in kept)
    assert {row["lang"]: row["documents"] for row in figures["languages"]} == dict(languages)
    assert [row["lang"] for row in figures["languages"]] == ["en", "de", "fr"]

    kept_lengths = np.array([len(r["text"].encode()) for r in kept])
    before = np.concatenate([kept_lengths, [len(r["text"].encode()) for stage, r in removed if stage != "ingest"]])
    for name, values in (("kept", kept_lengths), ("entering_filters", before)):
        measured = figures["lengths"][name]
        assert measured["documents"] == len(values)
        assert measured["p50"] == pytest.approx(np.percentile(values, 50))
        assert measured["p95"] == pytest.approx(np.percentile(values, 95))
        assert (measured["min"], measured["max"]) == (values.min(), values.max())
        counts = [int(((values >= lo) & (values < hi)).sum()) for lo, hi in itertools.pairwise(HISTOGRAM_EDGES)]
        counts.append(int((values >= HISTOGRAM_EDGES[-1]).sum()))
        assert figures["lengths"]["histogram"][name] == counts

    def domain(url: str | None) -> str | None:
        host = urlsplit(url).hostname if url else None
        return host.removeprefix("www.") if host else None

    kept_domains = Counter(domain(r["url"]) for r in kept if r["url"])
    removed_domains = Counter(domain(r["url"]) for _, r in removed if r["url"])
    for row in figures["domains"]:
        assert (row["kept"], row["removed"]) == (kept_domains[row["domain"]], removed_domains[row["domain"]])
    assert {row["domain"] for row in figures["domains"]} == set(kept_domains) | set(removed_domains)


def test_duplicates_and_time_come_from_the_dedup_stats(report_run: Path, figures: dict) -> None:
    by_stage = {d["stage"]: d for d in figures["duplicates"]}
    assert set(by_stage) == {"exact_dedup", "minhash_dedup"}
    near = by_stage["minhash_dedup"]
    clusters = json.loads((report_run / "stats" / "minhash_dedup" / "clusters.json").read_text())
    assert near["removed"] == clusters["removed"] == 4 and near["clusters"] == clusters["clusters"] == 4
    assert near["cluster_sizes"] == clusters["cluster_sizes"] == {"2": 4}
    assert by_stage["exact_dedup"]["cluster_sizes"] == {"3": 1} and by_stage["exact_dedup"]["removed"] == 2
    summary = json.loads((report_run / "stats" / "summary.json").read_text())
    assert figures["time"]["wall_seconds"] == summary["wall_seconds"]
    stage_seconds = {s["stage"]: s["seconds"] for s in figures["time"]["stages"]}
    assert stage_seconds["langid"] == pytest.approx(summary["stages"][1]["seconds"], abs=1e-3)
    assert "minhash_dedup clustering" in stage_seconds


def test_a_tampered_removed_file_fails_a_check(report_run: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(report_run, copy)
    (path,) = list((copy / "removed" / "gopher_quality").glob("part-*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)  # one removed document lost
    failed = [c for c in compute_figures(RunFolder.open(copy), samples=0)["checks"] if not c["ok"]]
    assert [c["what"] for c in failed] == [
        "removed/gopher_quality gopher_word_count: documents",
        "removed/gopher_quality gopher_word_count: bytes",
    ]
    assert failed[0]["expected"] == 4 and failed[0]["found"] == 3
