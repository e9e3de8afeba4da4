"""Which documents of a run an ablation trains on and holds out, the same every time.

Each document's place is a hash of (seed, id): runs filtered from the same crawl keep their ids, so a document
two runs share has the same place in both. The documents with the highest places are held out (a common
evaluation set made of every run's held-out documents, which no run trains on unless it is too small to
leave them), and training takes the others from the lowest place up until the token budget is met, counted
exactly with the ablation's tokenizer (a document's tokens and its end-of-text). A run with fewer tokens than
the budget is an error, or with `allow_repeat` is trained on all of it more than once, and the table says so.

Only ids and lengths are held for the whole run; texts are read back in chunks of chosen ids, one pass over
the shards per chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gristmill_base.errors import UserError

CHUNK_FACTOR = 1.25  # read this much more text than the estimate asks for, so one pass is usually enough


@dataclass
class RunDocuments:
    """A run's documents in their seeded order: file index, id and UTF-8 length of each."""

    name: str
    files: list[Path]
    order: pl.DataFrame  # columns file (u32), id (str), bytes (u64), place (u64); sorted by place, then id


def place_of(ids: pl.Series, seed: int) -> pl.Series:
    """A stable 64-bit place per id (blake2b of seed and id: the same in every process and version)."""
    salt = str(seed).encode()
    return pl.Series(
        "place",
        [
            int.from_bytes(
                hashlib.blake2b(i.encode("utf-8", "surrogatepass"), digest_size=8, salt=salt[:16]).digest(), "little"
            )
            for i in ids
        ],
        dtype=pl.UInt64,
    )


def run_documents(name: str, folder: Path, seed: int) -> RunDocuments:
    shards = folder / "shards"
    files = sorted(shards.rglob("part-*.parquet")) if shards.is_dir() else []
    if not files:
        raise UserError(f"run {folder}: no shards (shards/part-*.parquet); give a finished `gristmill run` folder")
    frames = []
    for index, path in enumerate(files):
        table = pq.read_table(path, columns=["id", "text"])
        sizes = pc.binary_length(table.column("text").cast(pa.large_binary()))
        ids = pl.Series("id", table.column("id"))
        frames.append(
            pl.DataFrame(
                {
                    "file": pl.Series([index] * len(ids), dtype=pl.UInt32),
                    "id": ids,
                    "bytes": pl.Series(sizes).cast(pl.UInt64),
                }
            )
        )
    order = pl.concat(frames).filter(pl.col("bytes") > 0)
    order = order.with_columns(place_of(order["id"], seed)).sort(["place", "id"])
    return RunDocuments(name, files, order)


def held_out(run: RunDocuments, count: int) -> pl.DataFrame:
    return run.order.tail(count) if count else run.order.clear()


def candidates(run: RunDocuments, count: int) -> pl.DataFrame:
    """The documents training may take, lowest place first."""
    return run.order.head(max(run.order.height - count, 0))


def read_texts(run: RunDocuments, chosen: pl.DataFrame) -> Iterator[tuple[str, str]]:
    """(id, text) of the chosen rows, in their order."""
    wanted = set(chosen["id"].to_list())
    texts: dict[str, str] = {}
    for index in chosen["file"].unique().sort().to_list():
        parquet = pq.ParquetFile(run.files[index])
        for batch in parquet.iter_batches(batch_size=4096, columns=["id", "text"]):
            for doc_id, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                if doc_id in wanted:
                    texts[doc_id] = text
    for doc_id in chosen["id"].to_list():
        yield doc_id, texts[doc_id]


@dataclass
class Selection:
    documents: int
    tokens: int  # of the documents, end-of-text tokens included
    available: bool  # False: the run has fewer tokens than the budget (all of it is used)


def select_training(
    run: RunDocuments, held: int, needed: int, encode_length: Callable[[str], int], writer: pq.ParquetWriter
) -> Selection:
    """Write the training documents (lowest place first) to `writer` until they hold `needed` tokens."""
    pool = candidates(run, held)
    if pool.height == 0:
        raise UserError(f"run {run.name}: no documents left for training after holding out {held}")
    taken = tokens = 0
    bytes_per_token = 4.0
    while tokens < needed and taken < pool.height:
        want = (needed - tokens) * bytes_per_token * CHUNK_FACTOR
        sizes = pool["bytes"].to_numpy()[taken:]
        count = max(1, int(np.searchsorted(np.cumsum(sizes), want)) + 1)
        chunk = pool.slice(taken, count)
        rows, chunk_bytes, chunk_tokens = [], 0, 0
        for doc_id, text in read_texts(run, chunk):
            if tokens >= needed:
                break
            length = encode_length(text) + 1
            rows.append((doc_id, text))
            tokens += length
            chunk_tokens += length
            chunk_bytes += len(text.encode("utf-8"))
        writer.write_table(pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]}))
        taken += len(rows)
        bytes_per_token = max(chunk_bytes / max(chunk_tokens, 1), 0.5)
    return Selection(taken, tokens, tokens >= needed)
