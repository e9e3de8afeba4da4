"""One byte of character classes per Unicode code point, for the compiled pre-tokenizer scanners.

The bits are the classes the preset patterns test (`\\p{L}`, `\\p{N}`, `\\s`, o200k's cased-letter sets),
taken from the `regex` module itself, so a scanner and the regex it stands for agree on every code point.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import regex

LETTER = 1  # \p{L}
NUMBER = 2  # \p{N}
SPACE = 4  # \s (Unicode White_Space)
UPPERISH = 8  # [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]: o200k's first letter set
LOWERISH = 16  # [\p{Ll}\p{Lm}\p{Lo}\p{M}]: o200k's second letter set
LINE_END = 32  # \r or \n

_CLASSES = {
    LETTER: r"\p{L}+",
    NUMBER: r"\p{N}+",
    SPACE: r"\s+",
    UPPERISH: r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+",
    LOWERISH: r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
    LINE_END: r"[\r\n]+",
}


@cache
def class_table() -> np.ndarray:
    """uint8[0x110000]: the OR of the class bits of each code point, as the `regex` module reads them."""
    text = np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")
    table = np.zeros(0x110000, np.uint8)
    for bit, pattern in _CLASSES.items():
        for match in regex.finditer(pattern, text):
            table[match.start() : match.end()] |= bit
    return table
