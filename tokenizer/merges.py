"""Learning BPE merges from pre-token counts, with pair counts updated incrementally.

Each distinct pre-token is a word (a list of token ids) with its count. The count of every adjacent pair
and the words it occurs in are kept; a merge rewrites only the words that contain the merged pair and
adjusts the counts of the pairs around each occurrence. The next merge comes from a heap of (count, pair)
entries where stale entries (the count changed since) are skipped when popped.

Ties between pairs of equal count go to the lexicographically greater pair of byte strings, compared as
(left bytes, right bytes): a rule that does not depend on word order, so training is deterministic.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Mapping
from itertools import pairwise

Pair = tuple[int, int]


_COMPLEMENT = bytes(range(255, -1, -1))


def _descending(token: bytes) -> bytes:
    """A key that sorts byte strings in reverse: complemented bytes, then a terminator above them all, so
    that a string sorts before its own prefixes (`abc` before `ab`), as reverse order wants."""
    return token.translate(_COMPLEMENT) + b"\xff\xff"


def learn_merges(
    counts: Mapping[bytes, int],
    tokens: int,
    min_frequency: int = 2,
    progress: Callable[[int], None] | None = None,
) -> list[tuple[bytes, bytes]]:
    """Merges, most frequent pair first, until `tokens` new tokens exist or no pair occurs `min_frequency`
    times. Byte tokens are ids 0..255, new tokens 256 on. A merge whose bytes already are a token (`ab`+`c`
    after `a`+`bc`) makes no new one: a token's bytes are unique, as tiktoken's ranks require."""
    vocab = [bytes([i]) for i in range(256)]
    ids = {token: i for i, token in enumerate(vocab)}
    words = [list(word) for word in counts]
    freqs = list(counts.values())
    pair_counts: defaultdict[Pair, int] = defaultdict(int)
    where: defaultdict[Pair, set[int]] = defaultdict(set)
    for index, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] += freq
            where[pair].add(index)
    keys = [_descending(token) for token in vocab]
    heap = [(-count, keys[a], keys[b], a, b) for (a, b), count in pair_counts.items()]
    heapq.heapify(heap)
    learned: list[tuple[bytes, bytes]] = []
    while len(vocab) - 256 < tokens and heap:
        negative, _, _, a, b = heapq.heappop(heap)
        if pair_counts.get((a, b), 0) != -negative:
            continue  # stale: this pair's count changed after the entry was pushed
        if -negative < max(min_frequency, 1):
            break
        joined = vocab[a] + vocab[b]
        new = ids.setdefault(joined, len(vocab))
        if new == len(vocab):
            vocab.append(joined)
            keys.append(_descending(joined))
        learned.append((vocab[a], vocab[b]))
        changed = _apply_merge(words, freqs, where.pop((a, b)), (a, b), new, pair_counts, where)
        for pair in changed:
            count = pair_counts.get(pair, 0)
            if count > 0:
                heapq.heappush(heap, (-count, keys[pair[0]], keys[pair[1]], *pair))
        if progress:
            progress(len(vocab) - 256)
    return learned


def _apply_merge(
    words: list[list[int]],
    freqs: list[int],
    indices: set[int],
    pair: Pair,
    new: int,
    pair_counts: defaultdict[Pair, int],
    where: defaultdict[Pair, set[int]],
) -> set[Pair]:
    """Rewrite the words holding `pair`, adjusting only the pairs next to each occurrence; returns the
    pairs whose count changed.

    Each occurrence gives up its left pair for (left, new) and its right pair for (new, right); when two
    occurrences touch (`a b a b`), the pair between them is handled once, by the second one's left side.
    Occurrences are found with `list.index`, so the cost is per occurrence, not per token of the word.
    """
    a, b = pair
    changed: set[Pair] = set()
    for index in sorted(indices):
        word, freq = words[index], freqs[index]
        n = len(word)
        found: list[int] = []
        i = 0
        try:
            while True:
                i = word.index(a, i)
                if i + 1 < n and word[i + 1] == b:
                    found.append(i)
                    i += 2
                else:
                    i += 1
        except ValueError:
            pass
        if not found:
            continue
        out: list[int] = []
        previous_end = 0
        for k, i in enumerate(found):
            if i > 0:
                old, fresh = (word[i - 1], a), (new if previous_end == i and k else word[i - 1], new)
                pair_counts[old] -= freq
                pair_counts[fresh] += freq
                where[fresh].add(index)
                changed.add(old)
                changed.add(fresh)
            following = found[k + 1] if k + 1 < len(found) else -1
            if i + 2 < n and following != i + 2:
                old, fresh = (b, word[i + 2]), (new, word[i + 2])
                pair_counts[old] -= freq
                pair_counts[fresh] += freq
                where[fresh].add(index)
                changed.add(old)
                changed.add(fresh)
            out += word[previous_end:i]
            out.append(new)
            previous_end = i + 2
        out += word[previous_end:]
        words[index] = out
    pair_counts.pop(pair, None)
    changed.discard(pair)
    return changed
