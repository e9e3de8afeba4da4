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
from typing import Any

import polars as pl

from pipeline.recipe import STAGE_KINDS
from pipeline.report import documents
from pipeline.report.probes import measure, number_of, threshold_of
from pipeline.report.run_folder import RunFolder

EXAMPLE_CHARS = 1500
PROBE_POOL = 400
DEDUP_STAGES = ("exact_dedup", "minhash_dedup", "line_dedup")
_DUPLICATE_OF = re.compile(r"^duplicate of (\S+)")


def rule_examples(run: RunFolder, frame: pl.DataFrame, samples: int) -> list[dict[str, Any]]:
    removed = frame.filter(pl.col("stage").is_not_null())
    rules = removed.group_by("stage", "rule").agg(pl.len().alias("n"))
    order = {stage: i for i, stage in enumerate(s["stage"] for s in run.summary["stages"])}
    rules = sorted(rules.iter_rows(), key=lambda r: (order.get(r[0], len(order)), -r[2], r[1]))
    picks = removed.sort("key").group_by("stage", "rule", maintain_order=True).head(samples)
    pool = _kept_pool(run, frame) if samples else []
    found = []
    for stage, rule, _ in rules:
        keys = picks.filter((pl.col("stage") == stage) & (pl.col("rule") == rule))["key"]
        removed_rows = _fetch(run.removed_files(stage), keys) if samples else []
        if stage == "ingest":  # records that never became documents: nothing kept is comparable
            kept_rows = []
        elif stage in DEDUP_STAGES:
            _attach_originals(run, removed_rows)
            kept_rows = _cluster_survivors(run, stage, samples)
        else:
            kept_rows = _nearest_threshold(run, stage, rule, pool, removed_rows, samples)
        found.append({"stage": stage, "rule": rule, "removed": removed_rows, "kept": kept_rows})
    return found


def _fetch(files: list, keys: pl.Series, extra: list[str] = ()) -> list[dict[str, Any]]:
    """The example rows of these keys, text cut to EXAMPLE_CHARS, in key order."""
    if keys.is_empty() or not files:
        return []
    scan = documents.scan_documents(files)
    names = scan.collect_schema().names()
    rows = (
        scan.with_columns(documents.sample_key().alias("key"))
        .filter(pl.col("key").is_in(keys.implode()))
        .select(
            "key",
            "id",
            "url",
            pl.col("text").str.len_bytes().alias("text_bytes"),
            (pl.col("text").str.len_chars() > EXAMPLE_CHARS).alias("truncated"),
            pl.col("text").str.slice(0, EXAMPLE_CHARS),
            *[pl.col(name) for name in ("removed_detail", *extra) if name in names],
        )
        .sort("key")
        .collect()
    )
    return [_example(row) for row in rows.drop("key").to_dicts()]


def _example(row: dict[str, Any]) -> dict[str, Any]:
    value = row.pop("removed_detail", None)
    return {"id": row.pop("id"), "url": row.pop("url"), "value": value, **row}


def _kept_pool(run: RunFolder, frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Up to PROBE_POOL kept documents with their whole text, for measuring again."""
    keys = documents.kept(frame).sort("key").head(PROBE_POOL)["key"]
    if keys.is_empty():
        return []
    scan = documents.scan_documents(run.shard_files()).with_columns(documents.sample_key().alias("key"))
    rows = scan.filter(pl.col("key").is_in(keys.implode())).select("key", "id", "url", "text").sort("key")
    return rows.collect().drop("key").to_dicts()


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
        row = pool[i]
        value = values[i] if values is not None else None
        if value is not None and limit is not None:
            value = f"{value} (removed if {limit[0]} {_short(limit[1])})"
        text = row["text"]
        picked.append(
            {
                "id": row["id"],
                "url": row["url"],
                "value": value,
                "text_bytes": len(text.encode("utf-8")),
                "truncated": len(text) > EXAMPLE_CHARS,
                "text": text[:EXAMPLE_CHARS],
            }
        )
    return picked


def _measure_pool(run: RunFolder, stage: str, rule: str, pool: list[dict[str, Any]]) -> list[str | None] | None:
    model = STAGE_KINDS.get(stage)
    if model is None or stage in ("ingest", "url_filter", "shard") or not pool:
        return None
    options = model.model_validate(run.stage_options(stage))
    return measure(options, rule, [(row["text"], row["url"]) for row in pool])


def _short(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:.4g}"


def _attach_originals(run: RunFolder, rows: list[dict[str, Any]]) -> None:
    """Beside each removed copy, the start of the kept document it duplicates, where that was kept."""
    wanted = {m[1]: row for row in rows if (m := _DUPLICATE_OF.match(row.get("value") or ""))}
    if not wanted:
        return
    scan = documents.scan_documents(run.shard_files())
    originals = scan.filter(pl.col("id").is_in(list(wanted))).select("id", pl.col("text").str.slice(0, EXAMPLE_CHARS))
    texts = dict(originals.collect().iter_rows())
    for kept_id, row in wanted.items():
        row["original"] = texts.get(kept_id)


def _cluster_survivors(run: RunFolder, stage: str, samples: int) -> list[dict[str, Any]]:
    """Kept documents that survived as the one copy of a cluster (or, for line dedup, had lines cut)."""
    column, label = (
        ("line_dedup_lines_removed", "lines cut")
        if stage == "line_dedup"
        else (f"{stage}_cluster_size", "kept for a cluster of")
    )
    scan = documents.scan_documents(run.shard_files())
    if column not in scan.collect_schema().names() or not samples:
        return []
    keys = (
        scan.filter(pl.col(column) > 1 if stage != "line_dedup" else pl.col(column) > 0)
        .select(documents.sample_key().alias("key"))
        .sort("key")
        .head(samples)
        .collect()["key"]
    )
    rows = _fetch(run.shard_files(), keys, extra=[column])
    for row in rows:
        row["value"] = f"{label} {row.pop(column)}"
    return rows
