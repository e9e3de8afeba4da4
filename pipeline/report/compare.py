"""`--compare`: what changed between two runs of different recipes on the same input.

Beyond the deltas of the figures, the runs are joined on document id: which documents one run kept and the
other did not, and which rule of the other run removed them. That answers "what does the stricter recipe
cost me, and is it worth it" with documents, not just counts.
"""

from __future__ import annotations

from html import escape
from typing import Any

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.report import documents
from pipeline.report.examples import EXAMPLE_CHARS
from pipeline.report.html import table
from pipeline.report.run_folder import RunFolder


def compare_runs(
    a: RunFolder, b: RunFolder, fig_a: dict[str, Any], fig_b: dict[str, Any], samples: int = 3
) -> dict[str, Any]:
    inputs = [[(i["path"], i["fingerprint"]) for i in run.manifest["inputs"]] for run in (a, b)]
    kept_a, kept_b = _kept_ids(a), _kept_ids(b)
    only_a = kept_a.join(kept_b, on="id", how="anti")
    only_b = kept_b.join(kept_a, on="id", how="anti")
    removed_a, removed_b = _removed(a), _removed(b)
    return {
        "a": str(a.path),
        "b": str(b.path),
        "same_input": inputs[0] == inputs[1],
        "stages": {"a": [s["stage"] for s in fig_a["funnel"]], "b": [s["stage"] for s in fig_b["funnel"]]},
        "output": {key: {"a": fig_a["output"][key], "b": fig_b["output"][key]} for key in fig_a["output"]},
        "rules": _rules(fig_a, fig_b),
        "languages": _languages(fig_a, fig_b),
        "lengths": {
            k: {"a": fig_a["lengths"]["kept"].get(k), "b": fig_b["lengths"]["kept"].get(k)}
            for k in ("mean", "p5", "p50", "p95")
        },
        "kept_by_both": kept_a.join(kept_b, on="id").height,
        "kept_only_by_a": {
            "documents": only_a.height,
            "removed_in_b_by": _reasons(removed_b, only_a),
            "examples": _examples(a, removed_b, only_a, samples),
        },
        "kept_only_by_b": {
            "documents": only_b.height,
            "removed_in_a_by": _reasons(removed_a, only_b),
            "examples": _examples(b, removed_a, only_b, samples),
        },
    }


def _kept_ids(run: RunFolder) -> pl.DataFrame:
    return _scan(run.shard_files(), ["id"])


def _scan(files: list, columns: list[str]) -> pl.DataFrame:
    """Small columns of every document (never the text), streamed."""
    return pl.scan_parquet(files, hive_partitioning=False).select(columns).collect(engine="streaming")


def _removed(run: RunFolder) -> pl.DataFrame:
    """id, stage and rule of every document the run removed."""
    frames = [
        _scan(run.removed_files(stage), ["id", "removed_by", "removed_detail"]).with_columns(stage=pl.lit(stage))
        for stage in run.removed_stages()
    ]
    schema = {"id": pl.String, "removed_by": pl.String, "removed_detail": pl.String, "stage": pl.String}
    return pl.concat([pl.DataFrame(schema=schema), *frames])


def _reasons(removed_in_other: pl.DataFrame, ids: pl.DataFrame) -> list[dict[str, Any]]:
    """Where the other run put these documents: the (stage, rule) that removed them, or never seen."""
    joined = ids.join(removed_in_other, on="id", how="left")
    counts = joined.group_by("stage", "removed_by").agg(pl.len().alias("documents")).sort("documents", descending=True)
    return [
        {"stage": r["stage"] or "not in the run", "rule": r["removed_by"] or "-", "documents": r["documents"]}
        for r in counts.to_dicts()
    ]


def _examples(
    kept_in: RunFolder, removed_in_other: pl.DataFrame, ids: pl.DataFrame, samples: int
) -> list[dict[str, Any]]:
    picked = ids.with_columns(key=documents.sample_keys(ids["id"])).sort("key").head(samples)
    if picked.is_empty():
        return []
    scan = pl.scan_parquet(kept_in.shard_files(), hive_partitioning=False)
    wanted = scan.filter(pl.col("id").is_in(picked["id"].implode())).select("id", "url", "text")
    rows = wanted.collect(engine="streaming").to_dicts()
    reasons = picked.join(removed_in_other, on="id", how="left")
    found = {r["id"]: r for r in reasons.to_dicts()}
    return [
        {
            "id": row["id"],
            "url": row["url"],
            "text": row["text"][:EXAMPLE_CHARS],
            "removed_by": found[row["id"]]["removed_by"],
            "removed_detail": found[row["id"]]["removed_detail"],
        }
        for row in sorted(rows, key=lambda row: row["id"])
    ]


