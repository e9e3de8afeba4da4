"""`gristmill report`: compute the figures once, then show them on screen and write the files asked for."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from gristmill_base.atomic import write_text_atomic
from gristmill_base.errors import UserError
from pipeline.report.compare import compare_runs, comparison_html, print_comparison
from pipeline.report.figures import compute_figures
from pipeline.report.html import render_html
from pipeline.report.run_folder import RunFolder
from pipeline.report.terminal import print_report

MAX_SAMPLES = 100


def report(
    run_dir: str,
    html: str | None = None,
    json_path: str | None = None,
    samples: int = 3,
    compare: str | None = None,
    console: Console | None = None,
) -> int:
    console = console or Console()
    if not 0 <= samples <= MAX_SAMPLES:
        raise UserError(f"--samples: expected a number from 0 to {MAX_SAMPLES}, got {samples}")
    run = RunFolder.open(run_dir)
    other = RunFolder.open(compare) if compare else None
    with console.status(f"measuring the documents of {run.path}"):
        figures = compute_figures(run, samples)
    comparison = None
    if other:
        with console.status(f"measuring the documents of {other.path} and joining the two runs"):
            comparison = compare_runs(run, other, figures, compute_figures(other, samples), samples)
        figures["compare"] = comparison
    print_report(console, figures)
    if comparison:
        print_comparison(console, comparison)
    if html:
        write_text_atomic(_output(html), render_html(figures, comparison_html(comparison) if comparison else ""))
        console.print(f"HTML report: {html}")
    if json_path:
        write_text_atomic(_output(json_path), json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
        console.print(f"JSON figures: {json_path}")
    return 1 if any(not check["ok"] for check in figures["checks"]) else 0


def _output(path: str) -> Path:
    target = Path(path)
    if target.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target
