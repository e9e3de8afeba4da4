"""`gristmill classifier train | score`: argument handling and output; the work is in the package. Every user
mistake becomes a UserError (one line, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.classifier.model import ClassifierModel
from pipeline.classifier.preparation import TextPreparation
from pipeline.classifier.sources import read_documents
from pipeline.classifier.training import TrainingOptions, TrainingResult, train_classifier

SCORE_BATCH = 1024


def add_parsers(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("classifier", help="train and apply fastText document classifiers")
    sub = parser.add_subparsers(dest="classifier_command", metavar="SUBCOMMAND", required=True)
    defaults = TrainingOptions()

    train = sub.add_parser(
        "train",
        help="train a classifier from labelled text, JSONL, Parquet or run folders",
        description="Positives (text like what you want to keep) against negatives (e.g. the raw crawl); a held-out "
        "share of each label is scored and its precision, recall, F1, ROC AUC and kept shares printed.",
    )
    train.add_argument("--positive", action="append", default=[], metavar="PATH", help="positive documents")
    train.add_argument("--negative", action="append", default=[], metavar="PATH", help="negative documents")
    train.add_argument("--input", action="append", default=[], metavar="PATH", help="documents with a label field")
    train.add_argument("--label-field", metavar="F", help="with --input: the JSONL field / Parquet column of labels")
    train.add_argument("--positive-label", default="positive", metavar="L", help="the label metrics are for")
    train.add_argument("--output", required=True, metavar="DIR", help="model folder to write")
    train.add_argument("--text-field", default="text", metavar="F", help="JSONL field / Parquet column of text")
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--lr", type=float, default=defaults.learning_rate, help="learning rate")
    train.add_argument("--dim", type=int, default=defaults.dim, help="vector size")
    train.add_argument("--word-ngrams", type=int, default=defaults.word_ngrams, metavar="N")
    train.add_argument("--buckets", type=int, default=defaults.buckets, metavar="N", help="hashed n-gram rows")
    train.add_argument("--min-count", type=int, default=defaults.min_count, metavar="N")
    train.add_argument("--max-per-label", type=int, metavar="N", help="sample at most N documents of each label")
    train.add_argument("--no-balance", action="store_true", help="keep every label's count (default: the smallest)")
    train.add_argument("--held-out", type=float, default=defaults.held_out, metavar="F", help="share held out")
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--threads", type=int, default=defaults.threads, help="more than 1: faster, not repeatable")
    train.add_argument("--lowercase", action="store_true", help="lowercase text (for training and scoring)")
    train.add_argument("--max-chars", type=int, default=0, metavar="N", help="read only the first N characters")
    train.set_defaults(handler=cmd_train)

    score = sub.add_parser(
        "score",
        help="score documents with a classifier: one JSON line each (label, score)",
        description='The scores the recipe stage `kind = "classifier"` gives the same documents.',
    )
    score.add_argument("model", metavar="MODEL", help="model folder, or a fastText .bin/.ftz file or URL")
    score.add_argument("--input", action="append", required=True, metavar="PATH", help="text, JSONL, Parquet, run")
    score.add_argument("--text-field", default="text", metavar="F")
    score.add_argument("--label", metavar="L", help="score = the probability of this label (default: the top one)")
    score.set_defaults(handler=cmd_score)


def cmd_train(args: argparse.Namespace) -> int:
    options = TrainingOptions(
        epochs=args.epochs,
        learning_rate=args.lr,
        dim=args.dim,
        word_ngrams=args.word_ngrams,
        buckets=args.buckets,
        min_count=args.min_count,
        max_per_label=args.max_per_label,
        balance=not args.no_balance,
        held_out=args.held_out,
        seed=args.seed,
        threads=args.threads,
        preparation=TextPreparation(lowercase=args.lowercase, max_chars=args.max_chars),
    )
    labelled = {"positive": args.positive, "negative": args.negative}
    started = time.perf_counter()
    result = train_classifier(
        labelled, Path(args.output), options, args.text_field, args.input, args.label_field, args.positive_label
    )
    print_training(Console(), result, time.perf_counter() - started)
    return 0


def print_training(console: Console, result: TrainingResult, seconds: float) -> None:
    counts = Table(title=f"classifier {result.folder} ({seconds:.1f} s)", title_justify="left", pad_edge=False)
    for column in ("label", "read", "trained", "held out"):
        counts.add_column(column, justify="left" if column == "label" else "right")
    for label, figures in result.counts.items():
        counts.add_row(label, *(f"{figures[key]:,}" for key in ("read", "trained", "held_out")))
    console.print(counts)
    metrics = result.metrics
    if metrics is None:
        console.print("nothing held out (--held-out 0): no metrics")
        return
    console.print(
        f"held out, {result.positive_label!r} at score >= {metrics.threshold}: precision {metrics.precision:.3f}, "
        f"recall {metrics.recall:.3f}, F1 {metrics.f1:.3f}; ROC AUC {metrics.roc_auc:.4f}"
    )
    shares = "  ".join(f">={threshold}: {share:.0%}" for threshold, share in metrics.kept_share.items())
    console.print(f"share of held-out documents kept by min_score {shares}")


def cmd_score(args: argparse.Namespace) -> int:
    model = ClassifierModel.load(args.model)
    if args.label:
        model.require_label(args.label)
    batch: list[str] = []
    for _, text in read_documents(args.input, args.text_field):
        batch.append(text)
        if len(batch) == SCORE_BATCH:
            _write_scores(model, batch, args.label)
            batch = []
    _write_scores(model, batch, args.label)
    return 0


def _write_scores(model: ClassifierModel, texts: list[str], label: str | None) -> None:
    if texts:
        lines = (json.dumps({"label": top, "score": score}) for top, score in model.scores(texts, label))
        sys.stdout.write("\n".join(lines) + "\n")
