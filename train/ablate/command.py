"""`gristmill ablate`: the plan first, then every step of `train.ablate.steps` (each resumable), then the table
on the terminal, OUTPUT/results.json and OUTPUT/report.html."""

from __future__ import annotations

import time
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from gristmill_base.named import split_named
from train.ablate.compare import comparison_rows
from train.ablate.page import difference_text, render_page
from train.ablate.steps import AblateOptions, Ablation
from train.output_folder import HeldFolder


def run_ablation(options: AblateOptions, gpu: str | None, console: Console, restart: bool = False) -> dict[str, Any]:
    """The ablation in `options.output`, continuing one there; `restart`: that one moved aside first. The folder is
    held for the whole command (each run's training holds its own run folder inside it as well)."""
    ablation = Ablation(options, console)
    with HeldFolder(ablation.output, "gristmill ablate", "--output") as held:
        if restart and held.holds_files():
            console.print(f"--restart: the earlier ablation is now {held.move_aside(_inputs(ablation), '--restart')}")
        return _ablate(ablation, gpu, console)


def _inputs(ablation: Ablation) -> list[tuple[str, str | None]]:
    """What the ablation reads, by flag: --restart must not move it away with the folder."""
    options = ablation.options
    found: list[tuple[str, str | None]] = [(f"run {run.name}", str(run.folder)) for run in ablation.runs]
    found += [(flag, split_named(spec)[1]) for flag, specs in (("--text", options.texts), ("--task", options.tasks))
              for spec in specs]  # fmt: skip
    return [*found, ("--config", options.config), ("--tokenizer", options.tokenizer)]


def _ablate(ablation: Ablation, gpu: str | None, console: Console) -> dict[str, Any]:
    began = time.perf_counter()
    options = ablation.options
    print_plan_first(ablation, gpu, console)
    ablation.check_inputs()
    documents = ablation.documents()
    tokenizer = ablation.tokenizer(documents)
    held_out = ablation.held_out_set(documents)
    selections = ablation.training_data(documents, tokenizer)
    ablation.train(ablation.train_configs(tokenizer))
    results = ablation.evaluate(held_out)
    names = [run.name for run in ablation.runs]
    rows = comparison_rows(names, results)
    summary = {
        "runs": names,
        "training_tokens": ablation.training_tokens,
        "steps": ablation.steps,
        "seed": options.seed,
        "tokenizer": str(tokenizer),
        "selections": selections,
        "rows": rows,
    }
    write_json_atomic(ablation.output / "results.json", summary)
    facts = _facts(ablation, selections, str(tokenizer))
    curves = {name: ablation.output / "train" / name / "metrics.jsonl" for name in names}
    page = render_page(f"gristmill ablate: {', '.join(names)}", facts, rows, curves)
    write_text_atomic(ablation.output / "report.html", page)
    print_table(console, rows)
    for key, value in facts:
        console.print(f"[bold]{key}[/]: {value}")
    console.print(
        f"results: {ablation.output / 'results.json'}; page: {ablation.output / 'report.html'} "
        f"({time.perf_counter() - began:,.1f} s)"
    )
    return summary


def print_plan_first(ablation: Ablation, gpu: str | None, console: Console) -> None:
    """`gristmill plan`'s figures for one run, and how the runs will be spread."""
    from model.config import preset
    from model.hardware import accelerator
    from model.plan import Plan
    from train.plan_view import print_plan

    config = ablation.config
    here = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    chosen = accelerator(gpu or here or "H100")
    vocab = ablation.options.vocab_size
    model = preset(
        config["model"].get("preset", "tiny"),
        vocab_size=vocab,
        seq_len=config["data"]["seq_len"],
        **config["model"].get("overrides", {}),
    )
    if chosen is not None:
        plan = Plan(
            model,
            chosen,
            ablation.training_tokens,
            1,
            0.4,
            config["data"]["micro_batch"],
            config.get("optim", {}).get("name", "adamw"),
        )
        print_plan(plan, console)
    gpus = torch.cuda.device_count()
    spread = f"in parallel on {gpus} GPUs" if gpus > 1 else "one after another"
    where = "" if here else " (this machine has no GPU: the CPU is far slower than the plan's GPU)"
    console.print(
        f"ablate: {len(ablation.runs)} runs x {ablation.training_tokens:,} tokens ({ablation.steps:,} "
        f"steps), {spread}{where}"
    )


def print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    runs = list(rows[0]["values"])
    table = Table(
        title="ablation: difference from the first run ± paired standard error, * beyond twice it", title_justify="left"
    )
    for column in ("set", "metric", *runs):
        table.add_column(column, justify="left" if column in ("set", "metric") else "right")
    for row in rows:
        cells = [row["set"], row["metric"], f"{row['values'][runs[0]]:.4f}"]
        cells += [f"{row['values'][d['run']]:.4f} ({difference_text(d)})" for d in row["differences"]]
        table.add_row(*cells)
    console.print(table)


def _facts(ablation: Ablation, selections: dict[str, dict[str, Any]], tokenizer: str) -> list[tuple[str, str]]:
    facts = [
        (
            "training",
            f"{ablation.training_tokens:,} tokens per run ({ablation.steps:,} steps), seed {ablation.options.seed}",
        ),
        ("tokenizer", tokenizer),
    ]
    for name, chosen in selections.items():
        repeated = (
            f", repeated {chosen['epochs']:.2f} times (the run is smaller than the budget)"
            if chosen["repeated"]
            else ""
        )
        facts.append((name, f"{chosen['documents']:,} documents, {chosen['tokens']:,} tokens{repeated}"))
    return facts
