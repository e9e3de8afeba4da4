"""`gristmill finetune | generate | chat | export | eval | ablate | plan`: argument handling for what users reach
for around training; the work is in `train.finetune`, `train.generate_command`, `train.chat_command`,
`train.export`, `train.eval`, `train.ablate` and `model.plan`. Every user mistake is a UserError."""

from __future__ import annotations

import argparse

from gristmill_base.errors import UserError


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def add_rerun_flags(parser: argparse.ArgumentParser, what: str, folder: str) -> None:
    """`--restart` and `--resume` of a command whose rerun continues `what` it left in `folder` (`train.rerun`);
    Ctrl-C then prints the command line to type again (`gristmill.cli`)."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--restart",
        action="store_true",
        help=f"start over: {what} in {folder} is first moved aside to {folder}.replaced-<UTC time> (nothing is "
        "deleted)",
    )
    choice.add_argument("--resume", action="store_true", help=f"continue {what}: the default, kept for scripts")
    parser.set_defaults(rerun_continues=True)


def add_config_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """What every training command takes: its config file, `--set` overrides, and the rerun flags."""
    parser.add_argument("config", metavar="CONFIG.toml")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config key, e.g. {example} (repeatable; default: none)",
    )
    add_rerun_flags(parser, "the run", "run.output")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    finetune = commands.add_parser(
        "finetune",
        help="fine-tune a checkpoint: sft on conversations, dpo on preference pairs",
        description="Supervised fine-tuning (sft) or Direct Preference Optimization (dpo) from a checkpoint, with "
        "the trainer of `gristmill train` (DDP / FSDP2 under torchrun, schedules, metrics). Rerunning the same "
        "command continues the run in run.output; --restart starts over, moving it aside.",
    )
    kinds = finetune.add_subparsers(dest="finetune_kind", metavar="KIND", required=True)
    for kind, text in (("sft", "conversations in the chat format, loss on the assistant's tokens"),
                       ("dpo", "preference pairs against a frozen reference")):  # fmt: skip
        parser = kinds.add_parser(kind, help=text, description=text)
        add_config_arguments(parser, "dpo.beta=0.2")
        parser.set_defaults(handler=cmd_finetune)

    generate = commands.add_parser(
        "generate",
        help="generate text from a checkpoint (KV cache; streams one prompt, batches a prompt file)",
        description="Sample text from a trained checkpoint with its own tokenizer.",
    )
    generate.add_argument("--checkpoint", required=True, metavar="CKPT", help="a step folder or a training output")
    generate.add_argument("--prompt", metavar="TEXT", help="one prompt, streamed (this or --prompt-file is required)")
    generate.add_argument(
        "--prompt-file", metavar="FILE", help="one prompt per line, generated in batches (this or --prompt is required)"
    )
    generate.add_argument("--max-new-tokens", type=_positive, default=200, metavar="N")
    generate.add_argument("--temperature", type=float, default=0.8, metavar="T", help="0: greedy (default 0.8)")
    generate.add_argument(
        "--top-k", type=_positive, metavar="K", help="sample among the K most likely tokens (default: all)"
    )
    generate.add_argument(
        "--top-p", type=float, metavar="P", help="nucleus sampling: the top tokens with mass P (default: 1, all)"
    )
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--tokenizer", metavar="DIR", help="default: the folder the checkpoint records")
    generate.add_argument("--batch-size", type=_positive, default=16, metavar="B", help="prompts per batch")
    generate.add_argument(
        "--output", metavar="FILE.jsonl", help="also write {prompt, completion} lines (default: none)"
    )
    generate.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    generate.set_defaults(handler=cmd_generate)

    chat = commands.add_parser(
        "chat",
        help="talk to a fine-tuned checkpoint in its chat format (one message, or a conversation on the terminal)",
        description="Replies of a `gristmill finetune` checkpoint, streamed. Without --message each input line is a "
        "user message (an empty line or end of input ends, /reset starts over).",
    )
    chat.add_argument("--checkpoint", required=True, metavar="CKPT", help="a step folder or a training output")
    chat.add_argument(
        "--message",
        metavar="TEXT",
        help="one user message: print the reply and exit (default: read messages from stdin)",
    )
    chat.add_argument("--system", metavar="TEXT", help="a system prompt (default: none)")
    chat.add_argument("--max-new-tokens", type=_positive, default=200, metavar="N", help="per reply (default 200)")
    chat.add_argument("--temperature", type=float, default=0.7, metavar="T", help="0: greedy (default 0.7)")
    chat.add_argument(
        "--top-k", type=_positive, metavar="K", help="sample among the K most likely tokens (default: all)"
    )
    chat.add_argument(
        "--top-p", type=float, metavar="P", help="nucleus sampling: the top tokens with mass P (default: 1, all)"
    )
    chat.add_argument("--seed", type=int, default=0)
    chat.add_argument("--tokenizer", metavar="DIR", help="default: the folder the checkpoint records")
    chat.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    chat.set_defaults(handler=cmd_chat)

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
    evaluate.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a text set (repeatable; --text or --task is required)",
    )
    evaluate.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="a task file (repeatable; --text or --task is required)",
    )
    evaluate.add_argument("--text-field", default="text", metavar="F", help="JSONL/Parquet field of the text sets")
    evaluate.add_argument(
        "--limit", type=_positive, metavar="N", help="the first N documents / items of each (default: all)"
    )
    evaluate.add_argument("--shots", type=int, default=0, metavar="K", help="solved examples shown before each item")
    evaluate.add_argument(
        "--fewshot-from",
        action="append",
        default=[],
        metavar="[TASK=]FILE",
        help="the solved examples --shots draws from: for the task named TASK, or for every task (repeatable; "
        "default: the task file's own fewshot items)",
    )
    evaluate.add_argument("--batch-size", type=_positive, default=16, metavar="B", help="sequences per forward pass")
    evaluate.add_argument("--max-length", type=_positive, metavar="N", help="context length (default: the model's)")
    evaluate.add_argument("--tokenizer", metavar="DIR", help="a checkpoint's tokenizer (default: the one it records)")
    evaluate.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    evaluate.add_argument("--dtype", choices=["auto", "fp32", "bf16"], default="auto", help="auto: bf16 on a GPU")
    evaluate.add_argument("--json", metavar="FILE", help="write the figures as JSON (default: none)")
    evaluate.add_argument(
        "--per-example", metavar="FILE.jsonl", help="write each item's strings and log-likelihoods (default: none)"
    )
    evaluate.add_argument(
        "--prefix-token",
        choices=["auto", "always", "never"],
        default="auto",
        help="the token before each context; auto: a Hugging Face tokenizer's own (lm-evaluation-harness's "
        "default), a gristmill checkpoint's end-of-text (documents follow it in training)",
    )
    evaluate.set_defaults(handler=cmd_eval)

    ablate = commands.add_parser(
        "ablate",
        help="compare runs: the same tokenizer, token budget, model and seed for each, trained and evaluated alike",
        description="One controlled experiment over several run folders: a shared tokenizer, the same number of "
        "training tokens drawn from each, the same model, seed and schedule; then every model on the same sets, "
        "compared with paired standard errors. Rerunning the same command resumes; --restart starts over.",
    )
    ablate.add_argument("runs", nargs="+", metavar="[NAME=]RUN_DIR", help="the run folders to compare (two or more)")
    ablate.add_argument("--output", required=True, metavar="DIR", help="the ablation folder (rerun: resume)")
    ablate.add_argument("--tokens", required=True, metavar="N", help="training tokens per run, e.g. 20M")
    ablate.add_argument(
        "--config",
        metavar="TRAIN.toml",
        help="model, optim, run and data settings to share (default: the tiny preset, seq_len 256, batch 8, lr 1e-3)",
    )
    ablate.add_argument("--tokenizer", metavar="DIR", help="a tokenizer folder (default: train one on all runs)")
    ablate.add_argument("--vocab-size", type=_positive, default=8192, metavar="V", help="of the trained tokenizer")
    ablate.add_argument("--tokenizer-bytes", metavar="N", default="20M", help="text per run to train it on")
    ablate.add_argument(
        "--text",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="an evaluation text set (repeatable; default: only the held-out set)",
    )
    ablate.add_argument(
        "--task",
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help="an evaluation task (repeatable; default: none)",
    )
    ablate.add_argument(
        "--held-out",
        type=int,
        default=200,
        metavar="N",
        help="documents per run held out as the common set `held-out` (default 200; 0: none)",
    )
    ablate.add_argument("--allow-repeat", action="store_true", help="repeat a run smaller than the budget")
    ablate.add_argument("--seed", type=int, default=0)
    ablate.add_argument("--gpu", metavar="NAME", help="the GPU to plan for (default: this one, else H100)")
    add_rerun_flags(ablate, "the ablation", "DIR")
    ablate.set_defaults(handler=cmd_ablate)

    plan = commands.add_parser(
        "plan",
        help="parameters, FLOPs, Chinchilla tokens, memory per GPU and time of a training run",
        description="Estimate a run before it runs: a preset or dims, a token budget and the GPUs.",
    )
    plan.add_argument("--preset", default="124m", help="tiny, 124m, 350m or 1b (default 124m); dims override it")
    for flag, field in (
        ("--d-model", "d_model"),
        ("--layers", "n_layers"),
        ("--heads", "n_heads"),
        ("--kv-heads", "n_kv_heads"),
        ("--vocab", "vocab_size"),
        ("--seq-len", "seq_len"),
        ("--d-mlp", "d_mlp"),
    ):
        plan.add_argument(flag, type=_positive, dest=field, metavar="N", help="default: the preset's")
    plan.add_argument("--mlp", choices=["swiglu", "relu2"], help="default: the preset's")
    plan.add_argument("--tokens", metavar="N", help="training tokens, e.g. 10B (default: Chinchilla-optimal)")
    plan.add_argument("--gpu", default="H100", help="A100, H100, H200, B200, ... (default H100)")
    plan.add_argument("--gpus", type=_positive, default=1, metavar="N", help="data-parallel GPUs")
    plan.add_argument("--mfu", type=float, default=0.4, help="model FLOPs utilisation to assume (default 0.4)")
    plan.add_argument("--micro-batch", type=_positive, default=8, metavar="B", help="sequences per GPU per pass")
    plan.add_argument("--optimizer", choices=["adamw", "muon"], default="adamw")
    plan.add_argument("--parallel", choices=["ddp", "fsdp"], default="ddp")
    plan.set_defaults(handler=cmd_plan)


def cmd_finetune(args: argparse.Namespace) -> int:
    from train.finetune.command import run_finetune

    run_finetune(args.finetune_kind, args.config, args.set, args.restart)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from model.generate import Sampling
    from train.generate_command import run_generate

    try:
        sampling = Sampling(args.temperature, args.top_k, args.top_p)
    except ValueError as error:
        raise UserError(str(error)) from None
    run_generate(
        args.checkpoint,
        args.prompt,
        args.prompt_file,
        args.max_new_tokens,
        sampling,
        args.seed,
        args.tokenizer,
        args.batch_size,
        args.output,
        args.device,
        Console(),
    )
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from model.generate import Sampling
    from train.chat_command import run_chat

    try:
        sampling = Sampling(args.temperature, args.top_k, args.top_p)
    except ValueError as error:
        raise UserError(str(error)) from None
    run_chat(args.checkpoint, args.message, args.system, args.max_new_tokens, sampling, args.seed, args.tokenizer,
             args.device)  # fmt: skip
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from rich.console import Console

    from train.export import describe, export_hf

    Console().print(f"exported {describe(export_hf(args.checkpoint, args.output, args.tokenizer))}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rich.console import Console

    from train.eval.command import EvalOptions, run_eval

    if args.shots < 0:
        raise UserError(f"--shots {args.shots}: expected 0 or more")
    options = EvalOptions(
        args.text, args.task, args.text_field, args.limit, args.shots, args.fewshot_from, args.batch_size
    )
    run_eval(
        args.model,
        options,
        args.tokenizer,
        args.device,
        args.dtype,
        args.max_length,
        args.json,
        args.per_example,
        Console(),
        args.prefix_token,
    )
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from model.plan import parse_count
    from train.ablate.command import run_ablation
    from train.ablate.steps import AblateOptions

    counts = {}
    for flag, text in (("--tokens", args.tokens), ("--tokenizer-bytes", args.tokenizer_bytes)):
        try:
            counts[flag] = parse_count(text)
        except ValueError as error:
            raise UserError(f"{flag} {error}") from None
    if args.held_out < 0:
        raise UserError(f"--held-out {args.held_out}: expected 0 or more")
    options = AblateOptions(
        args.runs,
        args.output,
        counts["--tokens"],
        args.config,
        args.tokenizer,
        args.vocab_size,
        counts["--tokenizer-bytes"],
        args.text,
        args.task,
        args.held_out,
        args.allow_repeat,
        args.seed,
    )
    run_ablation(options, args.gpu, Console(), args.restart)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from rich.console import Console

    from model.config import preset
    from model.hardware import ACCELERATORS, accelerator
    from model.plan import Plan, parse_count

    dims = {
        f: getattr(args, f)
        for f in ("d_model", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len", "d_mlp", "mlp")
        if getattr(args, f) is not None
    }
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
    from train.plan_view import print_plan

    print_plan(plan, Console())
    return 0
