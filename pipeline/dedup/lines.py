"""Line keys for line-level dedup: one 64-bit key per line of normalised text, all lines of a document at once.

Blank lines, and lines shorter than `min_chars` after normalisation, get no key: they are never counted
and never cut.
"""

from __future__ import annotations

import numpy as np

from pipeline.dedup.shingles import normalize, window_hashes


def line_keys(lines: list[str], min_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 key per line, bool mask of the lines that have a key)."""
    normalized = [normalize(line) for line in lines]
    eligible = np.array([len(n) >= max(min_chars, 1) for n in normalized], dtype=bool)
    data = np.frombuffer("\n".join(normalized).encode("utf-8"), dtype=np.uint8)
    breaks = np.flatnonzero(data == 10)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(data)]
    return window_hashes(data, starts, ends), eligible


def document_line_keys(text: str, min_chars: int) -> np.ndarray:
    """The distinct keys of one document's lines: a line counts once per document that has it."""
    keys, eligible = line_keys(text.split("\n"), min_chars)
    return np.unique(keys[eligible])


def cut_lines(text: str, frequent: np.ndarray, min_chars: int) -> tuple[str, int]:
    """The text without lines whose key is in `frequent` (sorted), and how many lines were cut."""
    lines = text.split("\n")
    keys, eligible = line_keys(lines, min_chars)
    if len(frequent) == 0:
        return text, 0
    positions = np.minimum(np.searchsorted(frequent, keys), len(frequent) - 1)
    cut = eligible & (frequent[positions] == keys)
    if not cut.any():
        return text, 0
    return "\n".join(line for line, drop in zip(lines, cut, strict=True) if not drop), int(cut.sum())
