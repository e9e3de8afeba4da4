"""The compiled encoder: UTF-8 text in, ids out, in one loop per batch.

Each segment of the buffer (a document, or the text between two special tokens) is cut into pieces by the
pattern's scanner (`tokenizer.scan`; or the pieces come cut already, one per segment, from a regex), and
each piece becomes ids: from the piece cache when it was seen before, else as one token when the vocabulary
says whole tokens win (`whole_first`: tiktoken, and HF files with `ignore_merges`), else by BPE. BPE merges
the adjacent pair of lowest rank, the leftmost on equal rank, over a heap of (rank, position) and a linked
list, so a piece of n bytes costs O(n log n) whatever it holds (a 1 MB run of one letter).

Pair ranks map `left << 21 | right` to `rank << 21 | merged id` (`tokenizer.tables.PairTable`).
"""

from __future__ import annotations

import numpy as np

from tokenizer.jit import njit
from tokenizer.scan import NO_SCANNER, piece_end
from tokenizer.tables import (
    EMPTY,
    INLINE_ITEMS,
    ITEM0,
    ITEM1,
    ITEMS_LENGTH,
    ITEMS_START,
    VALUE,
    bytes_add,
    bytes_find,
    bytes_hash,
    has_room,
    pair_get,
)

SHIFT = 21
MASK = (1 << SHIFT) - 1
Array = np.ndarray
CACHED_PIECE_BYTES = 128  # longer pieces are rare and would crowd the cache


@njit(cache=True)
def bpe_into(
    buf: Array, start: int, end: int, byte_ids: Array, pair_keys: Array, pair_values: Array, out: Array, at: int,
    scratch: Array,
) -> int:  # fmt: skip
    """BPE of `buf[start:end]`, written to `out[at:]`; returns how many ids. `scratch` holds 6 int64 per byte."""
    n = end - start
    ids, after, before, heap = scratch[:n], scratch[n : 2 * n], scratch[2 * n : 3 * n], scratch[3 * n : 6 * n]
    for i in range(n):
        ids[i] = byte_ids[buf[start + i]]
        after[i] = i + 1  # the next live position (n: none)
        before[i] = i - 1
    # heap: (rank << 32 | position); every merge pushes at most two entries
    size = 0
    for i in range(n - 1):
        found = pair_get(pair_keys, pair_values, (ids[i] << SHIFT) | ids[i + 1])
        if found >= 0:
            heap[size] = ((found >> SHIFT) << 32) | i
            size = _sift_up(heap, size)
    while size > 0:
        top = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift_down(heap, size)
        rank, i = top >> 32, top & 0xFFFFFFFF
        j = after[i]
        if ids[i] < 0 or j >= n:
            continue
        found = pair_get(pair_keys, pair_values, (ids[i] << SHIFT) | ids[j])
        if found < 0 or (found >> SHIFT) != rank:
            continue  # stale: a neighbour changed since this entry was pushed
        ids[i] = found & MASK
        ids[j] = -1
        after[i] = after[j]
        if after[j] < n:
            before[after[j]] = i
        for left in (before[i], i):
            right = after[left] if left >= 0 else n
            if left >= 0 and right < n:
                near = pair_get(pair_keys, pair_values, (ids[left] << SHIFT) | ids[right])
                if near >= 0:
                    heap[size] = ((near >> SHIFT) << 32) | left
                    size = _sift_up(heap, size)
    count = 0
    for i in range(n):
        if ids[i] >= 0:
            out[at + count] = ids[i]
            count += 1
    return count


