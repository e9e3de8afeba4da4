"""The shard stage as the last datatrove step of a task: kept documents to `shards/`, removed ones to
`removed/<stage>/`, each task owning the files that start with `part-<task>`.
"""

from __future__ import annotations

import time
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.parquet_writer import ParquetShardWriter, remove_task_outputs
from pipeline.recipe import ShardStage
from pipeline.schema import DOCUMENT_SCHEMA, REMOVED_SCHEMA
from pipeline.steps.counters import StageCounters


def shards_dir(run_dir: Path) -> Path:
    return run_dir / "shards"


def removed_dir(run_dir: Path, stage: str) -> Path:
    return run_dir / "removed" / stage


class ShardStep(PipelineStep):
    name = "shard"
    type = "gristmill"

    def __init__(self, run_dir: Path, options: ShardStage, removed_stages: list[str]):
        super().__init__()
        self.run_dir = run_dir
        self.options = options
        self.removed_stages = removed_stages

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        prefix = f"part-{rank:05d}"
        for folder in [shards_dir(self.run_dir)] + [removed_dir(self.run_dir, s) for s in self.removed_stages]:
            remove_task_outputs(folder, prefix)
        counters = StageCounters(self.name, rank)
        kept = self._writer(shards_dir(self.run_dir), prefix, DOCUMENT_SCHEMA)
        removed: dict[str, ParquetShardWriter] = {}
        for document in data or ():
            started = time.perf_counter()
            row = _row(document)
            stage = document.metadata.get("removed_stage")
            if stage:
                if stage not in removed:
                    removed[stage] = self._writer(removed_dir(self.run_dir, stage), prefix, REMOVED_SCHEMA)
                removed[stage].write(row)
            else:
                kept.write(row)
                counters.count_kept(len(row["text"].encode("utf-8")))
            counters.seconds += time.perf_counter() - started
        started = time.perf_counter()
        for writer in [kept, *removed.values()]:
            writer.close()
        counters.seconds += time.perf_counter() - started
        counters.bytes_in = counters.bytes_out
        counters.save(self.run_dir)
        yield from ()

    def _writer(self, folder: Path, prefix: str, schema) -> ParquetShardWriter:
        return ParquetShardWriter(
            folder,
            prefix,
            schema,
            shard_bytes=int(self.options.shard_size),
            row_group_bytes=int(self.options.row_group_size),
            compression_level=self.options.compression_level,
        )


def _row(document: Document) -> dict:
    meta = document.metadata
    return {
        "id": document.id,
        "text": document.text,
        "url": meta.get("url"),
        "source": meta.get("source"),
        "date": meta.get("date"),
        "removed_by": meta.get("removed_by"),
        "removed_detail": meta.get("removed_detail"),
    }
