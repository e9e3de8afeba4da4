"""Classifier scoring throughput against datatrove's FastTextClassifierFilter, with the same fastText model
on the same documents, one core each; and decontamination throughput.

The model is trained here with `gristmill classifier train` on the bundled samples (default settings), and
written as a plain `model.bin` that both sides load: datatrove through the `fasttext` module (from
`fasttext-predict`, gristmill's language-ID dependency; datatrove's dependency check names the official
wheel, so a subclass names this one), gristmill through `fasttext_new`. datatrove is told to replace
newlines by spaces (`newline_replacement=" "`), as gristmill's preparation does, so both see the same
tokens; the bench prints how far their probabilities differ. Each side's `filter` / stage runner is called
once per document; a warm-up document loads each model outside the timing. Timing is CPU time
(`time.process_time`): docs/s per core.

Decontamination: the stage with the bundled docstrings as evaluation items (`question` field), timed over
the same documents, index build reported apart.

Documents: the kept shards of a gristmill run, or JSONL(.gz) files with `id` and `text`, e.g. the bundled
crawl's English pages and the long manual pages that bench/classifier_training.py builds:
  gristmill run recipes/quickstart.toml --output /tmp/qs
  python bench/classifier_training.py build-manuals /tmp/manuals
  python bench/classifier.py /tmp/qs/shards /tmp/manuals/rust-manuals.jsonl.gz /tmp/manuals/man-pages.jsonl.gz \
      --output bench/results/classifier.txt
(a crawl of your own: gristmill run recipes/quickstart.toml --input CRAWL --output /tmp/all, then /tmp/all/shards)
(`pip install -e ".[dev,bench]"`: datatrove's filter needs `fasteners`.)
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # one thread per numeric library: imported before numpy

sys.path.remove(str(Path(__file__).resolve().parent))  # bench/tokenizer.py would hide the tokenizer package

import numpy as np
import polars as pl
from datatrove.data import Document
from datatrove.pipeline.filters import FastTextClassifierFilter
from datatrove.utils._import_utils import check_required_dependencies

from pipeline.classifier.training import train_classifier
from pipeline.filters.chain import build_runner
from pipeline.filters.classifier import ClassifierStage
from pipeline.filters.decontaminate import DecontaminateStage, EvaluationIndex

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "samples"


class _WithLabels:
    """fasttext-predict's model with the `labels` attribute of the official binding, which datatrove reads."""

    def __init__(self, path: str) -> None:
        from fasttext.FastText import _FastText

        self._model = _FastText(path)
        self.labels = list(self._model.predict("", k=-1)[0])  # predict-only: no get_labels; k=-1 lists them
        self.predict = self._model.predict


