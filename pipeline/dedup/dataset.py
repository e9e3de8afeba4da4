"""The documents a dedup stage sees: the Parquet files the job before it wrote, in name order.

A document's run-wide id ("gid") is its position in that order: the offset of its file plus its row.
Files are named by task and sequence (`part-TTTTT-SSSSS.parquet`), tasks take consecutive runs of the
input files in path order, and each reads its files in order; so gid order is input order (input path,
then position in the file) whatever the number of tasks or workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gristmill_base.atomic import publish, temp_path

READ_BATCH_ROWS = 2048


def document_files(folder: Path) -> list[Path]:
    """`part-TTTTT-SSSSS.parquet` files by task, then sequence, as numbers (task 100000 sorts after 99999)."""
    files = folder.glob("part-*.parquet") if folder.is_dir() else []
    return sorted(files, key=lambda path: tuple(int(part) for part in path.stem.split("-")[1:]))


def file_offsets(files: list[Path]) -> np.ndarray:
    """int64[len(files) + 1]: the gid of each file's first row, then the total."""
    counts = [pq.ParquetFile(path).metadata.num_rows for path in files]
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64)


def text_batches(path: Path) -> Iterator[list[str]]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS, columns=["text"]):
        yield batch.column(0).to_pylist()


def row_batches(path: Path) -> Iterator[pa.RecordBatch]:
    yield from pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH_ROWS)


def save_array(path: Path, array: np.ndarray) -> None:
    """np.save to a temp name, then rename: a reader never sees half an array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(temp_path(path), "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    publish(path)


def load_array(path: Path, mmap: bool = False) -> np.ndarray:
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def write_table_atomic(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, temp_path(path), compression="zstd")
    publish(path)
