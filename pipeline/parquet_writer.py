"""Parquet shard writer: zstd, statistics and page index on, row groups sized for streaming, atomic files.

Statistics (and so the page index) cover every column but `text`: min/max of whole documents would fill
the footer and every page header with up to 4 kB per column chunk and never prune a read.

Rows are buffered per column; a row group is written when the buffered text reaches
`row_group_bytes`, and a shard is finished (renamed from its temp name) once it reaches
`shard_bytes` on disk. Shard names are `{prefix}-{seq:05d}.parquet`, so a task that is rerun
rewrites exactly the same names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gristmill_base.atomic import publish, temp_path

MAX_ROWS_PER_GROUP = 100_000


class ParquetShardWriter:
    def __init__(
        self,
        directory: Path,
        prefix: str,
        schema: pa.Schema,
        shard_bytes: int = 256_000_000,
        row_group_bytes: int = 32_000_000,
        compression_level: int = 3,
    ):
        self.directory = directory
        self.prefix = prefix
        self.schema = schema
        self.shard_bytes = shard_bytes
        self.row_group_bytes = row_group_bytes
        self.compression_level = compression_level
        self.written: list[Path] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self._buffered_bytes = 0
        self._seq = 0
        self._writer: pq.ParquetWriter | None = None
        self._path: Path | None = None

    def write(self, row: dict[str, Any]) -> None:
        for name, values in self._columns.items():
            values.append(row.get(name))
        self._buffered_bytes += len(row.get("text") or "")
        if self._buffered_bytes >= self.row_group_bytes or len(self._columns["id"]) >= MAX_ROWS_PER_GROUP:
            self._flush()

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def flush(self) -> None:
        """Write the buffered rows as a row group now (bounds memory when many writers are open)."""
        self._flush()

    def close(self) -> list[Path]:
        """Write what is buffered, finish the open shard, and return every shard written."""
        self._flush()
        self._finish_shard()
        return self.written

    def _flush(self) -> None:
        if not self._columns["id"]:
            return
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        self._columns = {name: [] for name in self.schema.names}
        self._buffered_bytes = 0
        if self._writer is None:
            self._open_shard()
        assert self._writer is not None and self._path is not None
        self._writer.write_table(table, row_group_size=table.num_rows)
        if os.path.getsize(temp_path(self._path)) >= self.shard_bytes:
            self._finish_shard()

    def _open_shard(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path = self.directory / f"{self.prefix}-{self._seq:05d}.parquet"
        self._writer = pq.ParquetWriter(
            temp_path(self._path),
            self.schema,
            compression="zstd",
            compression_level=self.compression_level,
            write_statistics=[name for name in self.schema.names if name != "text"],
            write_page_index=True,
        )

    def _finish_shard(self) -> None:
        if self._writer is None or self._path is None:
            return
        self._writer.close()
        publish(self._path)
        self.written.append(self._path)
        self._writer, self._path = None, None
        self._seq += 1


def remove_task_outputs(directory: Path, prefix: str) -> None:
    """Delete what an earlier, interrupted attempt of a task left (finished shards and temp files)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name.startswith((f"{prefix}-", f".{prefix}-")):
            path.unlink()
