"""The report on one screen: funnel, languages, lengths, duplicates, domains, time, and any failed check."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pipeline.report.cells import score_line, share, stage_counts
from pipeline.summary import size_text


def _table(title: str, *columns: str, first_width: int | None = None) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(columns):
        width = first_width if i == 0 else None
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i > 0, min_width=width)
    return table


def print_report(console: Console, figures: dict[str, Any]) -> None:
    run = figures["run"]
    console.print(f"[bold]gristmill report[/]: {run['path']} (gristmill {run['gristmill_version']})")
    funnel = _table("funnel", "stage / rule", "docs in", "kept", "removed", "share", "text out", first_width=26)
    for stage in figures["funnel"]:
        funnel.add_row(f"[bold]{stage['stage']}[/]", *stage_counts(stage), size_text(stage["bytes_out"]))
        for rule in stage["rules"]:
            part = share(rule["documents"], stage["docs_in"])
            funnel.add_row(
                f"  {rule['rule']}",
                "",
                "",
                f"{rule['documents']:,}",
                part,
                f"-{size_text(rule['bytes'])}" if rule["bytes"] else "",
            )
    console.print(funnel)
    output = figures["output"]
    console.print(
        f"kept: {output['documents']:,} documents, {size_text(output['text_bytes'])} of text "
        f"(~{output['estimated_tokens']:,} tokens) in {output['shards']:,} shards of {size_text(output['shard_bytes'])}"
    )
    languages = [
        [row["lang"], f"{row['documents']:,}", f"{row['share']:.1%}", size_text(row["text_bytes"])]
        for row in figures["languages"][:12]
    ]
    _print_table(console, "languages (kept)", ["lang", "documents", "share", "text"], languages)
    _print_lengths(console, figures["lengths"])
    for dup in figures["duplicates"]:
        clusters = (
            f"; {dup['clusters']:,} clusters of {dup['documents_in_clusters']:,} documents" if dup["clusters"] else ""
        )
        console.print(
            f"{dup['stage']}: removed {dup['removed']:,} of {dup['docs_in']:,} documents "
            f"({share(dup['removed'], dup['docs_in'])}, {size_text(dup['removed_bytes'])}){clusters}"
        )
    for scores in figures["scores"]:
        console.print(score_line(scores))
    domains = [
        [row["domain"], f"{row['kept']:,}", f"{row['removed']:,}", size_text(row["kept_bytes"])]
        for row in figures["domains"][:10]
    ]
    _print_table(console, "top domains", ["domain", "kept", "removed", "kept text"], domains)
    time = figures["time"]
    parts = ", ".join(f"{s['stage']} {s['seconds']:,.1f} s" for s in time["stages"] if s["seconds"] >= 0.05)
    console.print(f"time: {time['wall_seconds']:,.1f} s wall; task time by stage: {parts}")
    failed = [c for c in figures["checks"] if not c["ok"]]
    if failed:
        for check in failed:
            console.print(
                f"[red]check failed[/]: {check['what']}: stats say {check['expected']:,}, found {check['found']:,}"
            )
    else:
        console.print(f"[green]{len(figures['checks'])} checks[/]: the stats match the documents on disk")


def _print_table(console: Console, title: str, columns: list[str], rows: list[list[str]]) -> None:
    if rows:
        table = _table(title, *columns)
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _print_lengths(console: Console, lengths: dict[str, Any]) -> None:
    keys = ["mean", "p5", "p25", "p50", "p75", "p95"]
    rows = [
        [label, f"{lengths[key]['documents']:,}", *(f"{lengths[key][k]:,.0f}" for k in keys)]
        for label, key in (("entering filters", "entering_filters"), ("kept", "kept"))
        if lengths[key]["documents"]
    ]
    _print_table(console, "document length (UTF-8 bytes)", ["documents", "count", *keys], rows)
