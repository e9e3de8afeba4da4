"""Learning BPE merges from pre-token counts, with pair counts updated incrementally, in compiled loops.

Every distinct pre-token (a word) is laid out once in flat arrays: its token ids, linked to their neighbours
(`nxt`, `prv`; -1 at a word's ends) and each carrying the word's count. Per pair the state holds its count and
the head of the chain of positions where it starts (an open-addressing table keyed by `left << 21 | right`;
chains in flat arrays, appended to and checked when read), and an entry in a max-heap. A merge visits only the
positions of the merged pair and moves the counts of the pairs next to each occurrence; nothing is recounted.

Ties between pairs of equal count go to the lexicographically greater pair of byte strings, compared as
(left bytes, right bytes), inside the heap's order: training is deterministic and independent of word order.

The loops are compiled with numba when it is installed; the very same functions run as plain Python
without it (much slower), so there is one implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tokenizer.jit import njit
from tokenizer.tables import EMPTY, Pretokens, int_slot

Array = np.ndarray
SHIFT = 21  # token ids below 2**21
MASK = (1 << SHIFT) - 1
DEAD = -1


@dataclass(frozen=True)
class Learned:
    """What a merge run made and why it ended.

    `stop` is "reached" when all `tokens` asked for were made, "min_frequency" when the most frequent pair
    left occurs only `left` (< min_frequency) times, "no_pair" when no pair is left: every word is one token.
    `possible` is how many new tokens merging every pair that occurs (min_frequency 1) makes, at most `tokens`.
    """

    merges: list[tuple[bytes, bytes]]
    tokens: int
    stop: Literal["reached", "min_frequency", "no_pair"]
    left: int
    possible: int


def learn_merges(
    counts: Mapping[bytes, int] | Pretokens,
    tokens: int,
    min_frequency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[bytes, bytes]]:
    """The merges of `learn`."""
    return learn(counts, tokens, min_frequency, progress).merges


def learn(
    counts: Mapping[bytes, int] | Pretokens,
    tokens: int,
    min_frequency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Learned:
    """Merges, most frequent pair first, until `tokens` new tokens exist or no pair occurs `min_frequency`
    times (0 and 1 are the same: any pair that occurs, as HF's default 0). Byte tokens are ids 0..255, new
    tokens 256 on. A merge whose bytes already are a token (`ab`+`c` after `a`+`bc`) makes no new one: a
    token's bytes are unique, as tiktoken's ranks require.

    Stopped by `min_frequency`, it goes on merging the rarer pairs without keeping them, up to `tokens`, to
    report how many tokens a lower `min_frequency` would give (no more work than that run would do)."""
    state = _State(counts if isinstance(counts, Pretokens) else Pretokens.of(counts), tokens)
    vocab = [bytes([i]) for i in range(256)]
    ids = {token: i for i, token in enumerate(vocab)}
    learned: list[tuple[bytes, bytes]] = []
    key, count = -1, 0
    while len(vocab) - 256 < tokens:
        key, count = state.pop_best()
        if key < 0 or count < max(min_frequency, 1):
            break
        learned.append(_merge_pair(state, vocab, ids, key))
        if progress and (len(vocab) % 256 == 0 or len(vocab) - 256 == tokens):
            progress(len(vocab) - 256)
    made = len(vocab) - 256
    if made == tokens:
        return Learned(learned, made, "reached", 0, made)
    if key < 0:
        return Learned(learned, made, "no_pair", 0, made)
    while key >= 0 and len(vocab) - 256 < tokens:
        _merge_pair(state, vocab, ids, key)
        key, _ = state.pop_best()
    return Learned(learned, made, "min_frequency", count, len(vocab) - 256)


def _merge_pair(state: _State, vocab: list[bytes], ids: dict[bytes, int], key: int) -> tuple[bytes, bytes]:
    a, b = key >> SHIFT, key & MASK
    joined = vocab[a] + vocab[b]
    new = ids.setdefault(joined, len(vocab))
    if new == len(vocab):
        vocab.append(joined)
        state.add_token(joined)
    state.merge(key, new)
    return vocab[a], vocab[b]


class _State:
    """The arrays the compiled functions share, grown here (in Python) when a merge could overflow them."""

    def __init__(self, words: Pretokens, tokens: int):
        sizes = words.sizes
        if 3 * len(words.data) + 16 >= 2**31:
            raise ValueError("the distinct pre-tokens hold over 700 MB: train on a sample of this corpus")
        self.tok = words.data.astype(np.int32)  # positions and chain entries fit int32 (checked above): half the memory
        n = len(self.tok)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        counts_fit = int((words.counts * np.maximum(sizes - 1, 0)).sum()) < 2**31  # every pair count then fits
        self.freq = np.repeat(words.counts, sizes).astype(np.int32 if counts_fit else np.int64)
        self.nxt = np.arange(1, n + 1, dtype=np.int32)
        self.prv = np.arange(-1, n - 1, dtype=np.int32)
        self.nxt[(starts + sizes - 1)[sizes > 0]] = -1
        self.prv[starts[sizes > 0]] = -1
        # every merged occurrence removes a token, so there are at most n of them over the whole training:
        # chains get the pairs at the start plus two per occurrence, the heap four re-pushed pairs per occurrence
        self.count_type = (
            np.int32 if counts_fit else np.int64
        )  # counts (per position, pair, heap): int32 where they fit
        self.pairs = _empty_pairs(1 << 16, self.count_type)
        self.chain_pos = np.empty(3 * n + 16, np.int32)
        self.chain_next = np.empty(3 * n + 16, np.int32)
        self.heap_count = np.empty(5 * n + 16, self.count_type)
        self.heap_key = np.empty(5 * n + 16, np.int64)
        self.bytes = np.empty(max(1024, 16 * (256 + tokens)), np.uint8)
        self.bytes[:256] = np.arange(256, dtype=np.uint8)
        self.offsets = np.zeros(256 + tokens + 2, np.int64)
        self.offsets[1:257] = np.arange(1, 257, dtype=np.int64)
        self.tokens = 256
        self.sizes = np.zeros(3, np.int64)  # used chain entries, heap entries, pair keys
        start = 0
        while start < n:
            self._room(min(n - start, len(self.pairs[0])))
            start = _initial_pairs(start, self.tok, self.nxt, self.freq, *self.pairs, self.chain_pos,
                                   self.chain_next, self.sizes)  # fmt: skip
        _heapify(*self.pairs, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets)

    def _room(self, keys: int) -> None:
        """Grow the pair table until `keys` more keys keep it at most half full."""
        capacity = len(self.pairs[0])
        while 10 * (int(self.sizes[2]) + keys) > 7 * capacity:
            capacity *= 2
        if capacity > len(self.pairs[0]):
            bigger = _empty_pairs(capacity, self.count_type)
            _rehash(*self.pairs, *bigger)
            self.pairs = bigger

    def pop_best(self) -> tuple[int, int]:
        return _pop_best(*self.pairs, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets)

    def add_token(self, token: bytes) -> None:
        end = self.offsets[self.tokens]
        if end + len(token) > len(self.bytes):
            self.bytes = np.concatenate([self.bytes, np.empty(len(self.bytes) + len(token), np.uint8)])
        self.bytes[end : end + len(token)] = np.frombuffer(token, np.uint8)
        self.tokens += 1
        self.offsets[self.tokens] = end + len(token)

    def merge(self, key: int, new: int) -> None:
        while needed := _merge(
            key, new, self.tok, self.nxt, self.prv, self.freq, *self.pairs, self.chain_pos,
            self.chain_next, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets,
        ):  # fmt: skip
            self._room(needed)


def _empty_pairs(capacity: int, count_type: type) -> tuple[Array, Array, Array]:
    """Pair table: keys (EMPTY where free), counts, chain heads (-1: none); at most 70% full."""
    return np.full(capacity, EMPTY, np.int64), np.zeros(capacity, count_type), np.full(capacity, -1, np.int32)


@njit(cache=True)
def _slot(keys: Array, key: int) -> int:
    """Where `key` is, or the free slot where it goes."""
    mask = len(keys) - 1
    i = int_slot(key, mask)
    while keys[i] != key and keys[i] != EMPTY:
        i = (i + 1) & mask
    return i


@njit(cache=True)
def _count(keys: Array, counts: Array, key: int) -> int:
    i = _slot(keys, key)
    return counts[i] if keys[i] == key else 0


@njit(cache=True)
def _claim(keys: Array, key: int, sizes: Array) -> int:
    """The slot of `key`, taken if it was free."""
    i = _slot(keys, key)
    if keys[i] == EMPTY:
        keys[i] = key
        sizes[2] += 1
    return i


@njit(cache=True)
def _rehash(keys: Array, counts: Array, heads: Array, new_keys: Array, new_counts: Array, new_heads: Array) -> None:
    for i in range(len(keys)):
        if keys[i] != EMPTY:
            j = _slot(new_keys, keys[i])
            new_keys[j], new_counts[j], new_heads[j] = keys[i], counts[i], heads[i]


@njit(cache=True)
def _initial_pairs(
    start: int, tok: Array, nxt: Array, freq: Array, keys: Array, counts: Array, heads: Array, chain_pos: Array,
    chain_next: Array, sizes: Array,
) -> int:  # fmt: skip
    """Count the pairs from `start`; returns where it stopped (the length: done) when the table is half full."""
    for p in range(start, len(tok)):
        if 10 * (sizes[2] + 1) > 7 * len(keys):
            return p
        q = nxt[p]
        if q >= 0:
            i = _claim(keys, (tok[p] << SHIFT) | tok[q], sizes)
            counts[i] += freq[p]
            _remember(i, p, heads, chain_pos, chain_next, sizes)
    return len(tok)


@njit(cache=True)
def _remember(slot: int, position: int, heads: Array, chain_pos: Array, chain_next: Array, sizes: Array) -> None:
    """Record that the pair in `slot` starts at `position` (entries are checked, not removed, when it changes)."""
    entry = sizes[0]
    chain_pos[entry] = position
    chain_next[entry] = heads[slot]
    heads[slot] = entry
    sizes[0] = entry + 1


@njit(cache=True)
def _greater_pair(k1: int, k2: int, data: Array, offsets: Array) -> bool:
    """Whether pair k1's (left, right) bytes are lexicographically greater than pair k2's."""
    for left1, left2 in ((k1 >> SHIFT, k2 >> SHIFT), (k1 & MASK, k2 & MASK)):
        s1, e1, s2, e2 = offsets[left1], offsets[left1 + 1], offsets[left2], offsets[left2 + 1]
        n = min(e1 - s1, e2 - s2)
        for i in range(n):
            if data[s1 + i] != data[s2 + i]:
                return data[s1 + i] > data[s2 + i]
        if e1 - s1 != e2 - s2:
            return e1 - s1 > e2 - s2
    return False


@njit(cache=True)
def _before(i: int, j: int, heap_count: Array, heap_key: Array, data: Array, offsets: Array) -> bool:
    """Heap order: the higher count first, then the greater pair of byte strings."""
    if heap_count[i] != heap_count[j]:
        return heap_count[i] > heap_count[j]
    return _greater_pair(heap_key[i], heap_key[j], data, offsets)


@njit(cache=True)
def _swap(i: int, j: int, heap_count: Array, heap_key: Array) -> None:
    heap_count[i], heap_count[j] = heap_count[j], heap_count[i]
    heap_key[i], heap_key[j] = heap_key[j], heap_key[i]


@njit(cache=True)
def _sift_up(i: int, heap_count: Array, heap_key: Array, data: Array, offsets: Array) -> None:
    while i > 0:
        parent = (i - 1) // 2
        if not _before(i, parent, heap_count, heap_key, data, offsets):
            return
        _swap(i, parent, heap_count, heap_key)
        i = parent


@njit(cache=True)
def _sift_down(i: int, size: int, heap_count: Array, heap_key: Array, data: Array, offsets: Array) -> None:
    while True:
        best, left = i, 2 * i + 1
        for child in (left, left + 1):
            if child < size and _before(child, best, heap_count, heap_key, data, offsets):
                best = child
        if best == i:
            return
        _swap(i, best, heap_count, heap_key)
        i = best


@njit(cache=True)
def _push(key: int, count: int, heap_count: Array, heap_key: Array, sizes: Array, data: Array, offsets: Array) -> None:
    size = sizes[1]
    heap_count[size], heap_key[size] = count, key
    sizes[1] = size + 1
    _sift_up(size, heap_count, heap_key, data, offsets)


@njit(cache=True)
def _heapify(
    keys: Array, counts: Array, heads: Array, heap_count: Array, heap_key: Array, sizes: Array, data: Array,
    offsets: Array,
) -> None:  # fmt: skip
    size = 0
    for i in range(len(keys)):
        if keys[i] != EMPTY and counts[i] > 0:
            heap_count[size], heap_key[size] = counts[i], keys[i]
            size += 1
    sizes[1] = size
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(i, size, heap_count, heap_key, data, offsets)


@njit(cache=True)
def _pop_best(
    keys: Array,
    counts: Array,
    heads: Array,
    heap_count: Array,
    heap_key: Array,
    sizes: Array,
    data: Array,
    offsets: Array,
) -> tuple[int, int]:
    """The best pair whose entry is current, as (key, count); (-1, 0) when none is left."""
    while sizes[1] > 0:
        key, count = heap_key[0], heap_count[0]
        last = sizes[1] - 1
        _swap(0, last, heap_count, heap_key)
        sizes[1] = last
        _sift_down(0, last, heap_count, heap_key, data, offsets)
        if count > 0 and _count(keys, counts, key) == count:
            return key, count
    return -1, 0


@njit(cache=True)
def _merge(
    key: int,
    new: int,
    tok: Array,
    nxt: Array,
    prv: Array,
    freq: Array,
    keys: Array,
    counts: Array,
    heads: Array,
    chain_pos: Array,
    chain_next: Array,
    heap_count: Array,
    heap_key: Array,
    sizes: Array,
    data: Array,
    offsets: Array,
) -> int:
    """Merge every occurrence of the pair `key` into token `new` (0); or, having changed nothing, the number of
    new pair keys it may add when that could fill the table over half (grow it and call again)."""
    a, b = key >> SHIFT, key & MASK
    slot = _slot(keys, key)
    entry, found = heads[slot] if keys[slot] == key else -1, 0
    while entry >= 0:
        found += 1
        entry = chain_next[entry]
    if 10 * (sizes[2] + 2 * found + 1) > 7 * len(keys):
        return 2 * found + 1
    positions = np.empty(found, np.int32)
    entry, i = heads[slot] if keys[slot] == key else -1, 0
    while entry >= 0:
        positions[i] = chain_pos[entry]
        entry, i = chain_next[entry], i + 1
    positions.sort()  # left to right: overlapping occurrences (`a a a`) merge as BPE defines
    changed = np.empty(4 * found + 1, np.int64)  # the old and the new pair on each side of each occurrence
    touched = 0
    for p in positions:
        q = nxt[p]
        if tok[p] != a or q < 0 or tok[q] != b:
            continue  # an entry that a merge since has made stale
        f = freq[p]
        left, right = prv[p], nxt[q]
        if left >= 0:
            old, fresh = (tok[left] << SHIFT) | a, (tok[left] << SHIFT) | new
            counts[_slot(keys, old)] -= f
            j = _claim(keys, fresh, sizes)
            counts[j] += f
            _remember(j, left, heads, chain_pos, chain_next, sizes)
            changed[touched], changed[touched + 1] = old, fresh
            touched += 2
        if right >= 0:
            old, fresh = (b << SHIFT) | tok[right], (new << SHIFT) | tok[right]
            counts[_slot(keys, old)] -= f
            j = _claim(keys, fresh, sizes)
            counts[j] += f
            _remember(j, p, heads, chain_pos, chain_next, sizes)
            changed[touched], changed[touched + 1] = old, fresh
            touched += 2
        tok[p], tok[q] = new, DEAD
        nxt[p] = right
        if right >= 0:
            prv[right] = p
    slot = _slot(keys, key)
    counts[slot], heads[slot] = 0, -1
    fresh_keys = np.sort(changed[:touched])
    for i in range(touched):
        k = fresh_keys[i]
        if i == 0 or k != fresh_keys[i - 1]:
            count = _count(keys, counts, k)
            if count > 0:
                _push(k, count, heap_count, heap_key, sizes, data, offsets)
    return 0
