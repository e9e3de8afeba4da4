"""`gristmill plan`'s figures as two tables (facts, memory per GPU): printed by `gristmill plan` and first by
`gristmill ablate`."""

from __future__ import annotations

from rich.console import Console

from model.plan import Plan


def print_plan(plan: Plan, console: Console) -> None:
    from rich.table import Table

    c = plan.config
    gib = 1 << 30
    facts = Table(title="gristmill plan", show_header=False, title_justify="left")
    facts.add_column(style="bold")
    facts.add_column()
    shape = f"d {c.d_model}, {c.n_layers} layers, {c.n_heads} heads ({c.kv_heads} kv), {c.mlp} {c.hidden}"
    facts.add_row("model", f"{shape}, vocab {c.vocab_size:,}, seq {c.seq_len:,}")
    facts.add_row(
        "parameters", f"{plan.parameters:,} ({plan.parameters - c.vocab_size * c.d_model:,} without the embedding)"
    )
    facts.add_row("FLOPs per token", f"{c.flops_per_token():,} (training: forward + backward)")
    ratio = plan.training_tokens / plan.chinchilla_tokens
    facts.add_row("tokens", f"{plan.training_tokens:,} ({ratio:.2f}x Chinchilla-optimal {plan.chinchilla_tokens:,})")
    facts.add_row("training FLOPs", f"{plan.training_flops:.3e}")
    hours = plan.seconds / 3600
    facts.add_row(
        "time",
        f"{hours:,.1f} h on {plan.gpus} x {plan.accelerator.name} at {100 * plan.mfu:.0f}% MFU "
        f"({hours * plan.gpus:,.0f} GPU-hours)",
    )
    console.print(facts)
    memory = Table(
        title=f"memory per GPU ({plan.optimizer}, {plan.parallel}, micro-batch {plan.micro_batch} x "
        f"{c.seq_len} tokens), GiB",
        title_justify="left",
    )
    memory.add_column("")
    memory.add_column("no checkpointing", justify="right")
    memory.add_column("activation checkpointing", justify="right")
    plain, checkpointed = plan.memory(False), plan.memory(True)
    for kind in plain:
        memory.add_row(kind, f"{plain[kind] / gib:,.2f}", f"{checkpointed[kind] / gib:,.2f}")
    fits = [
        ("fits" if m["total"] <= plan.accelerator.memory_gib * gib else "does not fit") for m in (plain, checkpointed)
    ]
    memory.add_row(f"on {plan.accelerator.memory_gib:g} GiB", *fits)
    console.print(memory)
