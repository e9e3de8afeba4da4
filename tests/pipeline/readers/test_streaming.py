"""Readers stream: peak (Python-level, tracemalloc) memory while reading does not grow with the input size."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from crawl_factory import multilingual_entries, write_warc

from pipeline.inputs import resolve_inputs
from pipeline.readers import ReaderOptions, read_records


def peak_while_reading(path: Path) -> tuple[int, int]:
    """(records read, peak traced bytes) for one full pass over `path`."""
    (file,) = resolve_inputs([str(path)])
    tracemalloc.start()
    count = sum(1 for _ in read_records(file, ReaderOptions()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, peak


def write_jsonl_gz(path: Path, lines: int) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(lines):
            handle.write(json.dumps({"id": f"doc-{i}", "text": f"line {i} " + "word " * 200}) + "\n")
    return path


def write_parquet(path: Path, rows: int) -> Path:
    table = pa.table({"id": [f"r{i}" for i in range(rows)], "text": [f"row {i} " + "word " * 200 for i in range(rows)]})
    pq.write_table(table, path, row_group_size=2000)
    return path


def assert_flat(small: tuple[int, int], large: tuple[int, int]) -> None:
    assert large[0] >= 8 * small[0]
    # eight times the input, yet at most a little more memory than the small input needed
    assert large[1] < 1.5 * small[1] + 1_000_000, (small, large)


def test_warc_reader_memory_is_flat(tmp_path: Path):
    small = peak_while_reading(write_warc(tmp_path / "small.warc.gz", multilingual_entries(300)))
    large = peak_while_reading(write_warc(tmp_path / "large.warc.gz", multilingual_entries(2400)))
    assert_flat(small, large)


def test_jsonl_reader_memory_is_flat(tmp_path: Path):
    small = peak_while_reading(write_jsonl_gz(tmp_path / "small.jsonl.gz", 1000))
    large = peak_while_reading(write_jsonl_gz(tmp_path / "large.jsonl.gz", 8000))
    assert_flat(small, large)


def test_parquet_reader_memory_is_flat(tmp_path: Path):
    small = peak_while_reading(write_parquet(tmp_path / "small.parquet", 4000))
    large = peak_while_reading(write_parquet(tmp_path / "large.parquet", 32000))
    assert_flat(small, large)
