"""The deterministic shuffle of the shard stage, as two jobs after the last per-document job.

A seeded shuffle that a user can trust has to be global (documents of one crawl file spread over every
shard) and reproducible (the same seed and input give the same shards, whatever the number of tasks or
workers). Each document's key is a keyed 64-bit BLAKE2b of its id; key % buckets picks its bucket, and a
bucket's documents are written in key order.

  shuffle/scatter   one task per document file: its rows, bucket by bucket, one row group per bucket
  shuffle/gather    one task per bucket: that bucket's row groups from every scattered file, sorted by key,
                    handed to the shard step (so a bucket makes the shards `part-<bucket>-*`)

Buckets are sized to hold about one shard of text, so a gather task holds about one shard in memory.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from gristmill_base.atomic import publish, temp_path
from pipeline.dedup.dataset import document_files

KEY, BUCKET = "_shuffle_key", "_shuffle_bucket"


def shuffle_key(document_id: str, seed: int) -> int:
    key = seed.to_bytes(16, "little", signed=True)
    return int.from_bytes(hashlib.blake2b(document_id.encode("utf-8"), digest_size=8, key=key).digest(), "little")


def bucket_count(text_bytes: int, shard_bytes: int) -> int:
    """About one shard's worth of text per bucket (so shuffled shards stay under the target on disk). The
    count comes from the run's stats, not file sizes, so it does not depend on how many tasks wrote them."""
    return max(1, math.ceil(text_bytes / shard_bytes))


def scattered_file(work: Path, task: int) -> Path:
    return work / f"scatter-{task:05d}.parquet"


class ShuffleScatterStep(PipelineStep):
    name = "shuffle scatter"
    type = "gristmill"

    def __init__(self, documents: Path, work: Path, buckets: int, seed: int):
        super().__init__()
        self.documents, self.work, self.buckets, self.seed = documents, work, buckets, seed

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        files = document_files(self.documents)
        if rank < len(files):
            _write_by_bucket(scattered_file(self.work, rank), self._bucketed(pq.ParquetFile(files[rank])))
        yield from ()

    def _bucketed(self, parquet: pq.ParquetFile) -> Iterator[pa.Table]:
        """Each row group of the document file (so memory holds one), with key and bucket, sorted by bucket."""
        for group in range(parquet.metadata.num_row_groups):
            table = parquet.read_row_group(group)
            ids = table.column("id").to_pylist()
            keys = np.fromiter((shuffle_key(i, self.seed) for i in ids), np.uint64, len(ids))
            buckets = pa.array((keys % np.uint64(self.buckets)).astype(np.int32))
            yield table.append_column(KEY, pa.array(keys)).append_column(BUCKET, buckets).sort_by(BUCKET)


def _write_by_bucket(path: Path, tables: Iterator[pa.Table]) -> None:
    """One row group per bucket of each input row group, so the footer statistics of `_shuffle_bucket` tell a
    gather task which row groups to read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    writer: pq.ParquetWriter | None = None
    for table in tables:
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", write_statistics=[BUCKET])
        buckets = table.column(BUCKET).to_numpy()
        starts = np.flatnonzero(np.diff(buckets, prepend=-1))
        for start, end in zip(starts, [*starts[1:], len(buckets)], strict=True):
            writer.write_table(table.slice(start, end - start), row_group_size=end - start)
    if writer is None:
        return
    writer.close()
    publish(path)


class ShuffleGatherStep(PipelineStep):
    """Reads one bucket from every scattered file and yields its documents in key order, for the shard step."""

    name = "shuffle gather"
    type = "gristmill"

    def __init__(self, work: Path):
        super().__init__()
        self.work = work

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        parts = [table for path in sorted(self.work.glob("scatter-*.parquet")) for table in _bucket_rows(path, rank)]
        if not parts:
            return
        table = pa.concat_tables(parts).sort_by([(KEY, "ascending"), ("id", "ascending")])
        table = table.drop_columns([KEY, BUCKET])
        yield from _documents(table)


def _bucket_rows(path: Path, bucket: int) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(path)
    column = parquet.schema_arrow.get_field_index(BUCKET)
    for group in range(parquet.metadata.num_row_groups):
        statistics = parquet.metadata.row_group(group).column(column).statistics
        if statistics.min == statistics.max == bucket:
            yield parquet.read_row_group(group)


def _documents(table: pa.Table) -> Iterator[Document]:
    for batch in table.to_batches(max_chunksize=2048):
        for values in batch.to_pylist():
            yield Document(text=values.pop("text"), id=values.pop("id"), metadata=values)
