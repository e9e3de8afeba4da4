"""Line keys for line-level dedup: one 64-bit BLAKE2b key per line, of its text under the stage's
normalisation (by default "text": case and spacing only; see `pipeline.dedup.shingles`).

Blank lines, and lines shorter than `min_chars` after normalisation, are not eligible: they are never
counted and never cut.
"""

from __future__ import annotations

import numpy as np

from pipeline.dedup.shingles import Normalization, compared_text, text_key


def line_keys(lines: list[str], min_chars: int, normalization: Normalization = "text") -> tuple[np.ndarray, np.ndarray]:
    """(uint64 key per line, bool mask of the lines that may be counted and cut)."""
    normalized = [compared_text(line, normalization) for line in lines]
    eligible = np.array([len(n.strip()) >= max(min_chars, 1) for n in normalized], dtype=bool)
    keys = np.array([text_key(n) for n in normalized], dtype=np.uint64)
    return keys, eligible


def document_line_keys(text: str, min_chars: int, normalization: Normalization = "text") -> np.ndarray:
    """The distinct keys of one document's lines: a line counts once per document that has it."""
    keys, eligible = line_keys(text.split("\n"), min_chars, normalization)
    return np.unique(keys[eligible])


def cut_lines(
    text: str, frequent: np.ndarray, min_chars: int, normalization: Normalization = "text"
) -> tuple[str, int]:
    """The text without lines whose key is in `frequent` (sorted), and how many lines were cut."""
    if len(frequent) == 0:
        return text, 0
    lines = text.split("\n")
    keys, eligible = line_keys(lines, min_chars, normalization)
    positions = np.minimum(np.searchsorted(frequent, keys), len(frequent) - 1)
    cut = eligible & (frequent[positions] == keys)
    if not cut.any():
        return text, 0
    return "\n".join(line for line, drop in zip(lines, cut, strict=True) if not drop), int(cut.sum())