def _rules(fig_a: dict[str, Any], fig_b: dict[str, Any]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for side, figures in (("a", fig_a), ("b", fig_b)):
        for stage in figures["funnel"]:
            for rule in stage["rules"]:
                counts.setdefault((stage["stage"], rule["rule"]), {"a": 0, "b": 0})[side] = rule["documents"]
    return [{"stage": s, "rule": r, **c, "delta": c["b"] - c["a"]} for (s, r), c in counts.items()]


def _languages(fig_a: dict[str, Any], fig_b: dict[str, Any]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, int]] = {}
    for side, figures in (("a", fig_a), ("b", fig_b)):
        for row in figures["languages"]:
            found.setdefault(row["lang"], {"a": 0, "b": 0})[side] = row["documents"]
    return sorted(
        ({"lang": k, **v, "delta": v["b"] - v["a"]} for k, v in found.items()), key=lambda r: -max(r["a"], r["b"])
    )


def comparison_html(c: dict[str, Any]) -> str:
    warning = "" if c["same_input"] else '<p class="bad">the two runs read different inputs: ids need not match</p>'
    out = c["output"]
    totals = [
        [escape(key.replace("_", " ")), f"{v['a']:,}", f"{v['b']:,}", _delta(v["b"] - v["a"])] for key, v in out.items()
    ]
    rules = [
        [escape(f"{r['stage']}: {r['rule']}"), f"{r['a']:,}", f"{r['b']:,}", _delta(r["delta"])] for r in c["rules"]
    ]
    langs = [[escape(r["lang"]), f"{r['a']:,}", f"{r['b']:,}", _delta(r["delta"])] for r in c["languages"]]
    parts = [
        f"<h2>Compared with another run</h2><p>A: {escape(c['a'])}<br>B: {escape(c['b'])}</p>{warning}",
        f"<p>kept by both: {c['kept_by_both']:,}; only by A: {c['kept_only_by_a']['documents']:,}; "
        f"only by B: {c['kept_only_by_b']['documents']:,}</p>",
        table(["", "A", "B", "B − A"], totals),
        "<h3>Removed per rule</h3>" + table(["stage: rule", "A", "B", "B − A"], rules),
    ]
    if langs:
        parts.append("<h3>Languages kept</h3>" + table(["language", "A", "B", "B − A"], langs))
    for side, other, key, reasons in (
        ("A", "B", "kept_only_by_a", "removed_in_b_by"),
        ("B", "A", "kept_only_by_b", "removed_in_a_by"),
    ):
        group = c[key]
        if not group["documents"]:
            continue
        rows = [[escape(f"{r['stage']}: {r['rule']}"), f"{r['documents']:,}"] for r in group[reasons]]
        parts.append(
            f"<h3>Kept only by {side}: what {other} did with them</h3>" + table(["stage: rule", "documents"], rows)
        )
        for example in group["examples"]:
            reason = escape(f"{other}: {example.get('removed_by') or 'not seen'} {example.get('removed_detail') or ''}")
            parts.append(
                f'<div class="example kept"><p><b>kept by {side}</b> · <span class="value">{reason}</span> · '
                f"{escape(example.get('url') or example['id'])}</p><pre>{escape(example['text'])}</pre></div>"
            )
    return "".join(parts)


def print_comparison(console: Console, c: dict[str, Any]) -> None:
    console.print(f"[bold]compared[/]: A {c['a']}  B {c['b']}")
    if not c["same_input"]:
        console.print("[red]the two runs read different inputs: ids need not match")
    grid = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("", "A", "B", "B - A"):
        grid.add_column(column, justify="left" if not column else "right")
    for key, v in c["output"].items():
        grid.add_row(key.replace("_", " "), f"{v['a']:,}", f"{v['b']:,}", f"{v['b'] - v['a']:+,}")
    for r in c["rules"]:
        if r["delta"]:
            grid.add_row(f"{r['stage']}: {r['rule']}", f"{r['a']:,}", f"{r['b']:,}", f"{r['delta']:+,}")
    console.print(grid)
    for side, other, key, reasons in (
        ("A", "B", "kept_only_by_a", "removed_in_b_by"),
        ("B", "A", "kept_only_by_b", "removed_in_a_by"),
    ):
        group = c[key]
        top = ", ".join(f"{r['stage']}: {r['rule']} {r['documents']:,}" for r in group[reasons][:6])
        console.print(f"kept only by {side}: {group['documents']:,}" + (f"; in {other}: {top}" if top else ""))
    console.print(f"kept by both: {c['kept_by_both']:,}")


def _delta(value: int) -> str:
    return f"{value:+,}" if value else "0"
