"""The `gristmill` command. Thin: parse arguments, call the packages, turn UserError into one line + exit 2."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from gristmill_base.errors import UserError


class _Version(argparse.Action):
    """`--version`, looked up only when asked: reading the installed metadata costs every other command time."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from gristmill_base.version import __version__

        print(f"gristmill {__version__}")
        parser.exit()


def _cmd_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.prepared import prepare_run
    from pipeline.runner import execute

    prepared = prepare_run(args.recipe, args.input, args.output, args.workers, args.limit, args.allow_empty_inputs)
    return execute(prepared, Console()).exit_status


def _cmd_report(args: argparse.Namespace) -> int:
    from rich.console import Console

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

    run_training(load_config(args.config, args.set), restart=args.restart)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gristmill", description="From raw web crawl to a pretrained language model.")
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
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
        help="input file, folder, glob, URL or paths file (repeatable; default: the recipe's inputs)",
    )
    run.add_argument("--output", metavar="RUN_DIR", help="run folder (default: the recipe's run.output or runs/NAME)")
    run.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: the recipe's, else all cores)"
    )
    run.add_argument(
        "--limit", type=int, metavar="N", help="stop after N documents in total, for trials (default: no limit)"
    )
    run.add_argument(
        "--allow-empty-inputs",
        action="store_true",
        help="an input file that yields no document is not an error (without it: named, and exit status 3)",
    )
    run.set_defaults(handler=_cmd_run)

    report = commands.add_parser(
        "report",
        help="data-quality report of a finished run: terminal, HTML, JSON",
        description="Funnel, languages, lengths, duplicates, domains, time and examples per rule of a finished run, "
        "computed with polars over its stats, shards and removed documents.",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="the run folder of a finished `gristmill run`")
    report.add_argument(
        "--html", metavar="FILE", help="write a self-contained HTML report (opens offline; default: none)"
    )
    report.add_argument(
        "--json", metavar="FILE", help="write the figures as JSON (schema: pipeline/report/schema.json; default: none)"
    )
    report.add_argument(
        "--samples", type=int, default=3, metavar="N", help="examples per rule, removed and kept (default 3)"
    )
    report.add_argument(
        "--compare", metavar="OTHER_RUN", help="another run on the same input: what changed (default: none)"
    )
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
        "a .tiktoken(.gz) file of a known encoding, or GPT-2's vocab.json (required unless --inspect)",
    )
    pack.add_argument(
        "--input",
        action="append",
        metavar="PATH",
        help="run folder, shards folder or .parquet (repeatable; required unless --inspect)",
    )
    pack.add_argument("--output", metavar="PACKED", help="output folder (required unless --inspect)")
    pack.add_argument("--val-fraction", type=float, default=0.0, metavar="F", help="share of documents for val")
    pack.add_argument("--workers", type=int, metavar="N", help="worker processes (default: all cores)")
    pack.add_argument(
        "--eos",
        default="<|endoftext|>",
        metavar="T",
        help="the token ending each document: a special token's text or an id (default <|endoftext|>)",
    )
    pack.add_argument(
        "--inspect",
        metavar="PACKED",
        help="instead of packing, print a packed folder's counts and decode a few documents (default: pack)",
    )
    pack.set_defaults(handler=_cmd_pack)

    train = commands.add_parser(
        "train",
        help="pretrain the GPT on packed token shards (torchrun for DDP / FSDP2)",
        description="Train with a TOML config; checkpoints under run.output. Rerunning the same command continues "
        "the run there exactly; --restart starts over, moving it aside.",
    )
    from train.commands import add_config_arguments

    add_config_arguments(train, "optim.lr=1e-3")
    train.set_defaults(handler=_cmd_train)

    from pipeline.classifier.commands import add_parsers as add_classifier_parsers
    from tokenizer.commands import add_parsers
    from train.commands import add_parsers as add_model_parsers

    add_parsers(commands)
    add_classifier_parsers(commands)
    add_model_parsers(commands)
    from gristmill.help_defaults import show_defaults

    show_defaults(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    on_interrupt = signal.getsignal(signal.SIGINT)  # an interrupted command ignores further ones until it is done
    try:
        return args.handler(args)
    except UserError as error:
        print(f"gristmill: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        main_thread = threading.current_thread() is threading.main_thread()
        if main_thread:  # a second Ctrl-C (torchrun passes the terminal's on) must not replace what is said here
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if os.environ.get("RANK", "0") == "0":  # under torchrun every rank is interrupted: one message
                print(_interrupted(args, argv, interrupt), file=sys.stderr)
        finally:
            if main_thread and on_interrupt is not None:
                signal.signal(signal.SIGINT, on_interrupt)
        return 130


def _interrupted(args: argparse.Namespace, argv: list[str] | None, interrupt: KeyboardInterrupt) -> str:
    """Where it stopped (what the command says in the interrupt, if anything) and what to type to continue."""
    where = f" {interrupt}" if str(interrupt) else ""
    if not getattr(args, "rerun_continues", False):
        return f"gristmill: interrupted{where}; run the same command again to resume"
    from gristmill.command_line import typed_again

    return f"gristmill: interrupted{where}\nto continue, type: {typed_again(argv)}"
