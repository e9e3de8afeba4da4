"""BPE encoding of one pre-token: apply merges in rank order, the leftmost occurrence first on equal rank.

A heap of (rank, position) over a linked list of tokens, so a piece of n bytes costs O(n log n) whatever
it holds (a 1 MB run of one letter, a base64 blob); compiled with numba where it is installed (see
`tokenizer.jit`). Ranks map `left << 21 | right` to `rank << 21 | merged id`.
"""

from __future__ import annotations

import numpy as np

from tokenizer.jit import get, int_dict, njit

SHIFT = 21
MASK = (1 << SHIFT) - 1


def rank_table(pairs: dict[tuple[int, int], tuple[int, int]]) -> dict:
    """The compiled encoder's table from {(left id, right id): (rank, merged id)}."""
    table = int_dict()
    for (left, right), (rank, merged) in pairs.items():
        table[(left << SHIFT) | right] = (rank << SHIFT) | merged
    return table


def bpe(piece: bytes, table: dict) -> list[int]:
    if len(piece) == 1:
        return [piece[0]]
    return _bpe(np.frombuffer(piece, np.uint8), table).tolist()


@njit(cache=True)
def _bpe(data: np.ndarray, table: dict) -> np.ndarray:
    n = len(data)
    ids = data.astype(np.int64)
    after = np.arange(1, n + 1)  # the next live position (n: none)
    before = np.arange(-1, n - 1)
    heap = np.empty(3 * n, np.int64)  # (rank << 32 | position); every merge pushes at most two entries
    size = 0
    for i in range(n - 1):
        found = get(table, (ids[i] << SHIFT) | ids[i + 1], -1)
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
        found = get(table, (ids[i] << SHIFT) | ids[j], -1)
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
                near = get(table, (ids[left] << SHIFT) | ids[right], -1)
                if near >= 0:
                    heap[size] = ((near >> SHIFT) << 32) | left
                    size = _sift_up(heap, size)
    return ids[ids >= 0]


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
