"""The shard stage as the last datatrove step of a task: kept documents to `shards/`, removed ones to
`removed/<stage>/`, each task owning the files that start with `part-<task>`.

With language routing on, kept documents go to `shards/lang=<code>/` (hive-style folders). The files
keep their own `lang` column, so each file stands alone; polars (`hive_partitioning=True`) and
`pyarrow.dataset` with `partitioning="hive"` read the folder, while `pyarrow.parquet.read_table` on the
folder refuses the partition key it infers as a second `lang`. All open language writers together buffer
at most one row group of text: past that, the largest buffer is written out.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.parquet_writer import ParquetShardWriter, remove_task_outputs
from pipeline.recipe import ShardStage
from pipeline.schema import document_schema, removed_schema
from pipeline.steps.counters import StageCounters


def shards_dir(run_dir: Path) -> Path:
    return run_dir / "shards"


def removed_dir(run_dir: Path, stage: str) -> Path:
    return run_dir / "removed" / stage


class ShardStep(PipelineStep):
    name = "shard"
    type = "gristmill"

    def __init__(
        self,
        run_dir: Path,
        options: ShardStage,
        removed_stages: list[str],
        stage_columns: list[pa.Field] | None = None,
        route_by_lang: bool = False,
        intermediate: Path | None = None,
        removed_columns: list[pa.Field] | None = None,
    ):
        """With `intermediate` set, kept documents go there for the next job (a dedup stage) instead of to
        `shards/`, unrouted and uncounted: the shard stage is counted once, by the last job. `removed_columns`
        (default: the stage columns) are those of every stage of the run, so all of `removed/` has one schema."""
        super().__init__()
        self.run_dir = run_dir
        self.intermediate = intermediate
        self.options = options
        self.removed_stages = removed_stages
        self.stage_columns = stage_columns or []
        self.removed_columns = self.stage_columns if removed_columns is None else removed_columns
        self.route_by_lang = route_by_lang

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        prefix = f"part-{rank:05d}"
        shards = self.intermediate or shards_dir(self.run_dir)
        folders = [shards, *shards.glob("lang=*"), *(removed_dir(self.run_dir, s) for s in self.removed_stages)]
        for folder in folders:
            remove_task_outputs(folder, prefix)
        counters = StageCounters(self.name, rank)
        kept_schema = document_schema(self.stage_columns)
        kept: dict[Path, ParquetShardWriter] = {}
        removed: dict[str, ParquetShardWriter] = {}
        kept_buffered = 0
        for document in data or ():
            started = time.perf_counter()
            row = self._row(document)
            stage = document.metadata.get("removed_stage")
            if stage:
                if stage not in removed:
                    schema = removed_schema(self.removed_columns)
                    removed[stage] = self._writer(removed_dir(self.run_dir, stage), prefix, schema)
                removed[stage].write(row)
            else:
                folder = shards / f"lang={row.get('lang') or 'unknown'}" if self.route_by_lang else shards
                if folder not in kept:
                    kept[folder] = self._writer(folder, prefix, kept_schema)
                writer = kept[folder]
                before = writer.buffered_bytes
                writer.write(row)
                kept_buffered += writer.buffered_bytes - before
                if kept_buffered > int(self.options.row_group_size):
                    largest = max(kept.values(), key=lambda w: w.buffered_bytes)
                    kept_buffered -= largest.buffered_bytes
                    largest.flush()
                counters.count_kept(len(row["text"].encode("utf-8")))
            counters.seconds += time.perf_counter() - started
        started = time.perf_counter()
        for writer in [*kept.values(), *removed.values()]:
            writer.close()
        counters.seconds += time.perf_counter() - started
        counters.bytes_in = counters.bytes_out
        if self.intermediate is None:
            counters.save(self.run_dir)
        yield from ()

    def _writer(self, folder: Path, prefix: str, schema: pa.Schema) -> ParquetShardWriter:
        return ParquetShardWriter(
            folder,
            prefix,
            schema,
            shard_bytes=int(self.options.shard_size),
            row_group_bytes=int(self.options.row_group_size),
            compression_level=self.options.compression_level,
        )

    def _row(self, document: Document) -> dict:
        meta = document.metadata
        row = {
            "id": document.id,
            "text": document.text,
            "url": meta.get("url"),
            "source": meta.get("source"),
            "date": meta.get("date"),
            "removed_by": meta.get("removed_by"),
            "removed_detail": meta.get("removed_detail"),
        }
        for name in dict.fromkeys(c.name for c in [*self.stage_columns, *self.removed_columns]):
            row[name] = meta.get(name)
        return row
