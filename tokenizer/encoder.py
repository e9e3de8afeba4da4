"""BPE encoding of one pre-token: apply merges in rank order, the leftmost occurrence first on equal rank.

Short pieces use a plain loop (the fastest in Python for the few bytes of a word); long ones a heap over a
linked list of tokens, so a piece of n bytes costs O(n log n) whatever it holds (a 1 MB run of one letter,
a base64 blob). Both apply the same rule and give the same ids (tested against each other).
"""

from __future__ import annotations

import heapq
from itertools import pairwise

Ranks = dict[tuple[int, int], tuple[int, int]]  # (left id, right id) -> (rank, merged id)
LONG_PIECE = 64


def bpe(piece: bytes, ranks: Ranks) -> list[int]:
    return _bpe_long(piece, ranks) if len(piece) > LONG_PIECE else _bpe_short(list(piece), ranks)


def _bpe_short(ids: list[int], ranks: Ranks) -> list[int]:
    while len(ids) > 1:
        best = None
        for pair in pairwise(ids):
            found = ranks.get(pair)
            if found is not None and (best is None or found[0] < best[0]):
                best, pair_best = found, pair
        if best is None:
            return ids
        a, b = pair_best
        out, i, n = [], 0, len(ids)
        while i < n:
            if i + 1 < n and ids[i] == a and ids[i + 1] == b:
                out.append(best[1])
                i += 2
            else:
                out.append(ids[i])
                i += 1
        ids = out
    return ids


def _bpe_long(piece: bytes, ranks: Ranks) -> list[int]:
    n = len(piece)
    ids = list(piece)
    after = list(range(1, n + 1))  # after[i]: the next live position (n: none)
    before = list(range(-1, n - 1))
    alive = [True] * n
    heap = [(found[0], i) for i in range(n - 1) if (found := ranks.get((ids[i], ids[i + 1]))) is not None]
    heapq.heapify(heap)
    while heap:
        rank, i = heapq.heappop(heap)
        j = after[i] if alive[i] else n
        if j >= n:
            continue
        found = ranks.get((ids[i], ids[j]))
        if found is None or found[0] != rank:
            continue  # stale: a neighbour changed since this entry was pushed
        ids[i] = found[1]
        alive[j] = False
        after[i] = after[j]
        if after[j] < n:
            before[after[j]] = i
        for left, right in ((before[i], i), (i, after[i])):
            if left >= 0 and right < n and (near := ranks.get((ids[left], ids[right]))) is not None:
                heapq.heappush(heap, (near[0], left))
    return [ids[i] for i in range(n) if alive[i]]
