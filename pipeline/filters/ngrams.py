"""Vectorised n-gram repetition measures over a document's words (numpy, one hash per n-gram).

Words become 64-bit hashes; an n-gram's hash is a polynomial over its words' hashes, built for n
from the one for n-1 in one array operation. Counting and first occurrences then come from
`np.unique`, with no Python loop over n-grams and no joined n-gram strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_MULTIPLIER = np.uint64(0x100000001B3)


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: decorrelates word hashes before they are combined polynomially."""
    z = values.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass
class NgramIndex:
    """Word hashes and character lengths of one document, reused for every n."""

    word_hashes: np.ndarray
    word_lengths: np.ndarray
    total_chars: int
    # smallest n seen with no repeated n-gram: then no longer n-gram repeats either, so those are skipped
    unique_from: int | None = None
    _built: tuple[int, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        self._built = (1, self.word_hashes)

    @classmethod
    def of(cls, words: tuple[str, ...]) -> NgramIndex:
        # Python's str hash is cached on the string and computed in C; it only has to be consistent
        # within one document, so its per-process salt does not matter.
        hashes = np.fromiter(map(hash, words), dtype=np.int64, count=len(words))
        lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        return cls(_mix(hashes), lengths, int(lengths.sum()))

    def hashes(self, n: int) -> np.ndarray:
        """n-gram hashes, extended from the longest ones built so far when n grows (the usual order)."""
        start, h = self._built if self._built[0] <= n else (1, self.word_hashes)
        with np.errstate(over="ignore"):
            for k in range(start, n):
                h = h[:-1] * _MULTIPLIER + self.word_hashes[k:]
        self._built = (n, h)
        return h

    def _known_unique(self, n: int) -> bool:
        return self.unique_from is not None and n >= self.unique_from

    def top_ngram_fraction(self, n: int) -> float:
        """Characters of the most repeated n-gram times its count, over all word characters.

        Only an n-gram seen twice or more counts; among the most frequent, the longest is taken.
        """
        if len(self.word_hashes) < n + 1 or self.total_chars == 0:
            return 0.0
        if self._known_unique(n):
            return 0.0
        groups = _Groups(self.hashes(n))
        top = groups.counts.max()
        if top < 2:
            self.unique_from = n
            return 0.0
        starts = groups.order[groups.starts[groups.counts == top]]  # one occurrence of each top n-gram
        cumulative = np.concatenate(([0], np.cumsum(self.word_lengths)))
        chars = (cumulative[starts + n] - cumulative[starts]).max()
        return float(top * chars) / self.total_chars

    def duplicate_ngram_fraction(self, n: int) -> float:
        """Share of word characters covered by an n-gram that already occurred earlier.

        A character inside several duplicate n-grams is counted once (Gopher, Rae et al. 2021, A.1.1).
        """
        count = len(self.word_hashes) - n + 1
        if count < 2 or self.total_chars == 0:
            return 0.0
        if self._known_unique(n):
            return 0.0
        groups = _Groups(self.hashes(n))
        if len(groups.starts) == count:
            self.unique_from = n
            return 0.0
        repeated = np.ones(count, dtype=bool)
        repeated[np.minimum.reduceat(groups.order, groups.starts)] = False  # first occurrences
        starts = np.flatnonzero(repeated)
        size = len(self.word_hashes) + 1
        depth = np.cumsum(np.bincount(starts, minlength=size) - np.bincount(starts + n, minlength=size))[:-1]
        return float(self.word_lengths[depth > 0].sum()) / self.total_chars


class _Groups:
    """Equal hashes grouped by one unstable sort (cheaper than `np.unique`'s stable one)."""

    def __init__(self, hashes: np.ndarray):
        self.order = np.argsort(hashes)
        ordered = hashes[self.order]
        boundary = np.empty(len(ordered), dtype=bool)
        boundary[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=boundary[1:])
        self.starts = np.flatnonzero(boundary)
        self.counts = np.diff(np.append(self.starts, len(ordered)))
