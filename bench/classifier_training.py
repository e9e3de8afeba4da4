"""How well `gristmill classifier train` fits, and what it costs: fastText's defaults (5 epochs at lr 0.1, the
old defaults), 25 epochs at lr 0.1, and the default (lr 0.5, epochs chosen on a validation share), each on
the same pairs of real sources and the same held-out documents. A model that underfits gives every document
about the same score, so the table shows how the held-out scores spread (from each label's score histogram)
beside ROC AUC and log-loss. Time is CPU time of one thread (`time.process_time`), reading included.

Pairs: the bundled samples (Python docstrings vs Debian changelog entries: short, very different) and, built
offline by `build-manuals`, long technical pages: Rust's manuals (the stable toolchain's HTML books, text
by gristmill's extraction, mdBook's key help cut) vs Linux manual pages (man1/5/7/8 rendered by `man`, the
Google Cloud SDK's thousands of generated pages left out), 2,000 characters or more each.

  python bench/classifier_training.py build-manuals /tmp/manuals
  python bench/classifier_training.py --pair manuals /tmp/manuals/rust-manuals.jsonl.gz \\
      /tmp/manuals/man-pages.jsonl.gz --output bench/results/classifier-training.txt
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # one thread per numeric library: imported before numpy

sys.path.remove(str(Path(__file__).resolve().parent))  # bench/tokenizer.py would hide the tokenizer package

from pipeline.classifier.training import TrainingOptions, TrainingResult, train_classifier
from pipeline.extract import extract_text

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "samples"
BUNDLED = ("bundled", str(SAMPLES / "classifier-positive.jsonl.gz"), str(SAMPLES / "classifier-negative.jsonl.gz"))
SETTINGS = {
    "5 epochs, lr 0.1 (old default)": TrainingOptions(epochs=5, learning_rate=0.1),
    "25 epochs, lr 0.1": TrainingOptions(epochs=25, learning_rate=0.1),
    "default (lr 0.5, epochs chosen)": TrainingOptions(),
}
RUST_DOCS = Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html"
RUST_BOOKS = (
    "book",
    "reference",
    "nomicon",
    "cargo",
    "rustc",
    "edition-guide",
    "embedded-book",
    "style-guide",
    "rustdoc",
    "rust-by-example",
)
TRANSLATIONS = {"es", "ja", "ko", "zh"}  # rust-by-example's translated copies
MIN_CHARS, PER_SOURCE = 2000, 840


def build_manuals(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    rust: dict[str, str] = {}
    for book in RUST_BOOKS:
        for page in sorted((RUST_DOCS / book).rglob("*.html")):
            if page.name in ("print.html", "toc.html", "404.html") or TRANSLATIONS & set(page.parts):
                continue
            text = extract_text(page.read_text(encoding="utf-8", errors="replace"))
            text = text.split("Press Esc to hide this help", 1)[-1].strip()  # mdBook's key help on every page
            if len(text) >= MIN_CHARS:
                rust.setdefault(text, str(page.relative_to(RUST_DOCS)))
    pages = sorted(
        page
        for section in ("man1", "man5", "man7", "man8")
        for page in Path(f"/usr/share/man/{section}").iterdir()
        if page.is_file() and not page.is_symlink() and not page.name.startswith(("gcloud", "bq", "gsutil"))
    )
    random.Random(0).shuffle(pages)
    manuals: dict[str, str] = {}
    environment = dict(os.environ, MANWIDTH="100", LANG="C.UTF-8")
    for page in pages:
        if len(manuals) >= PER_SOURCE:
            break
        shown = subprocess.run(["man", "-l", str(page)], capture_output=True, env=environment, text=True)
        text = subprocess.run(["col", "-bx"], input=shown.stdout, capture_output=True, text=True).stdout.strip()
        if shown.returncode == 0 and len(text) >= MIN_CHARS:
            manuals.setdefault(text, page.name)
    for name, found in (("rust-manuals", rust), ("man-pages", manuals)):
        rows = random.Random(0).sample(sorted(found.items()), min(PER_SOURCE, len(found)))
        with gzip.open(output / f"{name}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"id": key, "text": text}, ensure_ascii=False) + "\n" for text, key in rows)
        print(f"{output / name}.jsonl.gz: {len(rows)} pages")


def spread(result: TrainingResult) -> tuple[float, float, float]:
    """Held-out shares: scores in [0.4, 0.6); positives scoring 0.9 or more; negatives under 0.1."""
    metrics = result.metrics
    assert metrics is not None
    positives, negatives = metrics.positive_histogram, metrics.negative_histogram
    middle = (sum(positives[4:6]) + sum(negatives[4:6])) / metrics.documents
    return middle, positives[9] / sum(positives), negatives[0] / sum(negatives)


def main() -> None:
    if sys.argv[1:2] == ["build-manuals"]:
        build_manuals(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=3, action="append", default=[], metavar=("NAME", "POSITIVE", "NEGATIVE"))
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report = common.Report()
    say = report.say
    say(f"bench/classifier_training.py, {time.strftime('%Y-%m-%d %H:%M')}, {common.cpu_model()}")
    say(f"versions: {common.versions('fasttext-new')}")
    rows = []
    for name, positive, negative in [BUNDLED, *args.pair]:
        for setting, options in SETTINGS.items():
            with tempfile.TemporaryDirectory() as scratch:
                started = time.process_time()
                result = train_classifier({"positive": [positive], "negative": [negative]}, Path(scratch), options)
                seconds = time.process_time() - started
            metrics = result.metrics
            assert metrics is not None and metrics.roc_auc is not None
            middle, high, low = spread(result)
            chosen = result.epoch_search.validation_log_loss if result.epoch_search else {}
            epochs = f"{result.epochs} of {', '.join(map(str, chosen))}" if chosen else str(result.epochs)
            counts = "+".join(str(figures["held_out"]) for figures in result.counts.values())
            rows.append(
                [
                    name,
                    setting,
                    epochs,
                    counts,
                    f"{metrics.roc_auc:.4f}",
                    f"{metrics.f1:.3f}",
                    f"{metrics.log_loss:.4f}",
                    f"{middle:.0%}",
                    f"{high:.0%}",
                    f"{low:.0%}",
                    f"{seconds:.1f}",
                ]
            )
            say(f"{name}, {setting}: {rows[-1][2:]}")
    headers = ["pair", "settings", "epochs", "held out", "AUC", "F1", "log-loss", "in [.4,.6)", "pos >=.9"]
    common.table(say, [*headers, "neg <.1", "CPU s"], rows, left=3)
    report.save(args.output)


if __name__ == "__main__":
    main()
