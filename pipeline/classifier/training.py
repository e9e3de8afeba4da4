"""`gristmill classifier train`: a supervised fastText classifier from labelled documents, in the spirit of
DCLM's quality classifier (positives: text like what you want; negatives: the crawl), trained reproducibly:
one thread and a fixed seed give the same model file every time (several threads train Hogwild!-style,
faster but not repeatable). A held-out share of each class is scored with the saved model."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

import fasttext_new

from gristmill_base.atomic import folder_atomic, write_json_atomic
from gristmill_base.errors import UserError
from gristmill_base.version import __version__
from pipeline.classifier.metrics import HeldOutMetrics, held_out_metrics
from pipeline.classifier.model import CARD_FILE, LABEL_PREFIX, MODEL_FILE, ClassifierModel
from pipeline.classifier.preparation import TextPreparation
from pipeline.classifier.sources import read_documents


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int = 5
    learning_rate: float = 0.1
    dim: int = 64
    word_ngrams: int = 2
    buckets: int = 1 << 18  # hashed n-gram rows: the model file holds buckets x dim floats (fastText: 2M)
    min_count: int = 1
    max_per_label: int | None = None  # documents sampled per label (None: all)
    balance: bool = True  # sample every label down to the smallest one
    held_out: float = 0.1  # share of each label scored after training, never trained on
    seed: int = 0
    threads: int = 1  # 1: the same model file on every run
    preparation: TextPreparation = field(default_factory=TextPreparation)


@dataclass(frozen=True)
class TrainingResult:
    folder: Path
    counts: dict[str, dict[str, int]]  # label -> read, trained, held_out
    metrics: HeldOutMetrics | None  # None: nothing held out
    positive_label: str


def train_classifier(
    labelled_paths: dict[str, list[str]],
    output: Path,
    options: TrainingOptions = TrainingOptions(),
    text_field: str = "text",
    input_paths: list[str] | None = None,
    label_field: str | None = None,
    positive_label: str = "positive",
) -> TrainingResult:
    """Train on `labelled_paths` (label -> files) and/or `input_paths` whose `label_field` names the label;
    write the model folder `output` (model.bin, preparation.json, card.json) atomically."""
    _check(options)
    documents = _read(labelled_paths, text_field, input_paths or [], label_field)
    if len(documents) < 2:
        found = ", ".join(f"{label}: {len(texts)}" for label, texts in documents.items()) or "none"
        raise UserError(f"a classifier needs documents of two labels at least (found {found})")
    if positive_label not in documents:
        raise UserError(f"positive label {positive_label!r} not among the labels read: {', '.join(documents)}")
    train, held, counts = _split(documents, options)
    with tempfile.TemporaryDirectory() as scratch:
        train_file = Path(scratch) / "train.txt"
        with open(train_file, "w", encoding="utf-8") as handle:
            for label, text in train:
                handle.write(f"{LABEL_PREFIX}{label} {options.preparation.apply(text)}\n")
        model = fasttext_new.train_supervised(
            input=str(train_file),
            epoch=options.epochs,
            lr=options.learning_rate,
            dim=options.dim,
            wordNgrams=options.word_ngrams,
            bucket=options.buckets,
            minCount=options.min_count,
            thread=options.threads,
            seed=options.seed,
            verbose=0,
        )
    scored = ClassifierModel(model, options.preparation, str(output))
    metrics = None
    if held:
        scores = scored.scores([text for _, text in held], label=positive_label)
        metrics = held_out_metrics([score for _, score in scores], [label == positive_label for label, _ in held])
    card = {
        "gristmill": __version__,
        "fasttext_new": version("fasttext-new"),
        "labels": sorted(documents),
        "positive_label": positive_label,
        "sources": {label: paths for label, paths in labelled_paths.items() if paths}
        | ({f"{label_field} of": input_paths} if input_paths else {}),
        "counts": counts,
        "options": {key: value for key, value in asdict(options).items() if key != "preparation"},
        "held_out_metrics": metrics.as_dict() if metrics else None,
    }
    with folder_atomic(output) as work:
        model.save_model(str(work / MODEL_FILE))
        options.preparation.save(work)
        write_json_atomic(work / CARD_FILE, card)
    return TrainingResult(output, counts, metrics, positive_label)


def _check(options: TrainingOptions) -> None:
    problems = [
        f"{name} must be {rule}"
        for name, ok, rule in (
            ("epochs", options.epochs >= 1, ">= 1"),
            ("learning rate", options.learning_rate > 0, "> 0"),
            ("dim", options.dim >= 1, ">= 1"),
            ("word n-grams", options.word_ngrams >= 1, ">= 1"),
            ("buckets", options.buckets >= 1, ">= 1"),
            ("held-out share", 0 <= options.held_out < 1, "in [0, 1)"),
            ("threads", options.threads >= 1, ">= 1"),
            ("max per label", options.max_per_label is None or options.max_per_label >= 1, ">= 1"),
        )
        if not ok
    ]
    if problems:
        raise UserError("; ".join(problems))


def _read(
    labelled_paths: dict[str, list[str]], text_field: str, input_paths: list[str], label_field: str | None
) -> dict[str, list[str]]:
    documents: dict[str, list[str]] = {}
    for label, paths in labelled_paths.items():
        if paths:
            documents.setdefault(label, []).extend(text for _, text in read_documents(paths, text_field))
    if input_paths:
        if not label_field:
            raise UserError("--input needs --label-field: the JSONL field / Parquet column holding each label")
        for label, text in read_documents(input_paths, text_field, label_field):
            documents.setdefault(label or "none", []).append(text)
    return documents


def _split(
    documents: dict[str, list[str]], options: TrainingOptions
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, dict[str, int]]]:
    """Sample each label (seeded), hold out a share of each, and interleave the training examples."""
    rng = random.Random(options.seed)
    smallest = min(len(texts) for texts in documents.values())
    train: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    counts: dict[str, dict[str, int]] = {}
    for label in sorted(documents):
        texts = list(documents[label])
        rng.shuffle(texts)
        take = min(len(texts), options.max_per_label or len(texts), smallest if options.balance else len(texts))
        texts = texts[:take]
        held_count = round(take * options.held_out) if options.held_out else 0
        held += [(label, text) for text in texts[:held_count]]
        train += [(label, text) for text in texts[held_count:]]
        counts[label] = {"read": len(documents[label]), "trained": take - held_count, "held_out": held_count}
    rng.shuffle(train)  # fastText's SGD sees the labels mixed, not one block after another
    if not Counter(label for label, _ in train).keys() >= set(documents):
        raise UserError("too few documents: a label has none left to train on after the held-out share")
    return train, held, counts
