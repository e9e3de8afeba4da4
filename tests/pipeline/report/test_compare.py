"""`--compare`: the documents one run kept and the other removed, and the rule that removed them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline.report.compare import compare_runs
from pipeline.report.figures import compute_figures
from pipeline.report.run_folder import RunFolder


def ids(folder: Path) -> set[str]:
    return {i for path in folder.rglob("part-*.parquet") for i in pq.read_table(path, columns=["id"])["id"].to_pylist()}


def removed_by(folder: Path) -> dict[str, str]:
    rows = [r for path in folder.rglob("part-*.parquet") for r in pq.read_table(path).to_pylist()]
    return {r["id"]: r["removed_by"] for r in rows}


@pytest.fixture(scope="module")
def comparison(report_run: Path, strict_run: Path) -> dict:
    a, b = RunFolder.open(report_run), RunFolder.open(strict_run)
    return compare_runs(a, b, compute_figures(a, 0), compute_figures(b, 0), samples=2)


def test_kept_only_by_one_run_with_the_other_runs_reason(report_run: Path, strict_run: Path, comparison: dict) -> None:
    kept_a, kept_b = ids(report_run / "shards"), ids(strict_run / "shards")
    only_a = kept_a - kept_b
    assert comparison["same_input"] is True
    assert comparison["kept_by_both"] == len(kept_a & kept_b)
    assert comparison["kept_only_by_a"]["documents"] == len(only_a) > 0
    assert comparison["kept_only_by_b"]["documents"] == len(kept_b - kept_a) == 0
    reasons = removed_by(strict_run / "removed")
    expected: dict[str, int] = {}
    for doc_id in only_a:
        expected[reasons[doc_id]] = expected.get(reasons[doc_id], 0) + 1
    found = {r["rule"]: r["documents"] for r in comparison["kept_only_by_a"]["removed_in_b_by"]}
    assert found == expected == {"gopher_word_count": len(only_a)}
    for example in comparison["kept_only_by_a"]["examples"]:
        assert example["id"] in only_a and example["removed_by"] == "gopher_word_count"
        assert example["removed_detail"].endswith("< 300")


def test_figures_side_by_side(comparison: dict) -> None:
    rule = next(r for r in comparison["rules"] if r["rule"] == "gopher_word_count")
    assert rule["b"] - rule["a"] == rule["delta"] == comparison["kept_only_by_a"]["documents"]
    documents = comparison["output"]["documents"]
    assert documents["a"] - documents["b"] == comparison["kept_only_by_a"]["documents"]
    assert {r["lang"] for r in comparison["languages"]} == {"en", "de", "fr"}
