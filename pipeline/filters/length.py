"""Length bounds in characters, words and lines: the cheapest filter, usually first or last in a chain."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pipeline.filters.verdict import Verdict, removed
from pipeline.filters.words import content_words, nonblank_lines
from pipeline.section import Section, switchable

Bound = switchable(Annotated[int, Field(ge=0)])


class LengthStage(Section):
    """Recipe stage `kind = "length"`; each bound is inclusive and `false` (the default) means unbounded.

    Words are words with a letter or digit (one per character in Chinese/Japanese, see
    `pipeline.filters.words`); lines are non-blank lines.
    """

    kind: Literal["length"] = "length"
    min_chars: Bound = None
    max_chars: Bound = None
    min_words: Bound = None
    max_words: Bound = None
    min_lines: Bound = None
    max_lines: Bound = None


def length_filter(text: str, options: LengthStage | None = None) -> Verdict:
    """Remove documents outside the configured bounds; measures are only computed when bounded."""
    o = options or LengthStage()
    measures = (
        ("chars", o.min_chars, o.max_chars, lambda: len(text)),
        ("words", o.min_words, o.max_words, lambda: len(content_words(text))),
        ("lines", o.min_lines, o.max_lines, lambda: len(nonblank_lines(text))),
    )
    for name, low, high, measure in measures:
        if low is None and high is None:
            continue
        value = measure()
        if low is not None and value < low:
            return removed(text, f"length_{name}", name, value, "<", low)
        if high is not None and value > high:
            return removed(text, f"length_{name}", name, value, ">", high)
    return Verdict(text)