@njit(cache=True)
def _sift_up(heap: np.ndarray, size: int) -> int:
    """Place the entry just written at `size`; returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _sift_down(heap: np.ndarray, size: int) -> None:
    i = 0
    while True:
        smallest, left = i, 2 * i + 1
        if left < size and heap[left] < heap[smallest]:
            smallest = left
        if left + 1 < size and heap[left + 1] < heap[smallest]:
            smallest = left + 1
        if smallest == i:
            return
        heap[i], heap[smallest] = heap[smallest], heap[i]
        i = smallest


@njit(cache=True)
def encode_segments(
    buf: Array, starts: Array, ends: Array, grammar: int, digits: int, classes: Array,  # the text and its cutting
    byte_ids: Array, pair_keys: Array, pair_values: Array, whole_first: bool,  # the vocabulary
    w_slots: Array, w_entries: Array, w_keys: Array,  # whole tokens: bytes -> id
    c_slots: Array, c_hashes: Array, c_entries: Array, c_keys: Array, c_items: Array, c_sizes: Array,  # the cache
    out: Array, segment_ends: Array,
) -> int:  # fmt: skip
    """Encode every segment into `out` (room for one id per byte); `segment_ends[s]` is where segment `s`'s
    ids end. Returns the number of ids."""
    at = 0
    scratch = np.empty(6 * 256, np.int64)
    for s in range(len(starts)):
        p, end = starts[s], ends[s]
        while p < end:
            q = end if grammar == NO_SCANNER else piece_end(grammar, digits, buf, p, end, classes)
            if q - p == 1:
                out[at] = byte_ids[buf[p]]
                at += 1
                p = q
                continue
            h = bytes_hash(buf, p, q)
            entry = bytes_find(c_slots, c_entries, c_keys, buf, p, q, h)
            if entry >= 0:
                count = c_entries[entry, ITEMS_LENGTH]
                if count <= INLINE_ITEMS:
                    out[at] = c_entries[entry, ITEM0]
                    if count == 2:
                        out[at + 1] = c_entries[entry, ITEM1]
                else:
                    first = c_entries[entry, ITEMS_START]
                    for k in range(count):
                        out[at + k] = c_items[first + k]
                at += count
                p = q
                continue
            count = 0
            if whole_first:
                token = bytes_find(w_slots, w_entries, w_keys, buf, p, q, h)
                if token >= 0:
                    out[at] = w_entries[token, VALUE]
                    count = 1
            if count == 0:
                if 6 * (q - p) > len(scratch):
                    scratch = np.empty(6 * (q - p), np.int64)
                count = bpe_into(buf, p, q, byte_ids, pair_keys, pair_values, out, at, scratch)
            if q - p <= CACHED_PIECE_BYTES:
                if not has_room(c_slots, c_entries, c_keys, c_items, c_sizes, q - p, count):
                    c_slots[:] = EMPTY  # full: start again (the common pieces come back first)
                    c_sizes[:] = 0
                entry = bytes_add(c_slots, c_hashes, c_entries, c_keys, c_sizes, buf, p, q, h, 0)
                c_entries[entry, ITEMS_LENGTH] = count
                if count <= INLINE_ITEMS:
                    c_entries[entry, ITEM0] = out[at]
                    c_entries[entry, ITEM1] = out[at + 1] if count == 2 else 0
                else:
                    first = c_sizes[2]
                    c_entries[entry, ITEMS_START] = first
                    c_items[first : first + count] = out[at : at + count]
                    c_sizes[2] = first + count
            at += count
            p = q
        segment_ends[s] = at
    return at


@njit(cache=True)
def count_segments(
    buf: Array, starts: Array, ends: Array, grammar: int, digits: int, classes: Array,
    slots: Array, hashes: Array, entries: Array, keys: Array, items: Array, sizes: Array, resume: Array,
) -> bool:  # fmt: skip
    """Add the pieces of every segment to the counts table (entry value: the count). Stops early, with
    `resume` = [segment, byte] of the next piece, when the table needs to grow; True when done."""
    for s in range(resume[0], len(starts)):
        p = resume[1] if s == resume[0] and resume[1] > starts[s] else starts[s]
        end = ends[s]
        while p < end:
            q = end if grammar == NO_SCANNER else piece_end(grammar, digits, buf, p, end, classes)
            h = bytes_hash(buf, p, q)
            entry = bytes_find(slots, entries, keys, buf, p, q, h)
            if entry >= 0:
                entries[entry, VALUE] += 1
            elif has_room(slots, entries, keys, items, sizes, q - p, 0):
                bytes_add(slots, hashes, entries, keys, sizes, buf, p, q, h, 1)
            else:
                resume[0], resume[1] = s, p
                return False
            p = q
    return True
