"""The first step of a job that follows a run-wide stage (dedup, a classifier keeping a top share): task t
reads document file t of the job before, applies the stage's decisions and yields every document, kept or
marked removed, to the per-document stages and the writer after it. Subclasses say how a file's documents
are decided; the stage's counters are kept here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.dedup.dataset import document_files
from pipeline.steps.counters import StageCounters, Stopwatch


class DecisionsSource(PipelineStep):
    type = "gristmill"

    def __init__(self, run_dir: Path, stage_kind: str, docs_dir: Path, progress_folder: Path):
        super().__init__()
        self.run_dir = run_dir
        self.stage_kind = stage_kind
        self.docs_dir = docs_dir
        self.progress_folder = progress_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        counters = StageCounters(self.stage_kind, rank)
        files = document_files(self.docs_dir)
        if rank < len(files):
            counters.files = 1
            watch = Stopwatch(counters)
            for document in self.decided(files[rank], rank, counters):
                watch.pause()
                yield document
                watch.resume()
            watch.pause()
        counters.save(self.run_dir)

    def decided(self, path: Path, index: int, counters: StageCounters) -> Iterator[Document]:
        """The documents of file `path` (number `index`), each counted as kept or removed."""
        raise NotImplementedError
