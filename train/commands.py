"""`gristmill generate | export | plan`: argument handling for what users reach for around training; the work
is in `train.generate_command`, `train.export` and `model.plan`. Every user mistake is a UserError."""

from __future__ import annotations

import argparse

from rich.console import Console

from gristmill.errors import UserError


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
