"""Hash tables in flat numpy arrays, which compiled loops read and write without Python objects.

`PairTable`: int64 key -> int64 value (BPE's `left << 21 | right` -> `rank << 21 | merged id`).
`BytesTable`: byte strings -> an int64 value and a run of int64 items; the encoder's piece cache (piece ->
its ids), the whole-token table (token -> id) and the trainer's pre-token counts use it. Keys are FNV-1a
hashed and compared byte for byte. A full table is grown by the caller (`grown`), or cleared (a cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tokenizer.jit import njit

Array = np.ndarray
EMPTY = -1
FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
# entry columns (one 64-byte row): a key of up to 8 bytes is compared as one word, up to two items are inline
KEY_START, KEY_LENGTH, VALUE, ITEMS_START, ITEMS_LENGTH, KEY_WORD, ITEM0, ITEM1 = range(8)
INLINE_ITEMS = 2


@njit(cache=True, inline="always")
def int_slot(key: int, mask: int) -> int:
    return np.int64((np.uint64(key) * GOLDEN) >> np.uint64(40)) & mask


@njit(cache=True)
def pair_get(keys: np.ndarray, values: np.ndarray, key: int) -> int:
    """The value of `key`, or -1."""
    mask = len(keys) - 1
    i = int_slot(key, mask)
    while True:
        found = keys[i]
        if found == key:
            return values[i]
        if found == EMPTY:
            return -1
        i = (i + 1) & mask


@njit(cache=True)
def _pair_fill(keys: np.ndarray, values: np.ndarray, new_keys: np.ndarray, new_values: np.ndarray) -> None:
    mask = len(keys) - 1
    for j in range(len(new_keys)):
        i = int_slot(new_keys[j], mask)
        while keys[i] != EMPTY and keys[i] != new_keys[j]:
            i = (i + 1) & mask
        if keys[i] == EMPTY:  # the first value of a key stays
            keys[i], values[i] = new_keys[j], new_values[j]


@dataclass
class PairTable:
    keys: np.ndarray
    values: np.ndarray

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.keys, self.values

    @classmethod
    def build(cls, keys: np.ndarray, values: np.ndarray) -> PairTable:
        """From parallel arrays; where a key repeats, its first value."""
        size = 1 << max(4, int(2 * max(len(keys), 1) - 1).bit_length())
        table = cls(np.full(size, EMPTY, np.int64), np.zeros(size, np.int64))
        _pair_fill(table.keys, table.values, keys.astype(np.int64), values.astype(np.int64))
        return table


@njit(cache=True, inline="always")
def bytes_hash(buf: np.ndarray, start: int, end: int) -> np.uint64:
    h = FNV_OFFSET
    for i in range(start, end):
        h = (h ^ np.uint64(buf[i])) * FNV_PRIME
    return h


@njit(cache=True, inline="always")
def key_word(buf: Array, start: int, end: int) -> int:
    """Up to the first 8 bytes as one little-endian word."""
    word = 0
    for k in range(min(end - start, 8)):
        word |= np.int64(buf[start + k]) << (8 * k)
    return word


@njit(cache=True)
def bytes_find(slots: Array, entries: Array, keys: Array, buf: Array, start: int, end: int, h: np.uint64) -> int:
    """The entry holding `buf[start:end]` (hash `h`), or -1. A slot holds (hash, entry): a probe reads one
    cache line of slots, a match one row of entries (and the key bytes only for keys over 8 bytes)."""
    mask = len(slots) - 1
    i = np.int64(h >> np.uint64(20)) & mask
    tag = np.int64(h >> np.uint64(1))
    length = end - start
    word = key_word(buf, start, end)
    while True:
        entry = slots[i, 1]
        if entry == EMPTY:
            return -1
        if slots[i, 0] == tag and entries[entry, KEY_LENGTH] == length and entries[entry, KEY_WORD] == word:
            if length <= 8:
                return entry
            at = entries[entry, KEY_START]
            same = True
            for k in range(8, length):
                if keys[at + k] != buf[start + k]:
                    same = False
                    break
            if same:
                return entry
        i = (i + 1) & mask


@njit(cache=True)
def bytes_add(
    slots: Array, hashes: Array, entries: Array, keys: Array, sizes: Array, buf: Array, start: int, end: int,
    h: np.uint64, value: int,
) -> int:  # fmt: skip
    """A new entry for `buf[start:end]` (not in the table; the caller checked `has_room`)."""
    mask = len(slots) - 1
    i = np.int64(h >> np.uint64(20)) & mask
    while slots[i, 1] != EMPTY:
        i = (i + 1) & mask
    entry, at = sizes[0], sizes[1]
    slots[i, 0], slots[i, 1] = np.int64(h >> np.uint64(1)), entry
    hashes[entry] = h
    entries[entry, KEY_START], entries[entry, KEY_LENGTH], entries[entry, VALUE] = at, end - start, value
    entries[entry, KEY_WORD] = key_word(buf, start, end)
    keys[at : at + end - start] = buf[start:end]
    sizes[0], sizes[1] = entry + 1, at + end - start
    return entry


@njit(cache=True, inline="always")
def has_room(
    slots: Array, entries: Array, keys: Array, items: Array, sizes: Array, key_length: int, item_count: int
) -> bool:
    """Room for one more entry: slots at most half full, and space for its key and items."""
    return (
        2 * (sizes[0] + 1) <= len(slots)
        and sizes[0] < len(entries)
        and sizes[1] + key_length <= len(keys)
        and sizes[2] + item_count <= len(items)
    )


@njit(cache=True)
def _rehash(slots: np.ndarray, hashes: np.ndarray, count: int) -> None:
    mask = len(slots) - 1
    for entry in range(count):
        i = np.int64(hashes[entry] >> np.uint64(20)) & mask
        while slots[i, 1] != EMPTY:
            i = (i + 1) & mask
        slots[i, 0], slots[i, 1] = np.int64(hashes[entry] >> np.uint64(1)), entry


@dataclass
class BytesTable:
    """sizes: [entries used, key bytes used, items used]."""

    slots: np.ndarray
    hashes: np.ndarray
    entries: np.ndarray
    keys: np.ndarray
    items: np.ndarray
    sizes: np.ndarray

    @classmethod
    def empty(cls, entries: int, key_bytes: int, items: int = 1) -> BytesTable:
        return cls(
            np.full((1 << max(4, (2 * entries - 1).bit_length()), 2), EMPTY, np.int64),
            np.zeros(entries, np.uint64),
            np.zeros((entries, 8), np.int64),
            np.zeros(key_bytes, np.uint8),
            np.zeros(items, np.int64),
            np.zeros(3, np.int64),
        )

    def parts(self) -> tuple[np.ndarray, ...]:
        return self.slots, self.hashes, self.entries, self.keys, self.items, self.sizes

    def grown(self) -> BytesTable:
        """Twice the room, the same entries."""
        used, key_used, items_used = (int(x) for x in self.sizes)
        bigger = BytesTable.empty(2 * len(self.entries), 2 * len(self.keys), 2 * len(self.items))
        bigger.hashes[:used] = self.hashes[:used]
        bigger.entries[:used] = self.entries[:used]
        bigger.keys[:key_used] = self.keys[:key_used]
        bigger.items[:items_used] = self.items[:items_used]
        bigger.sizes[:] = self.sizes
        _rehash(bigger.slots, bigger.hashes, used)
        return bigger

    @classmethod
    def of_tokens(cls, tokens: dict[bytes, int]) -> BytesTable:
        """token bytes -> id."""
        data = b"".join(tokens)
        table = cls.empty(max(len(tokens), 1), max(len(data), 1))
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        _fill_tokens(*table.parts(), np.frombuffer(data, np.uint8), lengths, np.fromiter(tokens.values(), np.int64))
        return table


@njit(cache=True)
def _fill_tokens(
    slots: Array, hashes: Array, entries: Array, keys: Array, items: Array, sizes: Array, data: Array,
    lengths: Array, ids: Array,
) -> None:  # fmt: skip
    start = 0
    for j in range(len(lengths)):
        end = start + lengths[j]
        h = bytes_hash(data, start, end)
        if bytes_find(slots, entries, keys, data, start, end, h) < 0:
            bytes_add(slots, hashes, entries, keys, sizes, data, start, end, h, ids[j])
        start = end


@dataclass(frozen=True)
class Pretokens:
    """Distinct pre-tokens and their counts as arrays: the bytes of all joined, each one's size and count."""

    data: np.ndarray
    sizes: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, counts: Mapping[bytes, int]) -> Pretokens:
        words = list(counts)
        return cls(
            np.frombuffer(b"".join(words), np.uint8),
            np.fromiter(map(len, words), np.int64, len(words)),
            np.fromiter(counts.values(), np.int64, len(words)),
        )

    def __len__(self) -> int:
        return len(self.sizes)


