"""`gristmill classifier train | score`: argument handling and output; the work is in the package. Every user
mistake becomes a UserError (one line, exit 2)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.classifier.epochs import CANDIDATES, WORTHWHILE
from pipeline.classifier.options import TrainingOptions

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from pipeline.classifier.metrics import HeldOutMetrics
    from pipeline.classifier.model import ClassifierModel
    from pipeline.classifier.training import TrainingResult

SCORE_BATCH = 1024


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """The parsers only: fastText, numpy and the readers are imported by the handlers, so `gristmill --help`
    does not wait for them."""
    parser = commands.add_parser("classifier", help="train and apply fastText document classifiers")
    sub = parser.add_subparsers(dest="classifier_command", metavar="SUBCOMMAND", required=True)
    defaults = TrainingOptions()
    search = ", ".join(map(str, CANDIDATES))

    train = sub.add_parser(
        "train",
        help="train a classifier from labelled text, JSONL, Parquet or run folders",
        description="Positives (text like what you want to keep) against negatives (e.g. the raw crawl); a held-out "
        "share of each label is scored and its precision, recall, F1, ROC AUC, log-loss, score histogram and kept "
        "shares printed.",
    )
    add = train.add_argument
    add(
        "--positive", action="append", default=[], metavar="PATH", help="positive documents (repeatable; default: none)"
    )
    add(
        "--negative", action="append", default=[], metavar="PATH", help="negative documents (repeatable; default: none)"
    )
    add(
        "--input",
        action="append",
        default=[],
        metavar="PATH",
        help="documents with a label field (repeatable; default: none)",
    )
    add("--label-field", metavar="F", help="with --input: the JSONL field / Parquet column of labels (default: none)")
    add("--positive-label", default="positive", metavar="L", help="the label metrics are for (default: positive)")
    add("--output", required=True, metavar="DIR", help="model folder to write (required)")
    add("--text-field", default="text", metavar="F", help="JSONL field / Parquet column of text (default: text)")
    add(
        "--epochs",
        type=int,
        metavar="N",
        help=f"epochs to train (default: chosen: {search} are trained in turn while each lowers the validation "
        f"log-loss by {WORTHWHILE} or more, and the one with the lowest is kept)",
    )
    add(
        "--lr",
        type=float,
        default=defaults.learning_rate,
        metavar="F",
        help=f"learning rate (default: {defaults.learning_rate})",
    )
    add("--dim", type=int, default=defaults.dim, metavar="N", help=f"vector size (default: {defaults.dim})")
    add(
        "--word-ngrams",
        type=int,
        default=defaults.word_ngrams,
        metavar="N",
        help=f"word n-grams up to N (default: {defaults.word_ngrams})",
    )
    add(
        "--buckets",
        type=int,
        default=defaults.buckets,
        metavar="N",
        help=f"hashed n-gram rows (default: {defaults.buckets:,})",
    )
    add(
        "--min-count",
        type=int,
        default=defaults.min_count,
        metavar="N",
        help=f"ignore words seen fewer times (default: {defaults.min_count})",
    )
    add("--max-per-label", type=int, metavar="N", help="sample at most N documents of each label (default: all)")
    add("--no-balance", action="store_true", help="keep every label's count (default: sample to the smallest)")
    add(
        "--held-out",
        type=float,
        default=defaults.held_out,
        metavar="F",
        help=f"share of each label held out for the metrics (default: {defaults.held_out})",
    )
    add(
        "--validation",
        type=float,
        default=defaults.validation,
        metavar="F",
        help=f"without --epochs: share of each label's training documents that chooses the epochs, not trained on "
        f"(default: {defaults.validation})",
    )
    add(
        "--seed",
        type=int,
        default=defaults.seed,
        metavar="N",
        help=f"sampling and training seed (default: {defaults.seed})",
    )
    add(
        "--threads",
        type=int,
        default=defaults.threads,
        metavar="N",
        help=f"more than 1: faster, not repeatable (default: {defaults.threads})",
    )
    add("--lowercase", action="store_true", help="lowercase text, for training and scoring (default: as written)")
    add("--max-chars", type=int, default=0, metavar="N", help="read only the first N characters (default: 0, all)")
    train.set_defaults(handler=cmd_train)

    score = sub.add_parser(
        "score",
        help="score documents with a classifier: one JSON line each (label, score)",
        description='The scores the recipe stage `kind = "classifier"` gives the same documents.',
    )
    score.add_argument("model", metavar="MODEL", help="model folder, or a fastText .bin/.ftz file or URL")
    score.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="PATH",
        help="text, JSONL, Parquet or run folder (repeatable, required)",
    )
    score.add_argument(
        "--text-field", default="text", metavar="F", help="JSONL field / Parquet column of text (default: text)"
    )
    score.add_argument("--label", metavar="L", help="score = the probability of this label (default: the top one's)")
    score.set_defaults(handler=cmd_score)


def cmd_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from pipeline.classifier.preparation import TextPreparation
    from pipeline.classifier.training import train_classifier

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
        validation=args.validation,
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
    from rich.table import Table

    counts = Table(title=f"classifier {result.folder} ({seconds:.1f} s)", title_justify="left", pad_edge=False)
    for column in ("label", "read", "trained", "validation", "held out"):
        counts.add_column(column, justify="left" if column == "label" else "right")
    for label, figures in result.counts.items():
        counts.add_row(label, *(f"{figures[key]:,}" for key in ("read", "trained", "validation", "held_out")))
    console.print(counts)
    if result.epoch_search is None:
        console.print(f"epochs: {result.epochs}, as given")
    else:
        losses = ", ".join(f"{epochs}: {loss:.4f}" for epochs, loss in result.epoch_search.validation_log_loss.items())
        console.print(f"epochs: {result.epochs}, the lowest validation log-loss of those trained ({losses})")
    metrics = result.metrics
    if metrics is None:
        console.print("nothing held out (--held-out 0): no metrics")
        return
    auc = "undefined (held-out documents of one class)" if metrics.roc_auc is None else f"{metrics.roc_auc:.4f}"
    console.print(
        f"held out, {result.positive_label!r} at score >= {metrics.threshold}: precision {metrics.precision:.3f}, "
        f"recall {metrics.recall:.3f}, F1 {metrics.f1:.3f}; ROC AUC {auc}; log-loss {metrics.log_loss:.4f}"
    )
    others = [label for label in result.counts if label != result.positive_label]
    console.print(_calibration(metrics, result.positive_label, others[0] if len(others) == 1 else "other labels"))
    shares = "  ".join(f">={threshold}: {share:.0%}" for threshold, share in metrics.kept_share.items())
    console.print(f"share of held-out documents kept by min_score {shares}")


def _calibration(metrics: HeldOutMetrics, positive_label: str, negative_label: str) -> Table:
    """Held-out documents per score tenth and label, and the positives' share of each tenth: a model that
    underfits piles every score near 0.5; a calibrated one has about 95% positives in [0.9, 1]."""
    from rich.table import Table

    table = Table(title="held-out scores (column 0.3: [0.3, 0.4))", title_justify="left", pad_edge=False)
    table.add_column("label")
    for tenth in range(10):
        table.add_column(f"{tenth / 10:.1f}", justify="right")
    positives, negatives = metrics.positive_histogram, metrics.negative_histogram
    table.add_row(positive_label, *map(str, positives))
    table.add_row(negative_label, *map(str, negatives))
    shares = [f"{p / (p + n):.0%}" if p + n else "-" for p, n in zip(positives, negatives, strict=True)]
    table.add_row(f"{positive_label} share", *shares)
    return table


def cmd_score(args: argparse.Namespace) -> int:
    from pipeline.classifier.model import ClassifierModel
    from pipeline.classifier.sources import read_documents

    model = ClassifierModel.load(args.model)
    if args.label:
        model.require_label(args.label, "--label")
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
