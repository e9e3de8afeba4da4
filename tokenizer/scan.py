"""Compiled pre-tokenizers for the known patterns: where the regex would find the next piece, found by
walking the UTF-8 bytes over the class table (`tokenizer.unicode_classes`), with no regex engine.

Three grammars cover the byte-level BPE vocabularies in use: GPT-2's, GPT-4's (cl100k; Llama 3 and Qwen
2/2.5/3 write the same grammar, Qwen with single digits) and GPT-4o's (o200k). `scanner_for(pattern)` names
the grammar of a pattern string it knows exactly, or None (the regex is used then). Each `*_end` function
returns where the piece starting at `p` ends, by the regex's own rules: alternatives in order, greedy runs,
and the backtracking the patterns allow (`\\s+(?!\\S)` gives back one space, `\\s*[\\r\\n]` ends at the last
line end of a space run, o200k's letter sets give back letters). tests/tokenizer/test_scan.py checks the
pieces against the regex on hostile Unicode.
"""

from __future__ import annotations

import numpy as np

from tokenizer.jit import njit
from tokenizer.patterns import LLAMA3, PRESETS, QWEN
from tokenizer.unicode_classes import LETTER, LINE_END, LOWERISH, NUMBER, SPACE, UPPERISH

GPT2, GPT4, O200K = 0, 1, 2
NO_SCANNER = -1
_KNOWN = {
    PRESETS["gpt2"]: (GPT2, 0),
    PRESETS["gpt4"]: (GPT4, 3),
    LLAMA3: (GPT4, 3),
    QWEN: (GPT4, 1),
    PRESETS["o200k"]: (O200K, 3),
}
APOSTROPHE, SPACE_CHAR, SLASH = 39, 32, 47


def scanner_for(pattern: str) -> tuple[int, int]:
    """(grammar, longest digit run) of a pattern string this module scans; (NO_SCANNER, 0) otherwise."""
    return _KNOWN.get(PRESETS.get(pattern, pattern), (NO_SCANNER, 0))


@njit(cache=True, inline="always")
def width(lead: int) -> int:
    """Bytes of the UTF-8 sequence that starts with `lead` (the text came from Python's encoder: valid)."""
    if lead < 0x80:
        return 1
    if lead < 0xE0:
        return 2
    if lead < 0xF0:
        return 3
    return 4


@njit(cache=True, inline="always")
def code_point(buf: np.ndarray, p: int) -> int:
    lead = np.int64(buf[p])
    if lead < 0x80:
        return lead
    if lead < 0xE0:
        return ((lead & 0x1F) << 6) | (np.int64(buf[p + 1]) & 0x3F)
    if lead < 0xF0:
        return ((lead & 0x0F) << 12) | ((np.int64(buf[p + 1]) & 0x3F) << 6) | (np.int64(buf[p + 2]) & 0x3F)
    return (
        ((lead & 0x07) << 18)
        | ((np.int64(buf[p + 1]) & 0x3F) << 12)
        | ((np.int64(buf[p + 2]) & 0x3F) << 6)
        | (np.int64(buf[p + 3]) & 0x3F)
    )


@njit(cache=True, inline="always")
def classes(buf: np.ndarray, p: int, end: int, table: np.ndarray) -> int:
    """The class bits of the character at `p`; 0 at the end."""
    if p >= end:
        return 0
    lead = buf[p]
    if lead < 0x80:
        return table[lead]
    return table[code_point(buf, p)]


@njit(cache=True)
def run(buf: np.ndarray, p: int, end: int, table: np.ndarray, bits: int) -> int:
    """The end of the run of characters having any of `bits` from `p`."""
    while p < end and classes(buf, p, end, table) & bits:
        p += width(buf[p])
    return p


@njit(cache=True)
def run_other(buf: np.ndarray, p: int, end: int, table: np.ndarray) -> int:
    """The end of the run of `[^\\s\\p{L}\\p{N}]` from `p`."""
    while p < end and not classes(buf, p, end, table) & (LETTER | NUMBER | SPACE):
        p += width(buf[p])
    return p


@njit(cache=True)
def fold(buf: np.ndarray, p: int, end: int, ignore_case: bool) -> int:
    """The code point at `p`, case-folded for the contractions' letters when `ignore_case` (ſ folds to s)."""
    if p >= end:
        return -1
    c = code_point(buf, p)
    if ignore_case:
        if 65 <= c <= 90:
            return c + 32
        if c == 0x17F:
            return 115
    return c


