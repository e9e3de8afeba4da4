"""Recipe stage `kind = "decontaminate"`: remove documents that contain an evaluation set's test items, so a
model's later scores on those sets mean something. A document is contaminated when it shares an n-gram of
`ngram` normalised words (13, as GPT-3's and datatrove's decontamination) with an item.

Words are the letter/digit runs the other rules count (`pipeline.filters.words`; each Han or Kana character
is a word), case-folded, so case, punctuation and spacing edits do not hide an item. Items with fewer words
than `ngram` cannot be matched (`EvaluationIndex.too_short` counts them). The index holds each item n-gram
as a 64-bit hash in one sorted array plus its item's number: 12 bytes per n-gram, built once per worker
process.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field

from gristmill_base.errors import UserError
from gristmill_base.jsonl import json_object
from pipeline.filters.verdict import Verdict
from pipeline.filters.words import content_words
from pipeline.section import Section

MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: the rolling combination of word hashes stays a bijection per step


class DecontaminateStage(Section):
    kind: Literal["decontaminate"] = "decontaminate"
    evaluations: Annotated[list[str], Field(min_length=1, description="JSONL, Parquet or text files of test items")]
    text_fields: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["text"])
    id_field: str | None = "id"
    ngram: Annotated[int, Field(ge=3, le=50)] = 13
    cut_lines: bool = Field(default=False, description="cut the lines of a match, not the whole document")


DECONTAMINATE_COLUMNS = (pa.field("decontaminate_lines_removed", pa.int32(), nullable=False),)


def decontaminate_columns(options: DecontaminateStage) -> tuple[pa.Field, ...]:
    return DECONTAMINATE_COLUMNS if options.cut_lines else ()


@dataclass(frozen=True)
class Item:
    evaluation: str  # the file's name
    name: str  # its id field, else its line or row


def word_hashes(words: list[str]) -> np.ndarray:
    """A stable 64-bit hash per case-folded word (the same in every process, unlike `hash`)."""
    cache: dict[str, int] = {}
    out = np.empty(len(words), dtype=np.uint64)
    for position, word in enumerate(words):
        key = word.casefold()
        if key not in cache:
            cache[key] = int.from_bytes(
                hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=8).digest(), "little"
            )
        out[position] = cache[key]
    return out


def ngram_hashes(hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of each run of `n` consecutive words, at the position of its first word."""
    count = len(hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    combined = np.zeros(count, dtype=np.uint64)
    for offset in range(n):
        combined = combined * MULTIPLIER + hashes[offset : offset + count]
    return combined


class EvaluationIndex:
    """Every n-gram of every item of the evaluation files, for membership tests of a document's n-grams."""

    def __init__(self, options: DecontaminateStage):
        self.n = options.ngram
        self.items: list[Item] = []
        self.too_short = 0
        chunks: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for item, text in read_items(options):
            hashes = ngram_hashes(word_hashes(list(content_words(text))), self.n)
            if not len(hashes):
                self.too_short += 1
                continue
            chunks.append(hashes)
            owners.append(np.full(len(hashes), len(self.items), dtype=np.int32))
            self.items.append(item)
        hashes = np.concatenate(chunks) if chunks else np.zeros(0, np.uint64)
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.owners = np.concatenate(owners)[order] if owners else np.zeros(0, np.int32)

    def first_match(self, hashes: np.ndarray) -> tuple[int, Item] | None:
        """(position of the first n-gram found in an item, that item), or None."""
        slots = self._slots(hashes)
        found = np.flatnonzero(self.hashes[slots] == hashes) if len(self.hashes) else []
        if not len(found):
            return None
        position = int(found[0])
        return position, self.items[self.owners[slots[position]]]

    def matches(self, hashes: np.ndarray) -> np.ndarray:
        """Whether each n-gram is an item's: a binary search per n-gram in the sorted array (no sort of it)."""
        if not len(self.hashes):
            return np.zeros(len(hashes), dtype=bool)
        return self.hashes[self._slots(hashes)] == hashes

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self.hashes, hashes), max(len(self.hashes) - 1, 0))


_INDEXES: dict[str, EvaluationIndex] = {}


def shared_index(options: DecontaminateStage) -> EvaluationIndex:
    """One index per distinct options per process: a worker that runs many tasks reads the files once."""
    key = options.model_dump_json()
    if key not in _INDEXES:
        _INDEXES[key] = EvaluationIndex(options)
    return _INDEXES[key]


def decontaminate(text: str, index: EvaluationIndex, options: DecontaminateStage) -> Verdict:
    lines = text.split("\n")
    words: list[str] = []
    line_of: list[int] = []
    for number, line in enumerate(lines):
        line_words = content_words(line)
        words += line_words
        line_of += [number] * len(line_words)
    hashes = ngram_hashes(word_hashes(words), options.ngram)
    match = index.first_match(hashes)
    if not options.cut_lines:
        if match is None:
            return Verdict(text)
        return Verdict(text, "contaminated", _detail(match, words, options.ngram))
    if match is None:
        return Verdict(text, columns={"decontaminate_lines_removed": 0})
    hit = set()
    for position in np.flatnonzero(index.matches(hashes)):
        hit.update(line_of[position : position + options.ngram])
    kept = [line for number, line in enumerate(lines) if number not in hit]
    columns = {"decontaminate_lines_removed": len(hit)}
    if not any(line.strip() for line in kept):
        return Verdict(text, "contaminated", _detail(match, words, options.ngram), columns)
    return Verdict("\n".join(kept), columns=columns)


def _detail(match: tuple[int, Item], words: list[str], n: int) -> str:
    position, item = match
    return f"{item.evaluation} item {item.name}: {' '.join(words[position : position + n])!r}"


def read_items(options: DecontaminateStage) -> Iterator[tuple[Item, str]]:
    """(item, text) for each text field of each item; a missing field is a UserError naming the file."""
    for path in map(Path, options.evaluations):
        for name, row in _rows(path, options):
            for field in options.text_fields:
                value = row.get(field)
                if isinstance(value, str) and value:
                    yield Item(path.name, name), value


def check_evaluations(options: DecontaminateStage) -> None:
    """Each file exists and its first item has the named fields: before any work, one clear line."""
    for path in map(Path, options.evaluations):
        if not path.is_file():
            raise UserError(f"evaluation file not found: {path}")
        for _, row in _rows(path, options):
            missing = [field for field in options.text_fields if field not in row]
            if missing:
                raise UserError(f"{path}: no field {missing[0]!r} (fields: {', '.join(map(str, row))})")
            break


def _rows(path: Path, options: DecontaminateStage) -> Iterator[tuple[str, dict]]:
    name = path.name
    if name.endswith(".parquet"):
        parquet = pq.ParquetFile(path)
        row_number = 0
        for batch in parquet.iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield _item_name(row, options, f"row {row_number}"), row
                row_number += 1
        return
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            if name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
                row = json_object(line, f"{path}:{number}")
            else:
                row = {field: line.rstrip("\n") for field in options.text_fields}
            yield _item_name(row, options, f"line {number}"), row


def _item_name(row: dict, options: DecontaminateStage, where: str) -> str:
    value = row.get(options.id_field) if options.id_field else None
    return str(value) if value not in (None, "") else where
