"""The fused per-document filter stages as one datatrove step: batches in, the same documents out.

Documents already removed upstream pass through untouched; the others get their stage columns,
possibly rewritten text, and, when a stage removes them, `removed_by` / `removed_detail` /
`removed_stage` metadata for the shard step to write to `removed/<stage>/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.filters.chain import FilterChain, FilterStage

BATCH_SIZE = 512


class FilterStep(PipelineStep):
    name = "filter"
    type = "gristmill"

    def __init__(self, run_dir: Path, stages: list[FilterStage]):
        super().__init__()
        self.run_dir = run_dir
        self.stages = stages

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        chain = FilterChain(self.stages, task=rank)
        for batch in _batches(data or (), BATCH_SIZE):
            live = [d for d in batch if not d.metadata.get("removed_stage")]
            outcomes = chain.apply([d.text for d in live], [d.metadata.get("url") for d in live])
            for document, outcome in zip(live, outcomes, strict=True):
                document.text = outcome.text
                document.metadata.update(outcome.columns)
                if not outcome.kept:
                    document.metadata.update(
                        removed_by=outcome.removed_by,
                        removed_detail=outcome.removed_detail,
                        removed_stage=outcome.stage,
                    )
            yield from batch
        for counters in chain.counters.values():
            counters.save(self.run_dir)


def _batches(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