class PredictOnlyFastTextFilter(FastTextClassifierFilter):
    """datatrove's `filter` unchanged; its dependency check and model loading name fasttext-predict, the
    `fasttext` module installed here (datatrove's own label check is skipped: the labels are known)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> PredictOnlyFastTextFilter:
        check_required_dependencies(cls.__name__, [("fasttext", "fasttext-predict"), "fasteners"])
        return object.__new__(cls)

    @property
    def model(self) -> _WithLabels:
        if self._model is None:
            self._model = _WithLabels(self.model_url)
        return self._model


def load_documents(corpus: Path, limit: int | None) -> list[tuple[str, str]]:
    """A folder of Parquet files (a run's shards) or a JSONL(.gz) file, with `id` and `text`."""
    if corpus.is_dir():
        frame = pl.read_parquet(corpus / "**" / "*.parquet", columns=["id", "text"])
    else:
        data = gzip.decompress(corpus.read_bytes()) if corpus.suffix == ".gz" else corpus.read_bytes()
        frame = pl.read_ndjson(data).select("id", "text")
    return list(frame.head(limit).iter_rows()) if limit else list(frame.iter_rows())


def timed(function: Any, documents: list[tuple[str, str]]) -> tuple[float, list[Any]]:
    started = time.process_time()
    results = [function(doc_id, text) for doc_id, text in documents]
    return time.process_time() - started, results


def score_both(model: Path, documents: list[tuple[str, str]]) -> dict[str, Any]:
    peer = PredictOnlyFastTextFilter(str(model), keep_labels=("positive", 0.5), newline_replacement=" ")
    stage = ClassifierStage(model=str(model), keep_label="positive", min_score=0.5)
    runner = build_runner(stage)

    def datatrove_side(doc_id: str, text: str) -> tuple[bool, float]:
        document = Document(text=text, id=doc_id)
        kept = peer.filter(document)
        return bool(kept), float(document.metadata["__label__positive"])

    def gristmill_side(doc_id: str, text: str) -> tuple[bool, float]:
        verdict = runner(text, None)
        return verdict.kept, float(verdict.columns["classifier_score"])

    datatrove_side(*documents[0])  # loads the model
    gristmill_side(*documents[0])
    peer_s, peer_results = timed(datatrove_side, documents)
    ours_s, our_results = timed(gristmill_side, documents)
    difference = np.abs(np.array([r[1] for r in peer_results]) - np.array([r[1] for r in our_results]))
    return {
        "documents": len(documents),
        "megabytes": sum(len(text.encode("utf-8")) for _, text in documents) / 1e6,
        "datatrove_s": peer_s,
        "gristmill_s": ours_s,
        "same_decision": sum(a[0] == b[0] for a, b in zip(peer_results, our_results, strict=True)),
        "max_difference": float(difference.max()),
    }


def decontaminate_rate(evaluation: Path, documents: list[tuple[str, str]]) -> dict[str, Any]:
    stage = DecontaminateStage(evaluations=[str(evaluation)], text_fields=["question"])
    started = time.process_time()
    index = EvaluationIndex(stage)
    build_s = time.process_time() - started
    runner = build_runner(stage)
    seconds, results = timed(lambda doc_id, text: runner(text, None), documents)
    return {
        "items": len(index.items),
        "ngrams": len(index.hashes),
        "build_s": build_s,
        "seconds": seconds,
        "removed": sum(not verdict.kept for verdict in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", nargs="+", type=Path, help="shard folders or JSONL files (one per corpus)")
    parser.add_argument("--limit", type=int, help="documents per corpus")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    report = common.Report()
    say = report.say
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "model"
        sources = {"positive": [str(SAMPLES / "classifier-positive.jsonl.gz")]}
        sources["negative"] = [str(SAMPLES / "classifier-negative.jsonl.gz")]
        trained = train_classifier(sources, folder)
        evaluation = Path(scratch) / "eval.jsonl"
        with (
            gzip.open(SAMPLES / "classifier-positive.jsonl.gz", "rt", encoding="utf-8") as source,
            open(evaluation, "w", encoding="utf-8") as handle,
        ):
            for line in source:
                row = json.loads(line)
                handle.write(json.dumps({"id": row["id"], "question": row["text"]}) + "\n")
        say(f"bench/classifier.py, {time.strftime('%Y-%m-%d %H:%M')}, {common.cpu_model()}")
        say(f"versions: {common.versions('datatrove', 'fasttext-predict', 'fasttext-new')}")
        say(f"model: gristmill classifier train on the bundled samples (default settings: {trained.epochs} epochs "
            f"chosen on validation log-loss; held-out AUC {trained.metrics.roc_auc:.4f}), "
            f"{(folder / 'model.bin').stat().st_size / 1e6:.0f} MB")  # fmt: skip
        rows = []
        for shards in args.shards:
            documents = load_documents(shards, args.limit)
            scored = score_both(folder / "model.bin", documents)
            decont = decontaminate_rate(evaluation, documents)
            n = scored["documents"]
            rows.append(
                [
                    str(shards),
                    f"{n:,}",
                    f"{scored['megabytes']:.1f}",
                    f"{n / scored['datatrove_s']:,.0f}",
                    f"{n / scored['gristmill_s']:,.0f}",
                    f"{scored['datatrove_s'] / scored['gristmill_s']:.2f}x",
                    f"{scored['same_decision']:,}",
                    f"{scored['max_difference']:.1e}",
                    f"{n / decont['seconds']:,.0f}",
                ]
            )
            say(
                f"{shards}: decontamination index of {decont['items']:,} items, {decont['ngrams']:,} 13-grams, "
                f"built in {decont['build_s']:.2f} s; {decont['removed']} documents contaminated"
            )
        headers = ["corpus", "docs", "MB", "datatrove docs/s", "gristmill docs/s", "ratio", "same keep", "max |dp|"]
        common.table(say, [*headers, "decontaminate docs/s"], rows)
    report.save(args.output)


if __name__ == "__main__":
    main()
