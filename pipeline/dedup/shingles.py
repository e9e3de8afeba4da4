"""Text normalisation and shingle hashes for deduplication.

Exact and line dedup compare texts under one of three `Normalization`s (`normalize` in their recipe stage):
- "text" (their default): Unicode NFC, case folded, whitespace runs -> one space, trimmed. Texts that
  differ only in how they are typed or spaced are one text; digits, punctuation and accents stay, so two
  price lists, two match reports or "Step 3: ..." and "Step 4: ..." stay distinct.
- "none": the exact characters.
- "aggressive": the MinHash normalisation below. It also makes every number the same and drops punctuation
  and accents, so the rows of a numeric table, dated lines and numbered steps become one line, and
  documents that differ only in their figures become copies: more boilerplate found, at the price of
  cutting or removing content that is not repeated.

The aggressive normalisation (always used for MinHash shingles, where near-duplicates are the point), in
order:
1. lowercase;
2. Unicode NFD, then drop combining marks, so "café" and "cafe" match (only for non-ASCII text);
3. every run of digits becomes "0", so dates, counters and prices do not make copies look different;
4. every run of punctuation and symbols (Unicode P* and S*) becomes one space;
5. whitespace runs collapse to one space; leading and trailing spaces go.

Shingles are n-grams of the normalised text: of words (split on spaces) or of characters (code points,
spaces included). A text with fewer than n units has one shingle, the whole text, so short documents are
still compared; an empty text has none. Each shingle gets a 64-bit hash from a polynomial rolling hash
over its units (words are first hashed the same way over their UTF-8 bytes), finished with the
MurmurHash3 64-bit mixer; everything after normalisation is vectorised with numpy. Crafted texts can
collide under a polynomial hash, which costs MinHash at most a shingle; whole texts and lines, where a
collision would remove a document or a line, get BLAKE2b keys instead (`text_key`).
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Literal

import numpy as np
import regex

_DIGITS = regex.compile(r"\d+")
_PUNCT_OR_SYMBOL = regex.compile(r"[\p{P}\p{S}]+")
_MARKS = regex.compile(r"\p{Mn}+")

SPAN = 1 << 20
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 2**64)
_U64 = np.uint64


Normalization = Literal["text", "none", "aggressive"]


def normalize(text: str) -> str:
    """The aggressive normalisation above; the result has single spaces between words."""
    text = text.lower()
    if not text.isascii():
        text = _MARKS.sub("", unicodedata.normalize("NFD", text))
    text = _PUNCT_OR_SYMBOL.sub(" ", _DIGITS.sub("0", text))
    return " ".join(text.split())


def normalize_spacing(text: str) -> str:
    """The "text" normalisation: NFC, case folded, one space between words."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def compared_text(text: str, normalization: Normalization) -> str:
    """What exact and line dedup compare of a text under `normalization`."""
    if normalization == "text":
        return normalize_spacing(text)
    if normalization == "aggressive":
        return normalize(text)
    return text


# MurmurHash3's finaliser constants by width: shift, multiplier, shift, multiplier, shift
_FMIX = {
    32: (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16),
    64: (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB93FE1A85EC5, 33),
}


def fmix(values: np.ndarray, width: int = 64) -> np.ndarray:
    """MurmurHash3's finaliser on uint32 or uint64 values: a bijection that spreads every input bit over
    the output (the 32-bit one is the pre-mix datasketch's affine32 scheme applies)."""
    kind = np.uint32 if width == 32 else np.uint64
    shift1, multiply1, shift2, multiply2, shift3 = (kind(c) for c in _FMIX[width])
    with np.errstate(over="ignore"):
        values = values ^ (values >> shift1)
        values = values * multiply1
        values = values ^ (values >> shift2)
        values = values * multiply2
        return values ^ (values >> shift3)


class _Powers:
    """BASE**k and BASE**-k modulo 2**64 for k < len, grown on demand."""

    def __init__(self) -> None:
        self.up = np.ones(1, dtype=_U64)
        self.down = np.ones(1, dtype=_U64)

    def ensure(self, length: int) -> None:
        if length <= len(self.up):
            return
        size = max(length, 2 * len(self.up))
        with np.errstate(over="ignore"):
            self.up = np.cumprod(np.r_[_U64(1), np.full(size - 1, _BASE, dtype=_U64)], dtype=_U64)
            self.down = np.cumprod(np.r_[_U64(1), np.full(size - 1, _BASE_INVERSE, dtype=_U64)], dtype=_U64)


_POWERS = _Powers()


def window_hashes(units: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of units[s:e] for each (s, e) (both ascending), from prefix sums: the hash of a
    window is (H[e] - H[s]) * BASE**-s, so it does not depend on where the window sits. Long texts go in
    spans of about SPAN units, so memory stays bounded whatever the document's size."""
    if len(starts) == 0:
        return np.empty(0, dtype=_U64)
    if ends[-1] - starts[0] <= SPAN:  # the usual case: one span
        return _span_hashes(units, starts, ends)
    cuts = np.searchsorted(starts, np.arange(starts[0], starts[-1] + 1, SPAN)[1:])
    parts = []
    for first, last in zip(np.r_[0, cuts], np.r_[cuts, len(starts)], strict=True):
        if first < last:
            base = starts[first]
            parts.append(_span_hashes(units[base : ends[last - 1]], starts[first:last] - base, ends[first:last] - base))
    return np.concatenate(parts)


def _span_hashes(units: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    _POWERS.ensure(len(units) + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(units) + 1, dtype=_U64)
        np.cumsum(units.astype(_U64) * _POWERS.up[: len(units)], dtype=_U64, out=prefix[1:])
        raw = (prefix[ends] - prefix[starts]) * _POWERS.down[starts]
        lengths = (ends - starts).astype(_U64)
        return fmix(raw ^ (lengths * _U64(0x9E3779B97F4A7C15)))


def word_hashes(normalized: str) -> np.ndarray:
    """One 64-bit hash per word of a normalised text."""
    if not normalized:
        return np.empty(0, dtype=_U64)
    data = np.frombuffer(normalized.encode("utf-8"), dtype=np.uint8)
    spaces = np.flatnonzero(data == 32)
    starts = np.r_[0, spaces + 1]
    ends = np.r_[spaces, len(data)]
    return window_hashes(data, starts, ends)


def ngram_hashes(units: np.ndarray, n: int) -> np.ndarray:
    """Hashes of every run of n consecutive units; one hash of all units when there are fewer than n."""
    if len(units) == 0:
        return np.empty(0, dtype=_U64)
    width = min(n, len(units))
    starts = np.arange(len(units) - width + 1)
    return window_hashes(units, starts, starts + width)


def word_shingles(text: str, n: int) -> np.ndarray:
    return ngram_hashes(word_hashes(normalize(text)), n)


def char_shingles(text: str, n: int) -> np.ndarray:
    codes = np.frombuffer(normalize(text).encode("utf-32-le"), dtype=np.uint32)
    return ngram_hashes(codes, n)


def text_key(text: str) -> int:
    """A 64-bit BLAKE2b key of a text: equal texts share it; two different texts collide with probability
    2**-64, so a million documents have about 3e-8 chance of any false match."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