@njit(cache=True)
def contraction_end(buf: np.ndarray, p: int, end: int, ignore_case: bool) -> int:
    """After an apostrophe at `p - 1`: the end of `s|t|re|ve|m|ll|d` there, or -1."""
    c1 = fold(buf, p, end, ignore_case)
    if c1 < 0:
        return -1
    q = p + width(buf[p])
    if c1 == 115 or c1 == 116 or c1 == 109 or c1 == 100:  # s t m d
        return q
    c2 = fold(buf, q, end, ignore_case)
    if (c1 == 108 and c2 == 108) or (c1 == 118 and c2 == 101) or (c1 == 114 and c2 == 101):  # ll ve re
        return q + width(buf[q])
    return -1


@njit(cache=True)
def space_end(buf: np.ndarray, p: int, end: int, table: np.ndarray, line_ends: bool) -> int:
    """A piece of white space from `p`: up to the run's last line end (`\\s*[\\r\\n]`, when `line_ends`),
    else the run less its last character when a non-space follows (`\\s+(?!\\S)`), else the run (`\\s+`)."""
    last_character, last_line_end, q = p, -1, p
    while q < end:
        found = classes(buf, q, end, table)
        if not found & SPACE:
            break
        if found & LINE_END:
            last_line_end = q
        last_character = q
        q += width(buf[q])
    if line_ends and last_line_end >= 0:
        return last_line_end + 1
    if q < end and last_character > p:
        return last_character
    return q


@njit(cache=True)
def gpt2_end(buf: np.ndarray, p: int, end: int, table: np.ndarray) -> int:
    """`'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`"""
    first = buf[p]
    if first == APOSTROPHE:
        q = contraction_end(buf, p + 1, end, False)
        if q > 0:
            return q
    start = p + 1 if first == SPACE_CHAR else p
    if start < end:
        found = classes(buf, start, end, table)
        if found & LETTER:
            return run(buf, start, end, table, LETTER)
        if found & NUMBER:
            return run(buf, start, end, table, NUMBER)
        if not found & SPACE:
            return run_other(buf, start, end, table)
    return space_end(buf, p, end, table, False)


@njit(cache=True)
def gpt4_end(buf: np.ndarray, p: int, end: int, table: np.ndarray, digits: int) -> int:
    """`'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|
    \\s*[\\r\\n]|\\s+(?!\\S)|\\s+` (with `\\p{N}{1,digits}`)."""
    first = buf[p]
    if first == APOSTROPHE:
        q = contraction_end(buf, p + 1, end, True)
        if q > 0:
            return q
    found = classes(buf, p, end, table)
    if found & LETTER:
        return run(buf, p, end, table, LETTER)
    after = p + width(first)
    if not found & (NUMBER | LINE_END) and classes(buf, after, end, table) & LETTER:
        return run(buf, after, end, table, LETTER)
    return rest_end(buf, p, end, table, digits, found, after, False)


@njit(cache=True)
def rest_end(buf: np.ndarray, p: int, end: int, table: np.ndarray, digits: int, found: int, after: int,
             slash: bool) -> int:  # fmt: skip
    """The alternatives after the words, shared by GPT-4's and GPT-4o's patterns: `\\p{N}{1,digits}`,
    ` ?[^\\s\\p{L}\\p{N}]+` then `[\r\n]*` (`[\r\n/]*` with `slash`), then the white-space ones."""
    if found & NUMBER:
        q, count = p, 0
        while q < end and count < digits and classes(buf, q, end, table) & NUMBER:
            q += width(buf[q])
            count += 1
        return q
    start = p
    if buf[p] == SPACE_CHAR and after < end and not classes(buf, after, end, table) & (LETTER | NUMBER | SPACE):
        start = after
    if not classes(buf, start, end, table) & (LETTER | NUMBER | SPACE):
        q = run_other(buf, start, end, table)
        while q < end and ((slash and buf[q] == SLASH) or classes(buf, q, end, table) & LINE_END):
            q += 1
        return q
    return space_end(buf, p, end, table, True)


