"""Every document a run wrote (kept shards and `removed/`), reduced to a few small columns per document,
reading one row group at a time: the text is measured and dropped, never held for the whole run.

A row is (stage, rule, bytes, domain, lang, key, source, group, row): `stage` and `rule` are null for kept
documents, `bytes` is the UTF-8 length of the text as it left the run, `key` a hash of the id that orders
samples, and (source, group, row) the file, row group and row that hold the document, so an example is read
back from its row group alone, by position (a run folder with a repeated id, from an older version or a
hand-made shard, still shows the right document). Memory is one row group per thread plus about 44 bytes
per document.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.report.run_folder import RunFolder

DOMAIN = r"^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(?:www\.)?([^:/?#]+)"
SAMPLE_SEED = 20_241_128


def sample_keys(ids: pl.Series) -> pl.Series:
    """Deterministic pseudo-random order of documents: the same run always shows the same examples."""
    return ids.hash(SAMPLE_SEED)


def sources(run: RunFolder) -> list[tuple[Path, str | None]]:
    """Every document file of the run with the stage that removed its documents (None: the shards)."""
    found: list[tuple[Path, str | None]] = [(path, None) for path in run.shard_files()]
    return found + [(path, stage) for stage in run.removed_stages() for path in run.removed_files(stage)]


def document_frame(run: RunFolder) -> pl.DataFrame:
    files = sources(run)
    measured = _in_threads(lambda index: _measured(index, *files[index]), list(range(len(files))))
    empty = _measured_rows(pa.table({"id": pa.array([], pa.string())}), pa.array([], pa.int64()), None, 0, 0)
    return pl.concat([empty, *(frame for frames in measured for frame in frames)])


def _measured(index: int, path: Path, stage: str | None) -> list[pl.DataFrame]:
    parquet = pq.ParquetFile(path)
    columns = [c for c in ("id", "text", "url", "lang", "removed_by") if c in parquet.schema_arrow.names]
    frames = []
    for group in range(parquet.metadata.num_row_groups):
        table = parquet.read_row_group(group, columns=columns)
        sizes = pc.binary_length(table.column("text").cast(pa.large_binary()))
        frames.append(_measured_rows(table.drop_columns(["text"]), sizes, stage, index, group))
    return frames


def _measured_rows(table: pa.Table, sizes: pa.Array, stage: str | None, source: int, group: int) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    names = frame.columns
    return frame.select(
        pl.lit(stage, pl.String).cast(pl.Categorical).alias("stage"),
        _column("removed_by", names if stage else []).alias("rule"),
        pl.Series("bytes", sizes, dtype=pl.UInt32),
        (domain_of(pl.col("url")) if "url" in names else pl.lit(None, pl.String)).cast(pl.Categorical).alias("domain"),
        _column("lang", names).alias("lang"),
        sample_keys(frame["id"]).alias("key"),
        pl.lit(source, pl.UInt32).alias("source"),
        pl.lit(group, pl.UInt32).alias("group"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
    )


def _column(name: str, names: list[str]) -> pl.Expr:
    return (pl.col(name) if name in names else pl.lit(None, pl.String)).cast(pl.Categorical)


def domain_of(url: pl.Expr) -> pl.Expr:
    return url.str.extract(DOMAIN, 1).str.to_lowercase()


def fetch_rows(run: RunFolder, wanted: pl.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """The documents of `wanted` (rows of the document frame) with `columns`, in the order of `wanted`:
    each is read from the one row group that holds it, at its position there."""
    files = sources(run)
    positions = wanted.select("source", "group", "row")
    places = positions.select("source", "group").unique().rows()

    def read(place: tuple[int, int]) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
        """((source, group, row), document) of the wanted rows of one row group."""
        parquet = pq.ParquetFile(files[place[0]][0])
        present = [c for c in dict.fromkeys(["id", *columns]) if c in parquet.schema_arrow.names]
        table = parquet.read_row_group(place[1], columns=present)
        rows = positions.filter((pl.col("source") == place[0]) & (pl.col("group") == place[1]))["row"].to_list()
        taken = table.take(pa.array(rows, pa.uint32())).to_pylist()
        return [
            ((place[0], place[1], row), {**dict.fromkeys(columns), **doc}) for row, doc in zip(rows, taken, strict=True)
        ]

    found = dict(pair for part in _in_threads(read, places) for pair in part)
    return [found[position] for position in positions.iter_rows() if position in found]


def locate(frame: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    """The frame rows of documents given by id (kept or removed)."""
    return frame.join(pl.DataFrame({"key": sample_keys(pl.Series(ids, dtype=pl.String))}), on="key", how="semi")


def _in_threads(work: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """pyarrow decodes and polars computes without the GIL: one file per thread."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), os.cpu_count() or 1))) as pool:
        return list(pool.map(work, items))


def entering_filters(frame: pl.DataFrame) -> pl.DataFrame:
    """The documents as the first stage after ingest saw them: kept ones and those removed after ingest
    (pages blocked by URL before extraction have no text and are left out)."""
    return frame.filter(pl.col("stage").is_null() | ((pl.col("stage") != "ingest") & (pl.col("bytes") > 0)))


def kept(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("stage").is_null())
