"""The report as one self-contained HTML file: inline CSS and SVG, no script, nothing fetched, so it opens
anywhere (an air-gapped cluster, a mail attachment). Every text from the data is escaped."""

from __future__ import annotations

from html import escape
from itertools import pairwise
from typing import Any

from pipeline.report.cells import score_line, share, stage_counts
from pipeline.report.charts import bar_chart, column_chart, figure
from pipeline.summary import size_text

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}tr.rule td:first-child{padding-left:26px;color:#555}
figure{margin:12px 0}figcaption{color:#666;font-size:12px}svg text{font-size:12px;fill:#333}
svg text.value,svg text.tick{font-size:11px;fill:#555}svg .axis{stroke:#999}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:18px}.ok{color:#2e7d32}.bad{color:#c62828}
details{border:1px solid #ddd;border-radius:6px;margin:8px 0;padding:6px 12px}summary{cursor:pointer}
.example{border-left:3px solid #ccc;margin:8px 0;padding:2px 10px}.removed{border-color:#c62828}
.kept{border-color:#2e7d32}.value{font-family:ui-monospace,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;padding:6px;max-height:240px;overflow:auto}
.muted{color:#777}
"""


def render_html(figures: dict[str, Any], extra_section: str = "") -> str:
    run = figures["run"]
    body = [
        f"<h1>gristmill report: {escape(run['path'])}</h1>",
        f'<p class="muted">gristmill {escape(run["gristmill_version"])}, run finished {escape(run["created"])}, '
        f"recipe sha256 {escape(run['recipe_sha256'][:16])}…</p>",
        _cards(figures),
        _funnel(figures),
        _lengths(figures["lengths"]),
        _languages(figures["languages"]),
        _duplicates(figures["duplicates"]),
        _scores(figures["scores"]),
        _domains(figures["domains"]),
        _time(figures["time"]),
        _examples(figures["examples"]),
        extra_section,
        _checks(figures["checks"]),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>gristmill report: {escape(run["path"])}</title>'
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )


def table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """Cells are HTML already (callers escape data); `classes` names a class per row."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    lines = []
    for i, row in enumerate(rows):
        css = f' class="{classes[i]}"' if classes and classes[i] else ""
        lines.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _cards(figures: dict[str, Any]) -> str:
    first, output = figures["funnel"][0], figures["output"]
    failed = sum(not c["ok"] for c in figures["checks"])
    checks = (
        f'<span class="ok">all {len(figures["checks"])} match</span>'
        if not failed
        else f'<span class="bad">{failed} of {len(figures["checks"])} differ</span>'
    )
    cards = [
        ("documents in", f"{first['docs_in']:,}"),
        ("documents kept", f"{output['documents']:,} ({share(output['documents'], first['docs_in'])})"),
        ("text kept", size_text(output["text_bytes"])),
        ("estimated tokens", f"{output['estimated_tokens']:,}"),
        ("shards", f"{output['shards']:,} ({size_text(output['shard_bytes'])})"),
        ("wall time", f"{figures['time']['wall_seconds']:,.1f} s"),
        ("stats vs. files", checks),
    ]
    return '<div class="cards">' + "".join(f'<div class="card">{k}<b>{v}</b></div>' for k, v in cards) + "</div>"


def _funnel(figures: dict[str, Any]) -> str:
    funnel = figures["funnel"]
    chart = bar_chart([(s["stage"], [s["docs_in"], s["kept"]]) for s in funnel], ["documents in", "kept"])
    rows, classes = [], []
    for stage in funnel:
        rows.append(
            [
                f"<b>{escape(stage['stage'])}</b>",
                *stage_counts(stage),
                size_text(stage["bytes_in"]),
                size_text(stage["bytes_out"]),
            ]
        )
        classes.append("")
        for rule in stage["rules"]:
            rows.append(
                [
                    f'<a href="#rule-{escape(stage["stage"])}-{escape(rule["rule"])}">{escape(rule["rule"])}</a>',
                    "",
                    "",
                    f"{rule['documents']:,}",
                    share(rule["documents"], stage["docs_in"]),
                    "",
                    f"−{size_text(rule['bytes'])}" if rule["bytes"] else "",
                ]
            )
            classes.append("rule")
    header = ["stage / rule", "docs in", "kept", "removed", "share", "bytes in", "bytes out"]
    rules = [(f"{s['stage']}: {r['rule']}", [r["documents"]]) for s in funnel for r in s["rules"]]
    rule_chart = figure("removals", "documents removed by each rule", bar_chart(rules, ["removed"])) if rules else ""
    skipped = ", ".join(f"{escape(k)} {v:,}" for k, v in figures["skipped"].items())
    note = f'<p class="muted">records that are not documents (counted, not written): {skipped}</p>' if skipped else ""
    return (
        "<h2>Funnel</h2>"
        + figure("funnel", "documents entering and kept by each stage, in recipe order", chart)
        + table(header, rows, classes)
        + note
        + rule_chart
    )


def _lengths(lengths: dict[str, Any]) -> str:
    histogram = lengths["histogram"]
    edges = histogram["edges"]
    labels = [size_text(e).replace(" ", "") for e in edges[:-1]] + [f"≥{size_text(edges[-1]).replace(' ', '')}"]
    chart = column_chart(
        labels,
        [("entering filters", histogram["entering_filters"]), ("kept", histogram["kept"])],
        lambda v: f"{v:,.0f}",
    )
    keys = ["mean", "p1", "p5", "p25", "p50", "p75", "p95", "p99", "max"]
    rows = []
    for label, key in (("entering filters", "entering_filters"), ("kept", "kept")):
        row = lengths[key]
        if row["documents"]:
            rows.append([label, f"{row['documents']:,}", *(f"{row[k]:,.0f}" for k in keys)])
    caption = "documents per length bin (UTF-8 bytes, bins double in size), before the filters and kept"
    return "<h2>Document length</h2>" + figure("lengths", caption, chart) + table(["", "documents", *keys], rows)


def _languages(languages: list[dict[str, Any]]) -> str:
    if not languages:
        return '<h2>Languages</h2><p class="muted">no language identification in this recipe</p>'
    chart = bar_chart([(row["lang"], [row["documents"]]) for row in languages[:25]], ["documents"])
    rows = [
        [escape(r["lang"]), f"{r['documents']:,}", f"{r['share']:.1%}", size_text(r["text_bytes"])] for r in languages
    ]
    return (
        "<h2>Languages</h2>"
        + figure("languages", "kept documents per language (fastText lid.176)", chart)
        + table(["language", "documents", "share", "text"], rows)
    )


def _duplicates(duplicates: list[dict[str, Any]]) -> str:
    if not duplicates:
        return '<h2>Duplicates</h2><p class="muted">no dedup stage in this recipe</p>'
    parts = ["<h2>Duplicates</h2>"]
    for dup in duplicates:
        parts.append(
            f"<h3>{escape(dup['stage'])}</h3><p>removed {dup['removed']:,} of {dup['docs_in']:,} documents "
            f"({share(dup['removed'], dup['docs_in'])}, {size_text(dup['removed_bytes'])})"
            + (
                f"; {dup['clusters']:,} clusters of {dup['documents_in_clusters']:,} documents"
                if dup["clusters"]
                else ""
            )
            + "</p>"
        )
        if dup["cluster_sizes"]:
            rows = [(f"{size} documents", [count]) for size, count in dup["cluster_sizes"].items()][:30]
            caption = "clusters by size (a cluster keeps one document)"
            parts.append(figure(f"clusters-{dup['stage']}", caption, bar_chart(rows, ["clusters"])))
    return "".join(parts)


def _scores(stages: list[dict[str, Any]]) -> str:
    """Per scoring stage: its scores passed and removed per bin, and the documents nearest its threshold."""
    if not stages:
        return ""
    parts = ["<h2>Classifier scores</h2>"]
    for stage in stages:
        histogram = stage["histogram"]
        edges = histogram["edges"]
        labels = [f"{low:.2f}–{high:.2f}" for low, high in pairwise(edges)]
        chart = column_chart(
            labels, [("passed", histogram["passed"]), ("removed", histogram["removed"])], lambda v: f"{v:,.0f}"
        )
        caption = f"documents per {stage['column']} bin, passed and removed by {stage['stage']}"
        parts += [f"<h3>{escape(stage['stage'])}</h3><p>{escape(score_line(stage))}</p>"]
        parts.append(figure(f"scores-{stage['stage']}", caption, chart))
        for kind, side, title in (
            ("kept", "nearest_passed", "passed with the lowest scores"),
            ("removed", "nearest_removed", "removed with the highest scores"),
        ):
            if stage[side]:
                parts.append(f'<p class="muted">{title}:</p>')
                parts += [_scored_example(row, kind) for row in stage[side]]
    return "".join(parts)


def _scored_example(row: dict[str, Any], kind: str) -> str:
    return (
        f'<div class="example {kind}"><p><b>{kind}</b> · <span class="value">score {row["score"]:.4g}</span> · '
        f"{escape(row['url'] or row['id'])}</p><pre>{escape(row['text'])}</pre></div>"
    )


def _domains(domains: list[dict[str, Any]]) -> str:
    if not domains:
        return '<h2>Top domains</h2><p class="muted">no URLs in this input</p>'
    chart = bar_chart([(d["domain"], [d["kept"], d["removed"]]) for d in domains], ["kept", "removed"])
    return "<h2>Top domains</h2>" + figure("domains", "documents per domain, kept and removed", chart)


def _time(time: dict[str, Any]) -> str:
    rows = [[escape(s["stage"]), f"{s['seconds']:,.1f} s"] for s in time["stages"]]
    return (
        f"<h2>Time</h2><p>{time['wall_seconds']:,.1f} s of wall time; task time (summed over tasks) by stage:</p>"
        + table(["stage", "task time"], rows)
    )


def _examples(examples: list[dict[str, Any]]) -> str:
    parts = [
        '<h2>Examples per rule</h2><p class="muted">Removed: a sample of what the rule removed, with the value it '
        "measured. Kept: the kept documents nearest the rule's threshold, measured again by the same code on the "
        "text as it was kept (a later stage that rewrites text, such as c4 or pii, can move that value). Dedup "
        "rules show the document a copy duplicates, and documents kept for their cluster.</p>"
    ]
    if not examples:
        parts.append('<p class="muted">no rule removed anything</p>')
    for group in examples:
        anchor = f"rule-{group['stage']}-{group['rule']}"
        parts.append(
            f'<details open id="{escape(anchor)}" class="rule-examples"><summary><b>{escape(group["rule"])}</b> '
            f'<span class="muted">({escape(group["stage"])}): {len(group["removed"])} removed, '
            f"{len(group['kept'])} kept examples</span></summary>"
        )
        parts += [_example(row, "removed") for row in group["removed"]]
        parts += [_example(row, "kept") for row in group["kept"]]
        parts.append("</details>")
    return "".join(parts)


def _example(row: dict[str, Any], kind: str) -> str:
    value = escape(row["value"]) if row.get("value") else '<span class="muted">no measured value</span>'
    more = f" … ({row['text_bytes']:,} bytes in all)" if row.get("truncated") else ""
    original = (
        f'<p class="muted">the kept document it duplicates:</p><pre>{escape(row["original"])}</pre>'
        if row.get("original")
        else ""
    )
    return (
        f'<div class="example {kind}"><p><b>{kind}</b> · <span class="value">{value}</span> · '
        f"{escape(row.get('url') or row['id'])}</p><pre>{escape(row['text'])}{more}</pre>{original}</div>"
    )


def _checks(checks: list[dict[str, Any]]) -> str:
    rows = [
        [
            escape(c["what"]),
            f"{c['expected']:,}",
            f"{c['found']:,}",
            '<span class="ok">ok</span>' if c["ok"] else '<span class="bad">differs</span>',
        ]
        for c in checks
    ]
    return "<h2>Checks: stats against the files</h2>" + table(["what", "stats", "on disk", ""], rows)
