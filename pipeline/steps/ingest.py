"""The ingest stage as a datatrove step: read this task's files, extract HTML, yield Documents.

Removed documents travel on with `removed_by` / `removed_detail` in their metadata, so the
writer at the end of the task puts them in `removed/<stage>/`; later stages pass them through.
A URL filter placed right after ingest runs here, before HTML extraction, so blocked pages cost no
extraction time (their rows in `removed/url_filter/` have empty text).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.extract import html_to_text, normalise_newlines
from pipeline.filters.chain import apply_safely
from pipeline.filters.urls import UrlFilterStage, shared_blocklist
from pipeline.filters.verdict import Verdict
from pipeline.inputs import InputFile
from pipeline.progress import TaskProgress, progress_dir
from pipeline.readers import ReaderOptions, Record
from pipeline.readers.task import TaskInput
from pipeline.recipe import IngestStage
from pipeline.sandbox import CallFailed, CallTimedOut, TimeLimitedWorker
from pipeline.steps.counters import StageCounters, Stopwatch
from pipeline.steps.repeats import FileRepeats, RepeatsFolder


class IngestStep(PipelineStep):
    name = "ingest"
    type = "gristmill"

    def __init__(
        self,
        run_dir: Path,
        job: str,
        options: IngestStage,
        files: list[InputFile],
        plan: list[list[int]],
        limits: list[int | None],
        url_filter: UrlFilterStage | None = None,
        repeats_dir: Path | None = None,
    ):
        super().__init__()
        self.run_dir = run_dir
        self.job = job
        self.options = options
        self.files = files
        self.plan = plan
        self.limits = limits
        self.url_filter = url_filter
        self.repeats = RepeatsFolder(repeats_dir) if repeats_dir else None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counters = StageCounters(self.name, rank)
        progress = TaskProgress(progress_dir(self.run_dir, self.job) / f"task-{rank:05d}.json")
        task = TaskInput(self.files, self.plan[rank], reader_options(self.options), self.limits[rank])
        finished_bytes = 0
        url_check = _UrlCheck(self.url_filter, rank) if self.url_filter else None
        if self.repeats and not self.repeats.resolve_done.exists():  # Slurm: afterok may not have waited for it
            raise RuntimeError("ingest: the repeat check (repeats/resolve) has not finished; run again")
        watch = Stopwatch(counters)
        with TimeLimitedWorker(html_to_text, self.options.extract_timeout) as extractor:
            for file_index, file in task.files():
                counters.files += 1
                repeats = FileRepeats(self.repeats, file_index, file) if self.repeats else None
                documents, held = 0, Counter[str]()  # what a file that yields no document holds instead
                for ordinal, record in task.records(file):
                    if ordinal is None:
                        counters.skipped[record.removed_by or "unknown"] += 1
                        held[record.removed_by or "unknown"] += 1
                        continue
                    if record.unreadable:
                        held[record.removed_by or "unknown"] += 1
                    else:
                        documents += 1
                    if repeats is not None:
                        repeats.apply(ordinal, record)
                    document = self._to_document(record, extractor, url_check)
                    removed_by = document.metadata.get("removed_by")
                    if removed_by and document.metadata["removed_stage"] == self.name:
                        counters.count_removed(removed_by, len(document.text.encode("utf-8", "replace")))
                    else:
                        size = len(document.text.encode("utf-8"))
                        counters.count_kept(size)
                        if url_check and not removed_by:
                            url_check.counters.count_kept(size)
                            url_check.counters.bytes_in += size
                    counters.bytes_in += record.raw_bytes
                    progress.update(finished_bytes + record.position, counters.docs_in)
                    watch.pause()
                    yield document
                    watch.resume()
                if repeats is not None:
                    repeats.finish()
                if not documents:
                    counters.empty_inputs[file.path] = (
                        ", ".join(f"{rule} {n:,}" for rule, n in held.items()) or "no records"
                    )
                finished_bytes += file.size or 0
        watch.pause()
        progress.update(finished_bytes, counters.docs_in, force=True)
        if url_check:
            counters.seconds -= url_check.ingest_seconds_spent
            url_check.counters.save(self.run_dir)
        counters.save(self.run_dir)

    def _to_document(self, record: Record, extractor: TimeLimitedWorker, url_check: _UrlCheck | None) -> Document:
        metadata = {
            "url": record.url,
            "source": record.source,
            "date": record.date,
            "removed_by": record.removed_by,
            "removed_detail": record.removed_detail,
            "removed_stage": self.name if record.removed_by else None,
        }
        document = Document(text=normalise_newlines(record.text or ""), id=record.id, metadata=metadata)
        if record.removed_by:
            return document
        if url_check:
            verdict = url_check.check(document.text, record.url)
            if not verdict.kept:
                # HTML pages stay unextracted (empty text): that is the saving; other inputs keep their text
                return _remove(document, "url_filter", verdict.removed_by or "", verdict.removed_detail or "")
        if record.html is not None:
            try:
                document.text, _ = extractor(
                    record.html, record.charset, self.options.extractor, self.options.main_content
                )
            except CallTimedOut as error:
                return _remove(document, self.name, "extract_timeout", str(error))
            except CallFailed as error:
                return _remove(document, self.name, "extract_error", str(error))
        if not document.text.strip():
            return _remove(document, self.name, "empty_text", "no text after extraction")
        return document


class _UrlCheck:
    """The URL filter stage when it runs inside ingest: its blocklist and its own counters.

    Its time is its own: it is taken off ingest's clock (`ingest_seconds_spent`).
    """

    def __init__(self, options: UrlFilterStage, task: int):
        blocklist = shared_blocklist(options)
        self.runner = lambda text, url: blocklist.check(url, text)
        self.counters = StageCounters("url_filter", task)
        self.ingest_seconds_spent = 0.0

    def check(self, text: str, url: str | None) -> Verdict:
        started = time.perf_counter()
        verdict = apply_safely(self.runner, "url_filter", text, url)
        elapsed = time.perf_counter() - started
        self.counters.seconds += elapsed
        self.ingest_seconds_spent += elapsed
        if not verdict.kept:
            self.counters.count_removed(verdict.removed_by or "url_filter", len(text.encode("utf-8", "replace")))
        return verdict


def reader_options(options: IngestStage) -> ReaderOptions:
    """What the readers take from the recipe's ingest stage."""
    return ReaderOptions(
        text_field=options.text_field,
        id_field=options.id_field,
        url_field=options.url_field,
        date_field=options.date_field,
        max_html_bytes=int(options.max_html_bytes),
        invalid_utf8=options.invalid_utf8,
    )


def _remove(document: Document, stage: str, rule: str, detail: str) -> Document:
    document.metadata.update(removed_by=rule, removed_detail=detail, removed_stage=stage)
    return document
