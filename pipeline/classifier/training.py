"""`gristmill classifier train`: a supervised fastText classifier from labelled documents, in the spirit of
DCLM's quality classifier (positives: text like what you want; negatives: the crawl), trained reproducibly:
one thread and a fixed seed give the same model file every time (several threads train Hogwild!-style,
faster but not repeatable). Unless given, the number of epochs is chosen by log-loss on a validation share of
the training documents (`epochs`); a held-out share of each class, used for neither, is scored after."""

from __future__ import annotations

import random
import tempfile
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

import fasttext_new

from gristmill_base.atomic import folder_atomic, write_json_atomic
from gristmill_base.errors import UserError
from gristmill_base.version import __version__
from pipeline.classifier.epochs import EpochSearch, search_epochs
from pipeline.classifier.metrics import HeldOutMetrics, held_out_metrics, mean_log_loss
from pipeline.classifier.model import CARD_FILE, LABEL_PREFIX, MODEL_FILE, ClassifierModel
from pipeline.classifier.options import TrainingOptions
from pipeline.classifier.sources import read_documents

Labelled = list[tuple[str, str]]  # (label, text)


@dataclass(frozen=True)
class TrainingResult:
    folder: Path
    counts: dict[str, dict[str, int]]  # label -> read, trained, validation, held_out
    metrics: HeldOutMetrics | None  # None: nothing held out
    positive_label: str
    epochs: int
    epoch_search: EpochSearch | None  # None: the epochs were given


@dataclass(frozen=True)
class _Split:
    train: Labelled
    validation: Labelled  # empty when the epochs are given
    held_out: Labelled
    counts: dict[str, dict[str, int]]


def train_classifier(
    labelled_paths: dict[str, list[str]],
    output: Path,
    options: TrainingOptions | None = None,
    text_field: str = "text",
    input_paths: list[str] | None = None,
    label_field: str | None = None,
    positive_label: str = "positive",
) -> TrainingResult:
    """Train on `labelled_paths` (label -> files, given by the flag `--LABEL`) and/or `input_paths` whose
    `label_field` names the label; write the model folder `output` (model.bin, preparation.json, card.json)
    atomically. `options`: TrainingOptions() when None."""
    options = options or TrainingOptions()
    options.check()
    documents = _read(labelled_paths, text_field, input_paths or [], label_field)
    if len(documents) < 2:
        found = ", ".join(f"{label}: {len(texts)}" for label, texts in documents.items()) or "none"
        raise UserError(
            f"a classifier needs documents of two labels at least (found {found}): give --positive and "
            "--negative, or --input with --label-field"
        )
    if positive_label not in documents:
        raise UserError(f"--positive-label {positive_label!r} is not among the labels read: {', '.join(documents)}")
    split = _split(documents, options)
    with tempfile.TemporaryDirectory() as scratch:
        train_file = Path(scratch) / "train.txt"
        with open(train_file, "w", encoding="utf-8") as handle:
            for label, text in split.train:
                handle.write(f"{LABEL_PREFIX}{label} {options.preparation.apply(text)}\n")

        def train(epochs: int) -> ClassifierModel:
            return ClassifierModel(_fasttext(train_file, epochs, options), options.preparation, str(output))

        search: EpochSearch | None = None
        if options.epochs is not None:
            epochs, model = options.epochs, train(options.epochs)
        else:
            model, search = search_epochs(train, lambda candidate: _log_loss(candidate, split.validation))
            epochs = search.chosen
    metrics = None
    if split.held_out:
        scores = model.scores([text for _, text in split.held_out], label=positive_label)
        truth = [label == positive_label for label, _ in split.held_out]
        metrics = held_out_metrics([score for _, score in scores], truth)
    card = {
        "gristmill": __version__,
        "fasttext_new": version("fasttext-new"),
        "labels": sorted(documents),
        "positive_label": positive_label,
        "sources": {label: paths for label, paths in labelled_paths.items() if paths}
        | ({f"{label_field} of": input_paths} if input_paths else {}),
        "counts": split.counts,
        "options": {key: value for key, value in asdict(options).items() if key != "preparation"},
        "epochs": epochs,
        "epoch_search": asdict(search) if search else None,
        "held_out_metrics": metrics.as_dict() if metrics else None,
    }
    with folder_atomic(output) as work:
        model.save(work / MODEL_FILE)
        options.preparation.save(work)
        write_json_atomic(work / CARD_FILE, card)
    return TrainingResult(output, split.counts, metrics, positive_label, epochs, search)


def _fasttext(train_file: Path, epochs: int, options: TrainingOptions) -> fasttext_new.FastText._FastText:
    return fasttext_new.train_supervised(
        input=str(train_file),
        epoch=epochs,
        lr=options.learning_rate,
        dim=options.dim,
        wordNgrams=options.word_ngrams,
        bucket=options.buckets,
        minCount=options.min_count,
        thread=options.threads,
        seed=options.seed,
        verbose=0,
    )


def _log_loss(model: ClassifierModel, documents: Labelled) -> float:
    """Mean log-loss of `documents`: each scored for its own label, the same call as held-out scoring."""
    probabilities: list[float] = []
    for label in sorted({label for label, _ in documents}):
        texts = [text for own, text in documents if own == label]
        probabilities += [score for _, score in model.scores(texts, label=label)]
    return mean_log_loss(probabilities)


def _read(
    labelled_paths: dict[str, list[str]], text_field: str, input_paths: list[str], label_field: str | None
) -> dict[str, list[str]]:
    documents: dict[str, list[str]] = {}
    for label, paths in labelled_paths.items():
        if paths:
            read = read_documents(paths, text_field, flag=f"--{label}")
            documents.setdefault(label, []).extend(text for _, text in read)
    if input_paths:
        if not label_field:
            raise UserError("--input needs --label-field: the JSONL field / Parquet column holding each label")
        for label, text in read_documents(input_paths, text_field, label_field):
            documents.setdefault(label or "none", []).append(text)
    return documents


def _split(documents: dict[str, list[str]], options: TrainingOptions) -> _Split:
    """Sample each label (seeded); of each, hold out a share, then (when the epochs are to be chosen) set a
    share of the rest aside for validation; interleave the training examples."""
    rng = random.Random(options.seed)
    smallest = min(len(texts) for texts in documents.values())
    split = _Split([], [], [], {})
    for label in sorted(documents):
        texts = list(documents[label])
        rng.shuffle(texts)
        take = min(len(texts), options.max_per_label or len(texts), smallest if options.balance else len(texts))
        held_count = round(take * options.held_out)
        rest = take - held_count
        validation_count = 0 if options.epochs is not None else max(1, round(rest * options.validation))
        if rest - validation_count < 1:
            raise UserError(
                f"too few documents of label {label!r} ({take}) to train on after --held-out"
                + ("" if options.epochs is not None else " and --validation (or give --epochs)")
            )
        split.held_out.extend((label, text) for text in texts[:held_count])
        split.validation.extend((label, text) for text in texts[held_count : held_count + validation_count])
        split.train.extend((label, text) for text in texts[held_count + validation_count : take])
        split.counts[label] = {
            "read": len(documents[label]),
            "trained": rest - validation_count,
            "validation": validation_count,
            "held_out": held_count,
        }
    rng.shuffle(split.train)  # fastText's SGD sees the labels mixed, not one block after another
    return split
