"""`gristmill eval`: read every text set and task (all checked before the model loads, so a bad file costs no
model load), load the model once, score everything with one progress bar, print a table per kind, saying what
started each context, and write `--json` / `--per-example`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from gristmill_base.errors import UserError
from gristmill_base.named import split_named
from train.eval.likelihood import context_prefix, score_requests
from train.eval.models import ScoringModel, load_model
from train.eval.scoring import evaluate_task, task_requests
from train.eval.tasks import Task, named_path, read_task
from train.eval.texts import TextSource, bits_per_byte, read_text_source, text_set_for, unit_bits


@dataclass
class EvalOptions:
    texts: list[str]
    tasks: list[str]
    text_field: str = "text"
    limit: int | None = None
    shots: int = 0
    fewshot_from: list[str] = field(default_factory=list)  # [TASK=]FILE: a task's examples, or every task's
    batch_size: int = 16


@dataclass
class EvalInputs:
    """Every text set and task, read and checked: what needs no model."""

    texts: list[TextSource]
    tasks: list[Task]


def read_inputs(options: EvalOptions) -> EvalInputs:
    texts = [read_text_source(spec, options.text_field, options.limit) for spec in options.texts]
    pools = fewshot_pools(options.fewshot_from, [named_path(spec)[0] for spec in options.tasks])
    tasks = [read_task(spec, options.limit, options.shots, pools.get(named_path(spec)[0])) for spec in options.tasks]
    return EvalInputs(texts, tasks)


def fewshot_pools(specs: list[str], names: list[str]) -> dict[str, str]:
    """Each task's few-shot file: `TASK=FILE` names it for one task, a bare `FILE` for every other one."""
    named: dict[str, str] = {}
    shared = ""
    for spec in specs:
        name, path = split_named(spec)
        if name and name not in names:
            raise UserError(f"--fewshot-from {spec}: no task is named {name} (tasks: {', '.join(names)})")
        if name:
            named[name] = path
        else:
            shared = path
    return {name: named.get(name, shared) for name in names if named.get(name, shared)}


def evaluate(
    model: ScoringModel, options: EvalOptions, console: Console, inputs: EvalInputs | None = None
) -> dict[str, Any]:
    """Figures of every text set and task (`inputs`, else read from `options`): {"texts": [...], "tasks": [...],
    "examples": {task: records}, "units": {set: (bits, bytes) of each document or packed window}}."""
    inputs = inputs or read_inputs(options)
    text_sets = [text_set_for(source, model) for source in inputs.texts]
    tasks = inputs.tasks
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
    prefix: str = "auto",
) -> dict:
    if not options.texts and not options.tasks:
        raise UserError("nothing to evaluate: give --text PATH and/or --task PATH")
    inputs = read_inputs(options)
    model = load_model(location, tokenizer, device, dtype, max_length, prefix)
    console.print(f"evaluating {model.name} on {model.device} (context {model.max_length:,} tokens)")
    began = time.perf_counter()
    found = evaluate(model, options, console, inputs)
    seconds = time.perf_counter() - began
    started = {"rule": model.prefix_rule, "token": context_prefix(model)}
    print_figures(console, found, started)
    console.print(f"{seconds:,.1f} s")
    summary = {
        "model": model.name,
        "device": str(model.device),
        "max_length": model.max_length,
        "context_prefix": started,
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


def prefix_caption(started: dict[str, Any]) -> str:
    """What started each context, under the task table."""
    token, rule = started["token"], started["rule"]
    first = f"contexts start with {token}" if token else "contexts start with their own first token"
    if rule == "tokenizer":
        added = "adds it" if token else "adds none"
        return f"{first}: the model's tokenizer {added}, as in lm-evaluation-harness by default (--prefix-token auto)"
    return f"{first} (--prefix-token {rule})"


def print_figures(console: Console, found: dict[str, Any], started: dict[str, Any]) -> None:
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
        caption = prefix_caption(started)
        table = Table(title="tasks", title_justify="left", caption=caption, caption_justify="left")
        table.add_column("task", overflow="fold")  # a long name folds; the figures are never cut
        table.add_column("format", no_wrap=True)
        for column in ("items", "acc", "acc_norm", "chance / ppl"):
            table.add_column(column, justify="right", no_wrap=True)
        for row in found["tasks"]:
            cloze = row["format"] == "cloze"
            table.add_row(
                row["task"],
                row["format"],
                f"{row['items']:,}",
                _with_error(row["acc"], row["acc_stderr"]),
                "" if cloze else _with_error(row["acc_norm"], row["acc_norm_stderr"]),
                _perplexity(row["perplexity"]) if cloze else f"{row['chance']:.4f}",
            )
        console.print(table)


def _perplexity(value: float) -> str:
    """An untrained model's perplexity runs to billions: past a million, in powers of ten, so it fits."""
    return f"{value:,.2f}" if value < 1e6 else f"{value:.3e}"


def _with_error(value: float, error: float | None) -> str:
    return f"{value:.4f}±{error:.4f}" if error is not None else f"{value:.4f}"
