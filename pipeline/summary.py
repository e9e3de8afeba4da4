"""The one-screen summary at the end of a run, from the per-task stats files."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gristmill_base.atomic import write_json_atomic


@dataclass
class StageTotals:
    stage: str
    tasks: int = 0
    docs_in: int = 0
    kept: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    removed_bytes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    files: int = 0
    empty_inputs: dict[str, str] = field(default_factory=dict)


def load_stage_totals(run_dir: Path, stages: list[str]) -> list[StageTotals]:
    totals = []
    for stage in stages:
        total = StageTotals(stage)
        for path in sorted((run_dir / "stats" / stage).glob("task-*.json")):
            data = json.loads(path.read_text())
            total.tasks += 1
            for name in ("docs_in", "kept", "bytes_in", "bytes_out", "seconds", "files"):
                setattr(total, name, getattr(total, name) + data[name])
            total.removed.update(data["removed"])
            total.removed_bytes.update(data.get("removed_bytes", {}))
            total.skipped.update(data["skipped"])
            total.empty_inputs.update(data.get("empty_inputs", {}))  # absent in run folders of earlier versions
        totals.append(total)
    return totals


def save_summary(run_dir: Path, totals: list[StageTotals], wall_seconds: float) -> None:
    write_json_atomic(
        run_dir / "stats" / "summary.json",
        {"wall_seconds": round(wall_seconds, 3), "stages": [_as_json(t) for t in totals]},
    )


def _as_json(totals: StageTotals) -> dict[str, Any]:
    data = {name: getattr(totals, name) for name in totals.__dataclass_fields__}
    data["removed"] = dict(totals.removed.most_common())
    data["removed_bytes"] = {rule: totals.removed_bytes[rule] for rule in data["removed"]}
    data["skipped"] = dict(totals.skipped.most_common())
    return data


def size_text(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return str(n)


def print_summary(
    console: Console,
    run_dir: Path,
    totals: list[StageTotals],
    manifest: dict[str, Any],
    wall_seconds: float,
    clusters: dict[str, dict[str, Any] | None] | None = None,
) -> None:
    stages = Table(title=f"gristmill run: {run_dir}", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("stage", "docs in", "kept", "removed", "bytes in", "bytes out", "task s", "docs/task s"):
        stages.add_column(column, justify="left" if column == "stage" else "right", no_wrap=column == "stage")
    for t in totals:
        rate = f"{t.docs_in / t.seconds:,.0f}" if t.seconds > 0 else "-"
        stages.add_row(
            t.stage,
            f"{t.docs_in:,}",
            f"{t.kept:,}",
            f"{sum(t.removed.values()):,}",
            size_text(t.bytes_in),
            size_text(t.bytes_out),
            f"{t.seconds:,.1f} s",
            rate,
        )
    console.print(stages)
    reasons = Table(title="removed, by reason", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("stage", "reason", "docs", "share"):
        reasons.add_column(column, justify="right" if column in ("docs", "share") else "left", no_wrap=True)
    for t in totals:
        for rule, count in t.removed.most_common():
            reasons.add_row(t.stage, rule, f"{count:,}", f"{count / max(t.docs_in, 1):.1%}")
    if reasons.row_count:
        console.print(reasons)
    skipped = Counter[str]()
    for t in totals:
        skipped.update(t.skipped)
    if skipped:
        listed = ", ".join(f"{name} {count:,}" for name, count in skipped.most_common())
        console.print(f"not documents (counted, not written): {listed}")
    for stage, stats in (clusters or {}).items():
        if stats:
            console.print(f"{stage}: {describe_clusters(stats)}")
    first = totals[0]
    rate = first.docs_in / max(wall_seconds, 1e-9)
    console.print(
        f"[bold]{manifest['documents']:,} documents[/] in {len(manifest['shards'])} "
        f"shard{'' if len(manifest['shards']) == 1 else 's'} "
        f"({size_text(manifest['bytes'])}) at {run_dir / 'shards'}; "
        f"{first.docs_in:,} documents in {wall_seconds:,.1f} s of wall time = {rate:,.0f} docs/s"
    )
    console.print(f"what each rule removed and kept, with examples: gristmill report {run_dir} --html report.html")


def print_empty_inputs(console: Console, empty: dict[str, str], exit_status: int | None) -> None:
    """Input files that yielded no document at all (a file of another format, an empty or unreadable one), each
    with what it held instead; last and in red unless allowed (`exit_status` None), since the counted lines
    above are easy to miss."""
    if not empty:
        return
    count = f"{len(empty)} input file{'' if len(empty) == 1 else 's'}"
    if exit_status is None:
        console.print(f"{count} yielded no document (allowed by allow_empty_inputs):")
    else:
        console.print(f"[bold red]{count} yielded no document at all:[/]")
    for path, held in sorted(empty.items()):
        console.print(f"  {escape(path)}  ({escape(held)})", soft_wrap=True)  # whole, to be copied
    if exit_status is not None:
        console.print(
            f"[red]so this run is not a success (exit status {exit_status}), although its shards are written: check "
            "these inputs, or pass --allow-empty-inputs (or set allow_empty_inputs = true under \\[run]) if they "
            "may hold no document.[/]"
        )


def describe_clusters(stats: dict[str, Any]) -> str:
    """One line: how many clusters, how big, and what it cost."""
    sizes = {int(size): count for size, count in stats["cluster_sizes"].items()}
    buckets: Counter[str] = Counter()
    for size, count in sizes.items():
        low = 1 << (size.bit_length() - 1)
        buckets[str(size) if size < 4 else f"{low}-{2 * low - 1}"] += count
    shown = ", ".join(f"{label}: {count:,}" for label, count in buckets.items())
    return (
        f"{stats['clusters']:,} clusters of {stats['documents_in_clusters']:,} documents "
        f"({stats['removed']:,} removed; largest {max(sizes, default=0):,}); sizes {shown or '-'}; "
        f"{stats['candidate_pairs']:,} candidate pairs, {stats['verified_pairs']:,} kept; "
        f"clustered {stats['documents']:,} documents in {stats['seconds']:.1f} s"
    )