def pretokens_of(counts: BytesTable) -> Pretokens:
    """A counts table as arrays (keys are stored one after another, in the order they came)."""
    used = int(counts.sizes[0])
    return Pretokens(
        counts.keys[: counts.sizes[1]].copy(),
        counts.entries[:used, KEY_LENGTH].copy(),
        counts.entries[:used, VALUE].copy(),
    )


def add_counts(counts: BytesTable, more: Pretokens) -> BytesTable:
    """`counts` plus `more` (grown as needed; the table to use next is returned)."""
    resume = np.zeros(2, np.int64)
    while not _add_counts(*counts.parts(), more.data, more.sizes, more.counts, resume):
        counts = counts.grown()
    return counts


@njit(cache=True)
def _add_counts(
    slots: Array, hashes: Array, entries: Array, keys: Array, items: Array, sizes: Array, data: Array,
    lengths: Array, values: Array, resume: Array,
) -> bool:  # fmt: skip
    start = resume[1]
    for j in range(resume[0], len(lengths)):
        end = start + lengths[j]
        h = bytes_hash(data, start, end)
        entry = bytes_find(slots, entries, keys, data, start, end, h)
        if entry >= 0:
            entries[entry, VALUE] += values[j]
        elif has_room(slots, entries, keys, items, sizes, end - start, 0):
            bytes_add(slots, hashes, entries, keys, sizes, data, start, end, h, values[j])
        else:
            resume[0], resume[1] = j, start
            return False
        start = end
    return True
