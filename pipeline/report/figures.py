"""The figures of one run, as the JSON-ready dict that the terminal, HTML and JSON outputs all show.

Counts of documents and bytes per stage and rule come from the run's stats (what the stages counted); the
documents themselves are measured with polars, and `checks` compares the two, so a report never shows a
number that disagrees with the run without saying so. The layout is `pipeline/report/schema.json`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from pipeline.report import documents
from pipeline.report.examples import DEDUP_KINDS, rule_examples
from pipeline.report.run_folder import RunFolder
from pipeline.report.scores import score_figures

SCHEMA_VERSION = 1
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
HISTOGRAM_EDGES = [0, *(2**k for k in range(5, 21))]  # UTF-8 bytes; the last bin is open-ended
TOP_DOMAINS = 20


def compute_figures(run: RunFolder, samples: int = 3) -> dict[str, Any]:
    frame = documents.document_frame(run)
    kept, before = documents.kept(frame), documents.entering_filters(frame)
    summary, manifest = run.summary, run.manifest
    funnel = [_stage_funnel(stage) for stage in summary["stages"]]
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "path": str(run.path),
            "gristmill_version": manifest["gristmill_version"],
            "recipe_sha256": manifest["recipe_sha256"],
            "created": manifest["created"],
            "wall_seconds": summary["wall_seconds"],
            "inputs": len(manifest["inputs"]),
        },
        "funnel": funnel,
        "skipped": _skipped(summary),
        "output": {
            "documents": manifest["documents"],
            "text_bytes": manifest["text_bytes"],
            "estimated_tokens": manifest["estimated_tokens"],
            "shards": len(manifest["shards"]),
            "shard_bytes": manifest["bytes"],
        },
        "languages": _languages(kept),
        "lengths": {
            "unit": "utf8_bytes",
            "kept": _percentiles(kept["bytes"]),
            "entering_filters": _percentiles(before["bytes"]),
            "histogram": {
                "edges": HISTOGRAM_EDGES,
                "kept": _histogram(kept["bytes"]),
                "entering_filters": _histogram(before["bytes"]),
            },
        },
        "duplicates": _duplicates(run, funnel),
        "domains": _domains(frame),
        "time": _time(summary, funnel, run),
        "scores": score_figures(run, samples),
        "examples": rule_examples(run, frame, samples),
        "checks": _checks(funnel, frame, manifest),
    }


def _stage_funnel(stage: dict[str, Any]) -> dict[str, Any]:
    removed_bytes = stage.get("removed_bytes", {})
    rules = [
        {"rule": rule, "documents": count, "bytes": removed_bytes.get(rule, 0)}
        for rule, count in sorted(stage["removed"].items(), key=lambda item: -item[1])
    ]
    return {
        "stage": stage["stage"],
        "docs_in": stage["docs_in"],
        "kept": stage["kept"],
        "removed": sum(rule["documents"] for rule in rules),
        "bytes_in": stage["bytes_in"],
        "bytes_out": stage["bytes_out"],
        "seconds": round(stage["seconds"], 3),
        "rules": rules,
    }


def _skipped(summary: dict[str, Any]) -> dict[str, int]:
    skipped: dict[str, int] = {}
    for stage in summary["stages"]:
        for name, count in stage.get("skipped", {}).items():
            skipped[name] = skipped.get(name, 0) + count
    return skipped


def _languages(kept: pl.DataFrame) -> list[dict[str, Any]]:
    if kept["lang"].null_count() == kept.height:
        return []
    grouped = kept.group_by("lang").agg(pl.len().alias("documents"), pl.col("bytes").sum().alias("text_bytes"))
    grouped = grouped.sort(["documents", "lang"], descending=[True, False])
    total = max(kept.height, 1)
    return [{**row, "share": row["documents"] / total} for row in grouped.to_dicts()]


def _percentiles(lengths: pl.Series) -> dict[str, Any]:
    if lengths.is_empty():
        return {"documents": 0}
    values = lengths.to_numpy()
    figures: dict[str, Any] = {"documents": len(values), "mean": float(values.mean()), "min": int(values.min())}
    for p, value in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
        figures[f"p{p}"] = float(value)
    figures["max"] = int(values.max())
    return figures


def _histogram(lengths: pl.Series) -> list[int]:
    """Counts per bin [edge_i, edge_i+1), the last bin open-ended."""
    bins = np.searchsorted(np.asarray(HISTOGRAM_EDGES), lengths.to_numpy(), side="right") - 1
    return np.bincount(bins, minlength=len(HISTOGRAM_EDGES)).tolist()


def _duplicates(run: RunFolder, funnel: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for stage in funnel:
        if stage["stage"] not in DEDUP_KINDS:
            continue
        clusters = run.cluster_stats(stage["stage"]) or {}
        found.append(
            {
                "stage": stage["stage"],
                "docs_in": stage["docs_in"],
                "removed": stage["removed"],
                "removed_bytes": sum(rule["bytes"] for rule in stage["rules"]),
                "clusters": clusters.get("clusters"),
                "documents_in_clusters": clusters.get("documents_in_clusters"),
                "cluster_sizes": {str(k): v for k, v in sorted(clusters.get("cluster_sizes", {}).items(), key=_size)},
                "seconds": clusters.get("seconds"),
            }
        )
    return found


def _size(item: tuple[str, int]) -> int:
    return int(item[0])


def _domains(frame: pl.DataFrame) -> list[dict[str, Any]]:
    grouped = (
        frame.filter(pl.col("domain").is_not_null())
        .group_by("domain")
        .agg(
            pl.col("stage").is_null().sum().alias("kept"),
            pl.col("stage").is_not_null().sum().alias("removed"),
            pl.col("bytes").filter(pl.col("stage").is_null()).sum().alias("kept_bytes"),
        )
        .sort(["kept", "removed", "domain"], descending=[True, True, False])
        .head(TOP_DOMAINS)
    )
    return grouped.to_dicts()


def _time(summary: dict[str, Any], funnel: list[dict[str, Any]], run: RunFolder) -> dict[str, Any]:
    total = sum(stage["seconds"] for stage in funnel) or math.inf
    stages = [{"stage": s["stage"], "seconds": s["seconds"], "share": s["seconds"] / total} for s in funnel]
    for stage in funnel:
        clusters = run.cluster_stats(stage["stage"])
        if clusters:
            stages.append({"stage": f"{stage['stage']} clustering", "seconds": round(clusters["seconds"], 3)})
    return {"wall_seconds": summary["wall_seconds"], "stages": stages}


def _checks(funnel: list[dict[str, Any]], frame: pl.DataFrame, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The stats against the documents on disk: removed rows per stage and rule, kept documents and bytes."""
    on_disk = frame.group_by("stage", "rule").agg(pl.len().alias("n"), pl.col("bytes").sum().alias("b"))
    found = {(r["stage"], r["rule"]): (r["n"], r["b"]) for r in on_disk.to_dicts()}
    checks = []
    for stage in funnel:
        for rule in stage["rules"]:
            n, b = found.pop((stage["stage"], rule["rule"]), (0, 0))
            what = f"removed/{stage['stage']} {rule['rule']}"
            checks.append(_check(f"{what}: documents", rule["documents"], n))
            checks.append(_check(f"{what}: bytes", rule["bytes"], b))
    kept_n, kept_b = found.pop((None, None), (0, 0))
    checks.append(_check("shards: documents (manifest)", manifest["documents"], kept_n))
    checks.append(_check("shards: text bytes (manifest)", manifest["text_bytes"], kept_b))
    checks.append(_check("shards: documents (last stage kept)", funnel[-1]["kept"], kept_n))
    for (stage, rule), (n, _) in found.items():
        checks.append(_check(f"removed/{stage} {rule}: documents (not in stats)", 0, n))
    return checks


def _check(what: str, expected: int, found: int) -> dict[str, Any]:
    return {"what": what, "expected": expected, "found": found, "ok": expected == found}