@njit(cache=True)
def cased_word_end(buf: np.ndarray, s: int, end: int, table: np.ndarray, lower_first: bool) -> int:
    """From `s`: `[upper set]*[lower set]+` (`lower_first`) or `[upper set]+[lower set]*`, then an optional
    contraction; -1 where it does not match."""
    upper_end = run(buf, s, end, table, UPPERISH)
    if lower_first:
        q = upper_end  # the greedy upper run gives characters back until one of the lower set follows
        while True:
            if classes(buf, q, end, table) & LOWERISH:
                break
            if q == s:
                return -1
            q -= 1
            while buf[q] & 0xC0 == 0x80:  # back to the start of the previous character
                q -= 1
        word_end = run(buf, q, end, table, LOWERISH)
    else:
        if upper_end == s:
            return -1
        word_end = run(buf, upper_end, end, table, LOWERISH)
    return with_contraction(buf, word_end, end)


@njit(cache=True)
def with_contraction(buf: np.ndarray, word_end: int, end: int) -> int:
    """A word's end, moved past `(?i:'s|'t|'re|'ve|'m|'ll|'d)` where one follows (GPT-4o)."""
    if word_end < end and buf[word_end] == APOSTROPHE:
        q = contraction_end(buf, word_end + 1, end, True)
        if q > 0:
            return q
    return word_end


@njit(cache=True)
def ascii_word_end(buf: np.ndarray, p: int, end: int, table: np.ndarray) -> int:
    """GPT-4o's cased words where they are ASCII (most words of most text): `[A-Z]*[a-z]+` else `[A-Z]+`, maybe
    after one ASCII character that is no letter, digit or line end, then a contraction. -1 where the piece
    is not such a word or a non-ASCII character follows a run (a mark or an accented letter may continue it):
    the general scan decides then."""
    first = buf[p]
    if first >= 0x80:
        return -1
    s = p
    if not table[first] & LETTER:
        if table[first] & (NUMBER | LINE_END) or p + 1 >= end or buf[p + 1] >= 0x80 or not table[buf[p + 1]] & LETTER:
            return -1
        s = p + 1
    q = s
    while q < end and 65 <= buf[q] <= 90:
        q += 1
    while q < end and 97 <= buf[q] <= 122:
        q += 1
    if q < end and buf[q] >= 0x80:
        return -1
    return with_contraction(buf, q, end)


@njit(cache=True)
def o200k_end(buf: np.ndarray, p: int, end: int, table: np.ndarray, digits: int) -> int:
    """GPT-4o's pattern: two cased-word alternatives with an optional `[^\\r\\n\\p{L}\\p{N}]` before each,
    `\\p{N}{1,3}`, ` ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*`, `\\s*[\\r\\n]+`, `\\s+(?!\\S)`, `\\s+`."""
    q = ascii_word_end(buf, p, end, table)
    if q > 0:
        return q
    found = classes(buf, p, end, table)
    after = p + width(buf[p])
    can_lead = not found & (LETTER | NUMBER | LINE_END)
    cased = found & (UPPERISH | LOWERISH) or (can_lead and classes(buf, after, end, table) & (UPPERISH | LOWERISH))
    if cased:  # a cased word can start at p or after it
        for lower_first in (True, False):
            if can_lead and after < end:
                q = cased_word_end(buf, after, end, table, lower_first)
                if q > 0:
                    return q
            q = cased_word_end(buf, p, end, table, lower_first)
            if q > 0:
                return q
    return rest_end(buf, p, end, table, digits, found, after, True)


@njit(cache=True)
def piece_end(grammar: int, digits: int, buf: np.ndarray, p: int, end: int, table: np.ndarray) -> int:
    if grammar == GPT4:
        return gpt4_end(buf, p, end, table, digits)
    if grammar == O200K:
        return o200k_end(buf, p, end, table, digits)
    return gpt2_end(buf, p, end, table)


@njit(cache=True)
def piece_bounds(grammar: int, digits: int, buf: np.ndarray, start: int, end: int, table: np.ndarray) -> np.ndarray:
    """The end offsets of the pieces of `buf[start:end]` (tests and tools; the encoder scans inline)."""
    ends = np.empty(end - start, np.int64)
    count, p = 0, start
    while p < end:
        p = piece_end(grammar, digits, buf, p, end, table)
        ends[count] = p
        count += 1
    return ends[:count]
