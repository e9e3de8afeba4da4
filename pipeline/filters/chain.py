"""A chain of per-document stages run fused over batches of documents, with per-stage accounting.

The chain is stage-major over a batch: each stage sees every surviving document of the batch before
the next stage starts, so a stage's state (the fastText model, the URL lists) stays hot, and the
word splits cached by `pipeline.filters.words` are shared by the stages that follow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipeline.filters.c4 import C4_COLUMNS, C4Stage, c4_filter
from pipeline.filters.classifier import ClassifierStage, classify, classify_batch, scoring_columns
from pipeline.filters.decontaminate import DecontaminateStage, decontaminate, decontaminate_columns, shared_index
from pipeline.filters.fineweb import FineWebStage, fineweb_filter
from pipeline.filters.gopher import GopherQualityStage, GopherRepetitionStage, gopher_quality, gopher_repetition
from pipeline.filters.hf_classifier import HfClassifierStage
from pipeline.filters.langid import LANG_COLUMNS, LangIdStage, LanguageIdentifier, identify_language
from pipeline.filters.length import LengthStage, length_filter
from pipeline.filters.pii import PII_COLUMNS, PiiStage, mask_pii
from pipeline.filters.scoring import SCORING_STAGES, load_scorer
from pipeline.filters.urls import UrlFilterStage, shared_blocklist
from pipeline.filters.verdict import Verdict
from pipeline.filters.words import clear_word_caches
from pipeline.steps.counters import StageCounters

FilterStage = (
    UrlFilterStage
    | GopherQualityStage
    | GopherRepetitionStage
    | C4Stage
    | FineWebStage
    | LengthStage
    | PiiStage
    | LangIdStage
    | ClassifierStage
    | HfClassifierStage
    | DecontaminateStage
)
FILTER_STAGES: tuple[type[FilterStage], ...] = (
    UrlFilterStage,
    LangIdStage,
    GopherRepetitionStage,
    GopherQualityStage,
    C4Stage,
    FineWebStage,
    LengthStage,
    PiiStage,
    ClassifierStage,
    HfClassifierStage,
    DecontaminateStage,
)
Runner = Callable[[str, str | None], Verdict]


def stage_columns(options: FilterStage) -> tuple[pa.Field, ...]:
    """The typed columns a stage adds to every document it sees (docs/formats.md)."""
    if isinstance(options, SCORING_STAGES):
        return scoring_columns(options)
    if isinstance(options, DecontaminateStage):
        return decontaminate_columns(options)
    return {LangIdStage: LANG_COLUMNS, PiiStage: PII_COLUMNS, C4Stage: C4_COLUMNS}.get(type(options), ())


def build_runner(options: FilterStage) -> Runner:
    """The callable that applies one stage to (text, url); heavy state is loaded here, once."""
    if isinstance(options, UrlFilterStage):
        blocklist = shared_blocklist(options)
        return lambda text, url: blocklist.check(url, text)
    if isinstance(options, DecontaminateStage):
        index = shared_index(options)
        return lambda text, url: decontaminate(text, index, options)
    if isinstance(options, SCORING_STAGES):
        return ScoringRunner(options)
    if isinstance(options, LangIdStage):
        LanguageIdentifier.shared()  # a model that cannot load fails the task here, not every document
    functions: dict[type, Callable[[str, Any], Verdict]] = {
        GopherQualityStage: gopher_quality,
        GopherRepetitionStage: gopher_repetition,
        C4Stage: c4_filter,
        FineWebStage: fineweb_filter,
        LengthStage: length_filter,
        PiiStage: mask_pii,
        LangIdStage: identify_language,
    }
    function = functions[type(options)]
    return lambda text, url: function(text, options)


class ScoringRunner:
    """A model-scoring stage: per document like every runner, and `batch` for the chain, which scores a
    whole batch in one call (a GPU model runs it as batches of its `batch_size`)."""

    def __init__(self, options: ClassifierStage | HfClassifierStage):
        self.options = options
        self.scorer = load_scorer(options)  # once per task

    def __call__(self, text: str, url: str | None) -> Verdict:
        return classify(text, self.scorer, self.options)

    def batch(self, texts: list[str]) -> list[Verdict]:
        return classify_batch(texts, self.scorer, self.options)


@dataclass(slots=True)
class Outcome(Verdict):
    """A verdict over the whole chain: kept (with its final text) or removed by `stage` under `removed_by`."""

    stage: str | None = None


class FilterChain:
    def __init__(self, stages: Sequence[FilterStage], task: int = 0):
        self.stages = list(stages)
        self.runners = [build_runner(options) for options in self.stages]
        self.counters = {options.kind: StageCounters(options.kind, task) for options in self.stages}

    @property
    def columns(self) -> list[pa.Field]:
        return [column for options in self.stages for column in stage_columns(options)]

    def apply(self, texts: Sequence[str], urls: Sequence[str | None] | None = None) -> list[Outcome]:
        """Run every stage over the batch; a document stops at the first stage that removes it."""
        urls = urls if urls is not None else [None] * len(texts)
        outcomes = [Outcome(text) for text in texts]
        sizes = [len(text.encode("utf-8", "replace")) for text in texts]
        alive = list(range(len(texts)))
        for options, runner in zip(self.stages, self.runners, strict=True):
            counters = self.counters[options.kind]
            started = time.perf_counter()
            survivors = []
            verdicts = _verdicts(runner, options.kind, [outcomes[i].text for i in alive], [urls[i] for i in alive])
            for i, verdict in zip(alive, verdicts, strict=True):
                outcome = outcomes[i]
                counters.bytes_in += sizes[i]
                outcome.columns.update(verdict.columns)
                if verdict.text is not outcome.text:
                    outcome.text = verdict.text
                    sizes[i] = len(verdict.text.encode("utf-8", "replace"))
                if verdict.removed_by is None:
                    counters.count_kept(sizes[i])
                    survivors.append(i)
                else:
                    counters.count_removed(verdict.removed_by, sizes[i])
                    outcome.stage = options.kind
                    outcome.removed_by = verdict.removed_by
                    outcome.removed_detail = verdict.removed_detail
            counters.seconds += time.perf_counter() - started
            alive = survivors
        clear_word_caches()  # the caches serve the stages of one batch; keep memory flat across batches
        return outcomes


def _verdicts(runner: Runner, kind: str, texts: list[str], urls: list[str | None]) -> list[Verdict]:
    """Each text's verdict: in one call for a runner that takes batches, one by one otherwise (and when the
    batch call fails, so the failure is pinned on the document that causes it)."""
    batch = getattr(runner, "batch", None)
    if batch is not None and texts:
        try:
            return batch(texts)
        except Exception:  # retried one by one below
            pass
    return [apply_safely(runner, kind, text, url) for text, url in zip(texts, urls, strict=True)]


def apply_safely(runner: Runner, kind: str, text: str, url: str | None) -> Verdict:
    """A rule that fails on one document removes that document with the error, not the whole task."""
    try:
        return runner(text, url)
    except Exception as error:  # counted and written to removed/<stage>/ with the message
        return Verdict(text, f"{kind}_error", f"{type(error).__name__}: {error}")
