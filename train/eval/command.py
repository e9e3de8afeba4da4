"""`gristmill eval`: load the model once, read every text set and task (all checked before any scoring),
score everything with one progress bar, print a table per kind and write `--json` / `--per-example`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from train.eval.likelihood import score_requests
from train.eval.models import ScoringModel, load_model
from train.eval.scoring import evaluate_task, task_requests
from train.eval.tasks import read_task
from train.eval.texts import bits_per_byte, read_text_set, unit_bits


@dataclass
class EvalOptions:
    texts: list[str]
    tasks: list[str]
    text_field: str = "text"
    limit: int | None = None
    shots: int = 0
    fewshot_from: str | None = None
    batch_size: int = 16


def evaluate(model: ScoringModel, options: EvalOptions, console: Console) -> dict[str, Any]:
    """Figures of every text set and task: {"texts": [...], "tasks": [...], "examples": {task: records},
    "units": {set: (bits, bytes) of each document or packed window}}."""
    text_sets = [read_text_set(spec, model, options.text_field, options.limit) for spec in options.texts]
    tasks = [read_task(spec, options.limit, options.shots, options.fewshot_from) for spec in options.tasks]
    total = sum(len(s.requests) for s in text_sets) + sum(len(task_requests(model, t)) for t in tasks)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    found: dict[str, Any] = {"texts": [], "tasks": [], "examples": {}, "units": {}}
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("scoring", total=total)

        def advance(count: int) -> None:
            progress.advance(bar, count)

        for text_set in text_sets:
            progress.update(bar, description=f"bits per byte: {text_set.name}")
            logprobs = [s.logprobs for s in score_requests(model, text_set.requests, options.batch_size, advance)]
            found["texts"].append({"set": text_set.name} | bits_per_byte(text_set, logprobs))
            found["units"][text_set.name] = (unit_bits(text_set, logprobs), text_set.unit_bytes)
        for task in tasks:
            progress.update(bar, description=f"task: {task.name}")
            figures, records = evaluate_task(model, task, options.batch_size, advance)
            found["tasks"].append(figures)
            found["examples"][task.name] = records
    return found


def run_eval(
    location: str,
    options: EvalOptions,
    tokenizer: str | None,
    device: str | None,
    dtype: str,
    max_length: int | None,
    json_path: str | None,
    per_example: str | None,
    console: Console,
) -> dict:
    from gristmill_base.errors import UserError

    if not options.texts and not options.tasks:
        raise UserError("nothing to evaluate: give --text PATH and/or --task PATH")
    model = load_model(location, tokenizer, device, dtype, max_length)
    console.print(f"evaluating {model.name} on {model.device} (context {model.max_length:,} tokens)")
    began = time.perf_counter()
    found = evaluate(model, options, console)
    seconds = time.perf_counter() - began
    print_figures(console, found)
    console.print(f"{seconds:,.1f} s")
    summary = {
        "model": model.name,
        "device": str(model.device),
        "max_length": model.max_length,
        "seconds": round(seconds, 3),
        "texts": found["texts"],
        "tasks": found["tasks"],
    }
    if json_path:
        write_json_atomic(Path(json_path), summary)
        console.print(f"JSON: {json_path}")
    if per_example:
        lines = [
            json.dumps({"task": name, **record}) for name, records in found["examples"].items() for record in records
        ]
        write_text_atomic(Path(per_example), "".join(f"{line}\n" for line in lines))
        console.print(f"per example: {per_example}")
    return summary


def print_figures(console: Console, found: dict[str, Any]) -> None:
    if found["texts"]:
        table = Table(title="bits per byte", title_justify="left")
        for column in ("set", "documents", "tokens", "bytes", "bits/byte"):
            table.add_column(column, justify="left" if column == "set" else "right")
        for row in found["texts"]:
            table.add_row(
                row["set"],
                f"{row['documents']:,}",
                f"{row['tokens']:,}",
                f"{row['bytes']:,}",
                f"{row['bits_per_byte']:.4f}",
            )
        console.print(table)
    if found["tasks"]:
        table = Table(title="tasks", title_justify="left")
        for column in ("task", "format", "items", "acc", "acc_norm", "chance / perplexity"):
            table.add_column(column, justify="left" if column in ("task", "format") else "right")
        for row in found["tasks"]:
            cloze = row["format"] == "cloze"
            table.add_row(
                row["task"],
                row["format"],
                f"{row['items']:,}",
                _with_error(row["acc"], row["acc_stderr"]),
                "" if cloze else _with_error(row["acc_norm"], row["acc_norm_stderr"]),
                f"{row['perplexity']:,.2f}" if cloze else f"{row['chance']:.4f}",
            )
        console.print(table)


def _with_error(value: float, error: float | None) -> str:
    return f"{value:.4f} ± {error:.4f}" if error is not None else f"{value:.4f}"
