"""`gristmill pack`: documents (Parquet shards) + a trained tokenizer -> memory-mappable token shards.

Layout (docs/formats.md): `PACKED/{train,val}/part-TTTTT.bin` (uint16 tokens when the vocab fits, else uint32;
documents back to back, each ended by EOS) and `part-TTTTT.idx` (int64 end offset of every document), plus
`manifest.json`. One datatrove task per input file writes its own parts: to temp names, renamed when the
task is done, so a rerun after a kill skips finished tasks and rewrites unfinished ones byte for byte.
The split is decided by a hash of the document id, so it does not depend on tasks, workers or order.
A task streams: row batches in, tokens out in blocks of BLOCK_TOKENS.
"""

from __future__ import annotations

import hashlib
import json
import sys
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from gristmill_base.atomic import publish, temp_path, write_json_atomic
from gristmill_base.errors import UserError
from pipeline.progress import TaskProgress, progress_dir
from tokenizer import Tokenizer
from tokenizer.files import assumed, fingerprint

SPLITS = ("train", "val")
JOB = ".pack"  # datatrove's completion markers, logs and the progress files, under PACKED/
BLOCK_TOKENS = 1 << 20
READ_ROWS = 1024


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 65536 else np.dtype("<u4")


def is_validation(document_id: str, fraction: float) -> bool:
    """The same answer for the same id everywhere: the first 8 bytes of BLAKE2b as a fraction of 2**64."""
    if fraction <= 0:
        return False
    digest = hashlib.blake2b(document_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") < fraction * 2**64


def part_paths(packed: Path, split: str, task: int) -> tuple[Path, Path]:
    stem = packed / split / f"part-{task:05d}"
    return stem.with_suffix(".bin"), stem.with_suffix(".idx")


class _PartWriter:
    """Tokens and document ends of one split of one task, buffered in blocks, written to temp files."""

    def __init__(self, bin_path: Path, idx_path: Path, dtype: np.dtype):
        self.paths = (bin_path, idx_path)
        bin_path.parent.mkdir(parents=True, exist_ok=True)
        self.bin = open(temp_path(bin_path), "wb")  # noqa: SIM115  (closed in finish)
        self.idx = open(temp_path(idx_path), "wb")  # noqa: SIM115
        self.dtype = dtype
        self.pending: list[list[int]] = []
        self.pending_tokens = 0
        self.tokens = 0
        self.documents = 0

    def add(self, ids: list[int]) -> None:
        self.pending.append(ids)
        self.pending_tokens += len(ids)
        if self.pending_tokens >= BLOCK_TOKENS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        lengths = np.fromiter((len(ids) for ids in self.pending), np.int64, len(self.pending))
        np.fromiter(chain.from_iterable(self.pending), self.dtype, self.pending_tokens).tofile(self.bin)
        (self.tokens + np.cumsum(lengths)).astype("<i8").tofile(self.idx)
        self.tokens += self.pending_tokens
        self.documents += len(self.pending)
        self.pending, self.pending_tokens = [], 0

    def finish(self) -> None:
        self._flush()
        for handle, path in ((self.bin, self.paths[0]), (self.idx, self.paths[1])):
            handle.close()
            publish(path)


class PackStep(PipelineStep):
    name = "pack"
    type = "gristmill"

    def __init__(self, files: list[Path], tokenizer_dir: Path, packed: Path, eos: str, val_fraction: float):
        super().__init__()
        self.files, self.tokenizer_dir, self.packed = files, tokenizer_dir, packed
        self.eos, self.val_fraction = eos, val_fraction
        self.progress_folder = progress_dir(packed, JOB)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tokenizer = Tokenizer.load(str(self.tokenizer_dir))
        eos = tokenizer.id_of(self.eos)
        dtype = token_dtype(tokenizer.vocab_size)
        writers = {split: _PartWriter(*part_paths(self.packed, split, rank), dtype) for split in SPLITS}
        parquet = pq.ParquetFile(self.files[rank])
        progress = TaskProgress(self.progress_folder / f"task-{rank:05d}.json")
        size, rows, total_rows = self.files[rank].stat().st_size, 0, max(parquet.metadata.num_rows, 1)
        for batch in parquet.iter_batches(batch_size=READ_ROWS, columns=["id", "text"]):
            for doc_id, text in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
                ids = tokenizer.encode(text, disallowed_special=())
                ids.append(eos)
                split = "val" if is_validation(doc_id, self.val_fraction) else "train"
                writers[split].add(ids)
            rows += batch.num_rows
            progress.update(size * rows // total_rows, rows)
        for writer in writers.values():
            writer.finish()
        progress.update(size, rows, force=True)
        yield from ()


def input_shards(inputs: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if (path / "shards").is_dir():
            path = path / "shards"
        found = sorted(path.rglob("part-*.parquet")) if path.is_dir() else [path] if path.is_file() else []
        if not found:
            raise UserError(f"--input {raw}: no Parquet shards found (a run folder, its shards/ or .parquet files)")
        files += found
    return files


def check_tokenizer(tokenizer_dir: Path, eos: str) -> Tokenizer:
    """The tokenizer, with one note on stderr of what was assumed where no gristmill.json says it (another
    tool's vocabulary), and its end-of-document token checked."""
    try:
        tokenizer = Tokenizer.load(str(tokenizer_dir))
    except ValueError as error:
        raise UserError(f"--tokenizer: {error}") from None
    note = assumed(tokenizer_dir, tokenizer.definition)
    if note:
        print(f"note: {note}", file=sys.stderr)
    try:
        tokenizer.id_of(eos)
    except ValueError as error:
        raise UserError(f"--eos {eos}: {error}") from None
    return tokenizer


def write_pack_manifest(packed: Path, tokenizer_dir: Path, tokenizer: Tokenizer, eos: str, files: list[Path],
                        val_fraction: float) -> dict[str, Any]:  # fmt: skip
    """Counts read back from the parts on disk, so the manifest describes exactly what is there."""
    dtype = token_dtype(tokenizer.vocab_size)
    splits: dict[str, Any] = {}
    for split in SPLITS:
        shards = []
        for task in range(len(files)):
            bin_path, idx_path = part_paths(packed, split, task)
            shards.append(
                {
                    "bin": bin_path.relative_to(packed).as_posix(),
                    "idx": idx_path.relative_to(packed).as_posix(),
                    "tokens": bin_path.stat().st_size // dtype.itemsize,
                    "documents": idx_path.stat().st_size // 8,
                    "source": str(files[task]),
                }
            )
        splits[split] = {
            "tokens": sum(s["tokens"] for s in shards),
            "documents": sum(s["documents"] for s in shards),
            "shards": shards,
        }
    manifest = {
        "tokenizer_sha256": fingerprint(tokenizer_dir),
        "tokenizer": str(tokenizer_dir),
        "vocab_size": tokenizer.vocab_size,
        "dtype": dtype.name,
        "eos_id": tokenizer.id_of(eos),
        "eos": eos,
        "val_fraction": val_fraction,
        **splits,
        "source_shards": [str(path) for path in files],
    }
    write_json_atomic(packed / "manifest.json", manifest)
    return manifest


def read_manifest(packed: Path) -> dict[str, Any]:
    path = packed / "manifest.json"
    if not path.is_file():
        raise UserError(f"{packed}: no manifest.json (not a finished `gristmill pack` output)")
    return json.loads(path.read_text())
