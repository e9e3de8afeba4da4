"""The ablation as one self-contained HTML page in the style of `gristmill report`: the table of scores and
differences, and each run's training loss by step."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from pipeline.report.charts import figure, line_chart
from pipeline.report.html import CSS, table


def render_page(title: str, facts: list[tuple[str, str]], rows: list[dict[str, Any]], curves: dict[str, Path]) -> str:
    body = [f"<h1>{escape(title)}</h1>", table(["", ""], [[escape(k), escape(v)] for k, v in facts])]
    body.append("<h2>Scores</h2>")
    body.append(table(*_score_table(rows)))
    body.append('<p class="muted">difference: from the first run; ± its paired standard error; '
                "* where it exceeds twice that error.</p>")  # fmt: skip
    series = [(name, _losses(path)) for name, path in curves.items()]
    body.append("<h2>Training</h2>")
    body.append(figure("loss", "training loss by step, per run", line_chart(series, "step", "loss (nats per token)")))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<link rel="icon" href="data:,"><title>{escape(title)}</title><style>{CSS}</style></head>'
        f"<body>{''.join(body)}</body></html>"
    )


def _score_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    runs = list(rows[0]["values"]) if rows else []
    header = ["set", "metric", *runs]
    lines = []
    for row in rows:
        cells = [escape(row["set"]), escape(row["metric"]), f"{row['values'][runs[0]]:.4f}"]
        for difference in row["differences"]:
            cells.append(f"{row['values'][difference['run']]:.4f} ({escape(difference_text(difference))})")
        lines.append(cells)
    return header, lines


def difference_text(difference: dict[str, Any]) -> str:
    """`+0.0123 ± 0.0040*`: the star where the difference exceeds twice its standard error."""
    error = difference["stderr"]
    text = f"{difference['difference']:+.4f}" + (f" ± {error:.4f}" if error is not None else "")
    return text + ("*" if difference["significant"] else "")


def _losses(metrics: Path) -> list[tuple[float, float]]:
    if not metrics.is_file():
        return []
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return [(float(r["step"]), float(r["loss"])) for r in records]
