"""Learning BPE merges from pre-token counts, with pair counts updated incrementally, in compiled loops.

Every distinct pre-token (a word) is laid out once in flat arrays: its token ids, linked to their
neighbours (`nxt`, `prv`; -1 at a word's ends) and each carrying the word's count. Per pair the state holds
its count (a dict keyed by `left << 21 | right`), the positions where it starts (chains in flat arrays,
appended to and checked when read), and an entry in a max-heap. A merge visits only the positions of the
merged pair and moves the counts of the pairs next to each occurrence; nothing is recounted.

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

from tokenizer.jit import get as _get
from tokenizer.jit import int_dict as _int_dict
from tokenizer.jit import njit

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
    counts: Mapping[bytes, int],
    tokens: int,
    min_frequency: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[bytes, bytes]]:
    """The merges of `learn`."""
    return learn(counts, tokens, min_frequency, progress).merges


def learn(
    counts: Mapping[bytes, int],
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
    state = _State(counts, tokens)
    vocab = [bytes([i]) for i in range(256)]
    ids = {token: i for i, token in enumerate(vocab)}
    learned: list[tuple[bytes, bytes]] = []
    key, count = -1, 0
    while len(vocab) - 256 < tokens:
        key, count = state.pop_best()
        if key < 0 or count < max(min_frequency, 1):
            break
        learned.append(_merge_pair(state, vocab, ids, key))
        if progress:
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

    def __init__(self, counts: Mapping[bytes, int], tokens: int):
        words = list(counts)
        sizes = np.fromiter((len(w) for w in words), np.int64, len(words))
        self.tok = np.frombuffer(b"".join(words), np.uint8).astype(np.int64)
        n = len(self.tok)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.freq = np.repeat(np.fromiter(counts.values(), np.int64, len(words)), sizes)
        self.nxt = np.arange(1, n + 1, dtype=np.int64)
        self.prv = np.arange(-1, n - 1, dtype=np.int64)
        self.nxt[(starts + sizes - 1)[sizes > 0]] = -1
        self.prv[starts[sizes > 0]] = -1
        # every merged occurrence removes a token, so there are at most n of them over the whole training:
        # chains get the pairs at the start plus two per occurrence, the heap four re-pushed pairs per occurrence
        self.counts = _int_dict()
        self.heads = _int_dict()
        self.chain_pos = np.empty(3 * n + 16, np.int64)
        self.chain_next = np.empty(3 * n + 16, np.int64)
        self.heap_count = np.empty(5 * n + 16, np.int64)
        self.heap_key = np.empty(5 * n + 16, np.int64)
        self.bytes = np.empty(max(1024, 16 * (256 + tokens)), np.uint8)
        self.bytes[:256] = np.arange(256, dtype=np.uint8)
        self.offsets = np.zeros(256 + tokens + 2, np.int64)
        self.offsets[1:257] = np.arange(1, 257, dtype=np.int64)
        self.tokens = 256
        self.sizes = np.zeros(2, np.int64)  # used chain entries, heap entries
        _initial_pairs(
            self.tok, self.nxt, self.freq, self.counts, self.heads, self.chain_pos, self.chain_next, self.sizes
        )
        _heapify(self.counts, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets)

    def pop_best(self) -> tuple[int, int]:
        return _pop_best(self.counts, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets)

    def add_token(self, token: bytes) -> None:
        end = self.offsets[self.tokens]
        if end + len(token) > len(self.bytes):
            self.bytes = np.concatenate([self.bytes, np.empty(len(self.bytes) + len(token), np.uint8)])
        self.bytes[end : end + len(token)] = np.frombuffer(token, np.uint8)
        self.tokens += 1
        self.offsets[self.tokens] = end + len(token)

    def merge(self, key: int, new: int) -> None:
        _merge(
            key, new, self.tok, self.nxt, self.prv, self.freq, self.counts, self.heads, self.chain_pos,
            self.chain_next, self.heap_count, self.heap_key, self.sizes, self.bytes, self.offsets,
        )  # fmt: skip


@njit(cache=True)
def _initial_pairs(
    tok: Array, nxt: Array, freq: Array, counts: dict, heads: dict, chain_pos: Array, chain_next: Array, sizes: Array
) -> None:
    for p in range(len(tok)):
        q = nxt[p]
        if q >= 0:
            key = (tok[p] << SHIFT) | tok[q]
            counts[key] = _get(counts, key, 0) + freq[p]
            _remember(key, p, heads, chain_pos, chain_next, sizes)


@njit(cache=True)
def _remember(key: int, position: int, heads: dict, chain_pos: Array, chain_next: Array, sizes: Array) -> None:
    """Record that `key` starts at `position` (entries are checked, not removed, when the pair changes)."""
    entry = sizes[0]
    chain_pos[entry] = position
    chain_next[entry] = _get(heads, key, -1)
    heads[key] = entry
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
def _heapify(counts: dict, heap_count: Array, heap_key: Array, sizes: Array, data: Array, offsets: Array) -> None:
    size = 0
    for key, count in counts.items():
        heap_count[size], heap_key[size] = count, key
        size += 1
    sizes[1] = size
    for i in range(size // 2 - 1, -1, -1):
        _sift_down(i, size, heap_count, heap_key, data, offsets)


@njit(cache=True)
def _pop_best(
    counts: dict, heap_count: Array, heap_key: Array, sizes: Array, data: Array, offsets: Array
) -> tuple[int, int]:
    """The best pair whose entry is current, as (key, count); (-1, 0) when none is left."""
    while sizes[1] > 0:
        key, count = heap_key[0], heap_count[0]
        last = sizes[1] - 1
        _swap(0, last, heap_count, heap_key)
        sizes[1] = last
        _sift_down(0, last, heap_count, heap_key, data, offsets)
        if _get(counts, key, 0) == count and count > 0:
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
    counts: dict,
    heads: dict,
    chain_pos: Array,
    chain_next: Array,
    heap_count: Array,
    heap_key: Array,
    sizes: Array,
    data: Array,
    offsets: Array,
) -> None:
    a, b = key >> SHIFT, key & MASK
    entry, found = _get(heads, key, -1), 0
    while entry >= 0:
        found += 1
        entry = chain_next[entry]
    positions = np.empty(found, np.int64)
    entry, i = _get(heads, key, -1), 0
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
            counts[old] = _get(counts, old, 0) - f
            counts[fresh] = _get(counts, fresh, 0) + f
            _remember(fresh, left, heads, chain_pos, chain_next, sizes)
            changed[touched], changed[touched + 1] = old, fresh
            touched += 2
        if right >= 0:
            old, fresh = (b << SHIFT) | tok[right], (new << SHIFT) | tok[right]
            counts[old] = _get(counts, old, 0) - f
            counts[fresh] = _get(counts, fresh, 0) + f
            _remember(fresh, p, heads, chain_pos, chain_next, sizes)
            changed[touched], changed[touched + 1] = old, fresh
            touched += 2
        tok[p], tok[q] = new, DEAD
        nxt[p] = right
        if right >= 0:
            prv[right] = p
    counts.pop(key, 0)
    heads.pop(key, 0)
    fresh_keys = np.sort(changed[:touched])
    for i in range(touched):
        k = fresh_keys[i]
        if (i == 0 or k != fresh_keys[i - 1]) and _get(counts, k, 0) > 0:
            _push(k, counts[k], heap_count, heap_key, sizes, data, offsets)
