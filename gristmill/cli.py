"""The `gristmill` command. Thin: parse arguments, call the packages, turn UserError into one line + exit 2."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from gristmill import __version__
from gristmill_base.errors import UserError


def _cmd_run(args: argparse.Namespace) -> int:
    from pipeline.prepared import prepare_run
    from pipeline.runner import execute

    prepared = prepare_run(args.recipe, args.input, args.output, args.workers, args.limit)
    result = execute(prepared, Console())
    return 1 if result.failed_tasks else 0


def _cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report.command import report

    return report(args.run_dir, args.html, args.json, args.samples, args.compare, Console())


def _cmd_pack(args: argparse.Namespace) -> int:
    from pipeline.pack_command import inspect, pack

    if args.inspect:
        inspect(args.inspect)
        return 0
    missing = [
        flag
        for flag, value in (("--tokenizer", args.tokenizer), ("--input", args.input), ("--output", args.output))
        if not value
    ]
    if missing:
        raise UserError(f"{', '.join(missing)}: required (or --inspect PACKED)")
    pack(args.tokenizer, args.input, args.output, args.val_fraction, args.workers, args.eos)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from train.config import load_config
    from train.loop import run_training

    run_training(load_config(args.config, args.set), resume=args.resume)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gristmill", description="From raw web crawl to a pretrained language model.")
    parser.add_argument("--version", action="version", version=f"gristmill {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run a recipe: raw crawl files -> Parquet document shards",
        description="Run a recipe's stages on datatrove executors. Rerunning the same command resumes.",
    )
    run.add_argument("recipe", help="recipe TOML file, e.g. recipes/quickstart.toml")
    run.add_argument(
        "--input",
        action="append",
        metavar="PATH",
        help="input file, folder, glob, URL or paths file (repeatable); replaces the recipe's inputs",
    )
    run.add_argument("--output", metavar="RUN_DIR", help="run folder (default: the recipe's run.output or runs/NAME)")
    run.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: the recipe's, else all cores)"
    )
    run.add_argument("--limit", type=int, metavar="N", help="stop after N documents in total (for trials)")
    run.set_defaults(handler=_cmd_run)

    report = commands.add_parser(
        "report",
        help="data-quality report of a finished run: terminal, HTML, JSON",
        description="Funnel, languages, lengths, duplicates, domains, time and examples per rule of a finished run, "
        "computed with polars over its stats, shards and removed documents.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="the run folder of a finished `gristmill run`")
    report.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (opens offline)")
    report.add_argument(
        "--json", metavar="FILE", help="write the figures as JSON (schema: pipeline/report/schema.json)"
    )
    report.add_argument(
        "--samples", type=int, default=3, metavar="N", help="examples per rule, removed and kept (default 3)"
    )
    report.add_argument("--compare", metavar="OTHER_RUN", help="another run on the same input: what changed")
    report.set_defaults(handler=_cmd_report)

    pack = commands.add_parser(
        "pack",
        help="tokenize documents into memory-mappable token shards for training",
        description="Shards + tokenizer -> PACKED/{train,val}/part-*.bin|.idx + manifest.json. Rerunning resumes.",
    )
    pack.add_argument(
        "--tokenizer",
        metavar="TOK",
        help="a tokenizer: a folder (gristmill tokenizer train, or HF's with tokenizer.json), a tokenizer.json, "
        "a .tiktoken(.gz) file of a known encoding, or GPT-2's vocab.json",
    )
    pack.add_argument("--input", action="append", metavar="PATH", help="run folder, shards folder or .parquet")
    pack.add_argument("--output", metavar="PACKED", help="output folder")
    pack.add_argument("--val-fraction", type=float, default=0.0, metavar="F", help="share of documents for val")
    pack.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    pack.add_argument(
        "--eos",
        default="<|endoftext|>",
        metavar="T",
        help="the token ending each document: a special token's text or an id (default <|endoftext|>)",
    )
    pack.add_argument("--inspect", metavar="PACKED", help="print a packed folder's counts and decode a few documents")
    pack.set_defaults(handler=_cmd_pack)

    train = commands.add_parser(
        "train",
        help="pretrain the GPT on packed token shards (torchrun for DDP / FSDP2)",
        description="Train with a TOML config; checkpoints under run.output; --resume continues exactly.",
    )
    train.add_argument("config", metavar="CONFIG.toml")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override, e.g. optim.lr=1e-3")
    train.add_argument("--resume", action="store_true", help="continue from run.output's latest checkpoint")
    train.set_defaults(handler=_cmd_train)

    from pipeline.classifier.commands import add_parsers as add_classifier_parsers
    from tokenizer.commands import add_parsers
    from train.commands import add_parsers as add_model_parsers

    add_parsers(commands)
    add_classifier_parsers(commands)
    add_model_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as error:
        print(f"gristmill: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gristmill: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
