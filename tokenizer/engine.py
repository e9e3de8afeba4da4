"""The tables a vocabulary compiles to, and the calls into the compiled encoder and counter.

Built once per tokenizer (per process): the byte ids, the pair ranks (from the merge list, or from tiktoken
ranks: every split of a token into two tokens), the whole-token table, the piece cache and the class table.
Texts are joined into one UTF-8 buffer per call, so a batch costs one call into compiled code.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import regex

from tokenizer.definition import Definition, rank_splits
from tokenizer.encoder import MASK, SHIFT, bpe_into, count_segments, encode_segments
from tokenizer.patterns import resolve_pattern
from tokenizer.scan import NO_SCANNER, scanner_for
from tokenizer.tables import BytesTable, PairTable
from tokenizer.unicode_classes import class_table

CACHE_PIECES = 1 << 18  # distinct pieces cached (the multilingual crawl has ~130k in 20 MB); more: cleared
BATCH_CHARACTERS = 2 << 20  # text per compiled call (its ids buffer takes 4 bytes per UTF-8 byte)


class Cutter:
    """Pre-tokenization: the pattern's compiled scanner, or its regex where there is none."""

    def __init__(self, pattern: str):
        self.grammar, self.digits = scanner_for(pattern)
        self.regex = regex.compile(resolve_pattern(pattern))
        self.classes = class_table()

    def segments(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The UTF-8 buffer and its segments: each text (scanned in compiled code), or each regex piece of
        each text; `owners[s]` is the text segment `s` belongs to."""
        if self.grammar == NO_SCANNER:
            parts = [[piece.encode("utf-8", "surrogatepass") for piece in self.pieces(t)] for t in texts]
            owners = np.repeat(np.arange(len(texts)), [len(p) for p in parts])
            data = [piece for pieces in parts for piece in pieces]
        else:
            data = [t.encode("utf-8", "surrogatepass") for t in texts]
            owners = np.arange(len(texts))
        lengths = np.fromiter(map(len, data), np.int64, len(data))
        ends = np.cumsum(lengths)
        return np.frombuffer(b"".join(data), np.uint8), ends - lengths, ends, owners

    def pieces(self, text: str) -> list[str]:
        """The regex's matches and the text between them, each its own piece, as HF's `Split` (`Isolated`)
        cuts: a pattern that does not match every character loses none of the text."""
        found, end = [], 0
        for match in self.regex.finditer(text):
            if match.start() > end:
                found.append(text[end : match.start()])
            if match.end() > match.start():
                found.append(match.group())
            end = match.end()
        if end < len(text):
            found.append(text[end:])
        return found

    def count(self, texts: Sequence[str], counts: BytesTable) -> BytesTable:
        """Add the pieces of the texts to `counts` (grown as needed; the table to use next is returned)."""
        buf, starts, ends, _ = self.segments(texts)
        resume = np.zeros(2, np.int64)
        while not count_segments(buf, starts, ends, self.grammar, self.digits, self.classes, *counts.parts(), resume):
            counts = counts.grown()
        return counts


class Engine:
    def __init__(self, definition: Definition, excluded_ids: set[int]):
        vocab = {i: token for i, token in definition.vocab.items() if i not in excluded_ids}
        ids = {token: i for i, token in vocab.items()}
        if len(ids) != len(vocab):
            raise ValueError("vocab: two ids have the same bytes")
        if max(vocab, default=0) > MASK:
            raise ValueError(f"vocab: ids up to {MASK:,} are supported, this one has {max(vocab):,}")
        missing = [b for b in range(256) if bytes([b]) not in ids]
        if missing:
            raise ValueError(
                f"vocab: byte 0x{missing[0]:02x} has no token ({len(missing)} of the 256 bytes missing): "
                "not a byte-level BPE vocabulary"
            )
        self.byte_ids = np.array([ids[bytes([b])] for b in range(256)], np.int64)
        self.pairs = _pair_table(vocab, ids, definition.merges)
        self.whole_first = definition.whole_tokens_first
        self.whole = BytesTable.of_tokens(ids if self.whole_first else {})
        self.cache = BytesTable.empty(CACHE_PIECES, CACHE_PIECES * 16, CACHE_PIECES * 4)
        self.cutter = Cutter(definition.pattern)

    def encode_texts(self, texts: Sequence[str]) -> list[list[int]]:
        """The ids of each text (pre-tokenized and BPE-encoded; no special tokens here)."""
        found: list[list[int]] = []
        start = 0
        while start < len(texts):
            stop, size = start, 0
            while stop < len(texts) and (stop == start or size + len(texts[stop]) <= BATCH_CHARACTERS):
                size += len(texts[stop])
                stop += 1
            found += self._encode_batch(texts[start:stop])
            start = stop
        return found

    def bpe(self, piece: bytes) -> list[int]:
        """BPE of one piece, merges only (no cache, no whole-token lookup): what tests hold to the definition."""
        out = np.empty(len(piece) + 1, np.int64)
        data, scratch = np.frombuffer(piece, np.uint8), np.empty(6 * len(piece), np.int64)
        count = bpe_into(data, 0, len(piece), self.byte_ids, *self.pairs.arrays(), out, 0, scratch)
        return out[:count].tolist()

    def _encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        cutter = self.cutter
        buf, starts, ends, owners = cutter.segments(texts)
        out = np.empty(len(buf) + 1, np.int32)
        segment_ends = np.empty(len(starts), np.int64)
        total = encode_segments(
            buf, starts, ends, cutter.grammar, cutter.digits, cutter.classes,
            self.byte_ids, self.pairs.keys, self.pairs.values, self.whole_first,
            self.whole.slots, self.whole.entries, self.whole.keys,
            *self.cache.parts(), out, segment_ends,
        )  # fmt: skip
        ids = out[:total].tolist()
        if len(texts) == 1:
            return [ids]
        text_ends = np.zeros(len(texts), np.int64)
        np.maximum.at(text_ends, owners, segment_ends)  # a text's ids end where its last segment's do
        bounds = np.maximum.accumulate(text_ends).tolist()
        return [ids[a:b] for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]


def _pair_table(vocab: dict[int, bytes], ids: dict[bytes, int], merges: list[tuple[bytes, bytes]] | None) -> PairTable:
    """(left id, right id) -> (rank, merged id): from the merges in order, or from tiktoken ranks."""
    keys: list[int] = []
    values: list[int] = []
    if merges is not None:
        for rank, (left, right) in enumerate(merges):
            try:
                pair, merged = (ids[left] << SHIFT) | ids[right], ids[left + right]
            except KeyError:
                raise ValueError(
                    f"merges[{rank}]: {left!r} + {right!r}: a part or the result is not in vocab"
                ) from None
            keys.append(pair)
            values.append((rank << SHIFT) | merged)
    else:
        for rank, left, right in rank_splits(vocab):
            keys.append((left << SHIFT) | right)
            values.append((rank << SHIFT) | rank)
    return PairTable.build(np.array(keys, np.int64), np.array(values, np.int64))
