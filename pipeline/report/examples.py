"""A few documents each rule removed and a few it kept, each with the value that decided, so a person can
judge the rule. Samples are drawn in a fixed pseudo-random order (a hash of the id), so they do not all
come from the first crawl file and the same run always shows the same ones.

Kept examples are the kept documents nearest the rule's threshold (of a sample of the kept documents,
measured again by `pipeline.report.probes`): the ones the rule nearly removed say the most about it. Dedup
rules show the removed copy beside the document it duplicates, and kept examples that are the survivors
of a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from pipeline.recipe import STAGE_KINDS
from pipeline.report import documents
from pipeline.report.probes import measure, number_of, threshold_of
from pipeline.report.run_folder import RunFolder

EXAMPLE_CHARS = 1500
PROBE_POOL = 400
DEDUP_KINDS = ("exact_dedup", "minhash_dedup", "line_dedup")
_DUPLICATE_OF = re.compile(r"^duplicate of (\S+)")


def rule_examples(run: RunFolder, frame: pl.DataFrame, samples: int) -> list[dict[str, Any]]:
    removed = frame.filter(pl.col("stage").is_not_null())
    rules = removed.group_by("stage", "rule").agg(pl.len().alias("n"))
    order = {stage: i for i, stage in enumerate(s["stage"] for s in run.summary["stages"])}
    rules = sorted(rules.iter_rows(), key=lambda r: (order.get(r[0], len(order)), -r[2], r[1]))
    picks = (
        removed.sort("key").group_by("stage", "rule", maintain_order=True).head(samples) if samples else removed.clear()
    )
    pool = _fetch(run, documents.kept(frame).sort("key").head(PROBE_POOL), whole=True) if samples else []
    found = []
    for stage, rule, _ in rules:
        removed_rows = _fetch(run, picks.filter((pl.col("stage") == stage) & (pl.col("rule") == rule)))
        if stage == "ingest":  # records that never became documents: nothing kept is comparable
            kept_rows = []
        elif stage in DEDUP_KINDS:
            _attach_originals(run, frame, removed_rows)
            kept_rows = _cluster_survivors(run, frame, stage, samples)
        else:
            kept_rows = _nearest_threshold(run, stage, rule, pool, removed_rows, samples)
        found.append({"stage": stage, "rule": rule, "removed": removed_rows, "kept": kept_rows})
    return found


def _fetch(
    run: RunFolder, wanted: pl.DataFrame, extra: Sequence[str] = (), whole: bool = False
) -> list[dict[str, Any]]:
    """The documents of these frame rows, in their order, as examples (or `whole`: the rows, text uncut)."""
    rows = documents.fetch_rows(run, wanted, ["url", "text", "removed_detail", *extra]) if wanted.height else []
    return rows if whole else [_example(row) for row in rows]


def _example(row: dict[str, Any]) -> dict[str, Any]:
    text = row.pop("text") or ""
    return {
        "id": row.pop("id"),
        "url": row.pop("url", None),
        "value": row.pop("removed_detail", None),
        "text_bytes": len(text.encode("utf-8")),
        "truncated": len(text) > EXAMPLE_CHARS,
        "text": text[:EXAMPLE_CHARS],
        **row,
    }


def _nearest_threshold(
    run: RunFolder, stage: str, rule: str, pool: list[dict[str, Any]], removed: list[dict[str, Any]], samples: int
) -> list[dict[str, Any]]:
    values = _measure_pool(run, stage, rule, pool)
    limit = next((t for row in removed if (t := threshold_of(row.get("value")))), None)
    chosen = list(range(len(pool)))
    if values is not None and limit is not None:
        distance = {i: abs(n - limit[1]) for i, v in enumerate(values) if v and (n := number_of(v)) is not None}
        chosen = sorted(distance, key=lambda i: (distance[i], i))
    picked = []
    for i in chosen[:samples]:
        value = values[i] if values is not None else None
        if value is not None and limit is not None:
            value = f"{value} (removed if {limit[0]} {_short(limit[1])})"
        picked.append(_example({**pool[i], "removed_detail": value}))
    return picked


def _measure_pool(run: RunFolder, stage: str, rule: str, pool: list[dict[str, Any]]) -> list[str | None] | None:
    model = STAGE_KINDS.get(stage)
    if model is None or stage in ("ingest", "url_filter", "shard") or not pool:
        return None
    options = model.model_validate(run.stage_options(stage))
    return measure(options, rule, [(row["text"], row["url"]) for row in pool])


def _short(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.4g}"


def _attach_originals(run: RunFolder, frame: pl.DataFrame, rows: list[dict[str, Any]]) -> None:
    """Beside each removed copy, the start of the kept document it duplicates, where that was kept."""
    wanted = {m[1]: row for row in rows if (m := _DUPLICATE_OF.match(row.get("value") or ""))}
    originals = documents.locate(documents.kept(frame), list(wanted))
    texts = {row["id"]: row["text"][:EXAMPLE_CHARS] for row in _fetch(run, originals, whole=True)}
    for kept_id, row in wanted.items():
        row["original"] = texts.get(kept_id)


def _cluster_survivors(run: RunFolder, frame: pl.DataFrame, stage: str, samples: int) -> list[dict[str, Any]]:
    """Kept documents that survived as the one copy of a cluster (or, for line dedup, had lines cut)."""
    column, label, least = (
        ("line_dedup_lines_removed", "lines cut", 1)
        if stage == "line_dedup"
        else (f"{stage}_cluster_size", "kept for a cluster of", 2)
    )
    files = run.shard_files()
    if not files or not samples or column not in pl.scan_parquet(files[0]).collect_schema().names():
        return []
    scan = pl.scan_parquet(files, hive_partitioning=False).filter(pl.col(column) >= least).select("id")
    ids = scan.collect(engine="streaming")["id"]
    keys = documents.sample_keys(ids).sort().head(samples)
    rows = _fetch(
        run, documents.kept(frame).join(pl.DataFrame({"key": keys}), on="key", how="semi").sort("key"), [column]
    )
    for row in rows:
        row["value"] = f"{label} {row.pop(column)}"
    return rows
