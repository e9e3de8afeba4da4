"""`gristmill generate | export | eval | plan`: argument handling for what users reach for around training; the work
is in `train.generate_command`, `train.export`, `train.eval` and `model.plan`. Every user mistake is a UserError."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.console import Console

from gristmill_base.errors import UserError

if TYPE_CHECKING:
    from model.plan import Plan


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def add_parsers(commands: argparse._SubParsersAction) -> None:
    generate = commands.add_parser(
        "generate",
        help="generate text from a checkpoint (KV cache; streams one prompt, batches a prompt file)",
        description="Sample text from a trained checkpoint with its own tokenizer.",
    )
    generate.add_argument("--checkpoint", required=True, metavar="CKPT", help="a step folder or a training output")
    generate.add_argument("--prompt", metavar="TEXT", help="one prompt, streamed")
    generate.add_argument("--prompt-file", metavar="FILE", help="one prompt per line, generated in batches")
    generate.add_argument("--max-new-tokens", type=_positive, default=200, metavar="N")
    generate.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0: greedy (default 0.8)")
    generate.add_argument("--top-k", type=_positive, metavar="K", help="sample among the K most likely tokens")
    generate.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling: the top tokens with mass P")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--tokenizer", metavar="DIR", help="default: the folder the checkpoint records")
    generate.add_argument("--batch-size", type=_positive, default=16, metavar="B", help="prompts per batch")
    generate.add_argument("--output", metavar="FILE.jsonl", help="also write {prompt, completion} lines")
    generate.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    generate.set_defaults(handler=cmd_generate)

    export = commands.add_parser(
        "export",
        help="write a checkpoint as a Hugging Face transformers folder (Llama or Qwen3)",
        description="A transformers folder: config.json, model.safetensors, tokenizer.json, tokenizer_config.json.",
    )
    export.add_argument("--checkpoint", required=True, metavar="CKPT", help="a step folder or a training output")
    export.add_argument("--format", choices=["hf"], default="hf", help="hf: Hugging Face transformers (the only one)")
    export.add_argument("--output", required=True, metavar="DIR")
    export.add_argument("--tokenizer", metavar="DIR", help="default: the folder the checkpoint records")
    export.set_defaults(handler=cmd_export)

    evaluate = commands.add_parser(
        "eval",
        help="bits per byte on text sets and accuracy on multiple-choice / cloze tasks of a checkpoint or HF folder",
        description="Score a gristmill checkpoint or a Hugging Face folder: bits per byte on text (files, JSONL, "
        "Parquet, run folders, a packed folder's val split) and tasks (gristmill's JSONL form, HellaSwag, ARC, "
        "PIQA, Winogrande, LAMBADA files; see docs/formats.md). Nothing is downloaded.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="a checkpoint step folder, a training output or an HF folder")
    evaluate.add_argument("--text", action="append", default=[], metavar="[NAME=]PATH", help="a text set (repeatable)")
    evaluate.add_argument("--task", action="append", default=[], metavar="[NAME=]PATH", help="a task file (repeatable)")
    evaluate.add_argument("--text-field", default="text", metavar="F", help="JSONL/Parquet field of the text sets")
    evaluate.add_argument("--limit", type=_positive, metavar="N", help="the first N documents / items of each")
    evaluate.add_argument("--shots", type=int, default=0, metavar="K", help="solved examples shown before each item")
    evaluate.add_argument("--fewshot-from", metavar="FILE", help="the task file the --shots examples come from")
    evaluate.add_argument("--batch-size", type=_positive, default=16, metavar="B", help="sequences per forward pass")
    evaluate.add_argument("--max-length", type=_positive, metavar="N", help="context length (default: the model's)")
    evaluate.add_argument("--tokenizer", metavar="DIR", help="a checkpoint's tokenizer (default: the one it records)")
    evaluate.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    evaluate.add_argument("--dtype", choices=["auto", "fp32", "bf16"], default="auto", help="auto: bf16 on a GPU")
    evaluate.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    evaluate.add_argument("--per-example", metavar="FILE.jsonl", help="write each item's log-likelihoods")
    evaluate.set_defaults(handler=cmd_eval)

    plan = commands.add_parser(
        "plan",
        help="parameters, FLOPs, Chinchilla tokens, memory per GPU and time of a training run",
        description="Estimate a run before it runs: a preset or dims, a token budget and the GPUs.",
    )
    plan.add_argument("--preset", default="124m", help="tiny, 124m, 350m or 1b (default 124m); dims override it")
    for flag, field in (("--d-model", "d_model"), ("--layers", "n_layers"), ("--heads", "n_heads"),
                        ("--kv-heads", "n_kv_heads"), ("--vocab", "vocab_size"), ("--seq-len", "seq_len"),
                        ("--d-mlp", "d_mlp")):  # fmt: skip
        plan.add_argument(flag, type=_positive, dest=field, metavar="N")
    plan.add_argument("--mlp", choices=["swiglu", "relu2"])
    plan.add_argument("--tokens", metavar="N", help="training tokens, e.g. 10B (default: Chinchilla-optimal)")
    plan.add_argument("--gpu", default="H100", help="A100, H100, H200, B200, ... (default H100)")
    plan.add_argument("--gpus", type=_positive, default=1, metavar="N", help="data-parallel GPUs")
    plan.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation to assume (default 0.4)")
    plan.add_argument("--micro-batch", type=_positive, default=8, metavar="B", help="sequences per GPU per pass")
    plan.add_argument("--optimizer", choices=["adamw", "muon"], default="adamw")
    plan.add_argument("--parallel", choices=["ddp", "fsdp"], default="ddp")
    plan.set_defaults(handler=cmd_plan)


def cmd_generate(args: argparse.Namespace) -> int:
    from model.generate import Sampling
    from train.generate_command import run_generate

    try:
        sampling = Sampling(args.temperature, args.top_k, args.top_p)
    except ValueError as error:
        raise UserError(str(error)) from None
    run_generate(args.checkpoint, args.prompt, args.prompt_file, args.max_new_tokens, sampling, args.seed,
                 args.tokenizer, args.batch_size, args.output, args.device, Console())  # fmt: skip
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from train.export import describe, export_hf

    Console().print(f"exported {describe(export_hf(args.checkpoint, args.output, args.tokenizer))}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from train.eval.command import EvalOptions, run_eval

    if args.shots < 0:
        raise UserError(f"--shots {args.shots}: expected 0 or more")
    options = EvalOptions(args.text, args.task, args.text_field, args.limit, args.shots, args.fewshot_from,
                          args.batch_size)  # fmt: skip
    run_eval(args.model, options, args.tokenizer, args.device, args.dtype, args.max_length, args.json,
             args.per_example, Console())  # fmt: skip
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from model.config import preset
    from model.hardware import ACCELERATORS, accelerator
    from model.plan import Plan, parse_count

    dims = {f: getattr(args, f) for f in ("d_model", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len",
                                          "d_mlp", "mlp") if getattr(args, f) is not None}  # fmt: skip
    try:
        config = preset(args.preset, **dims)
    except (ValueError, TypeError) as error:
        raise UserError(str(error)) from None
    try:
        tokens = parse_count(args.tokens) if args.tokens else None
    except ValueError as error:
        raise UserError(f"--tokens {error}") from None
    gpu = accelerator(args.gpu)
    if gpu is None:
        raise UserError(f"--gpu {args.gpu}: expected one of {', '.join(a.name for a in ACCELERATORS)}")
    if args.optimizer == "muon" and args.parallel == "fsdp":
        raise UserError("--optimizer muon needs whole matrices: the trainer refuses it with --parallel fsdp")
    if not 0 < args.mfu <= 1:
        raise UserError(f"--mfu {args.mfu}: expected a fraction in (0, 1]")
    plan = Plan(config, gpu, tokens, args.gpus, args.mfu, args.micro_batch, args.optimizer, args.parallel)
    print_plan(plan, Console())
    return 0


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
    facts.add_row("time", f"{hours:,.1f} h on {plan.gpus} x {plan.accelerator.name} at {100 * plan.mfu:.0f}% MFU "
                          f"({hours * plan.gpus:,.0f} GPU-hours)")  # fmt: skip
    console.print(facts)
    memory = Table(title=f"memory per GPU ({plan.optimizer}, {plan.parallel}, micro-batch {plan.micro_batch} x "
                         f"{c.seq_len} tokens), GiB", title_justify="left")  # fmt: skip
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
