"""FineWeb rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for the Finest Text Data
at Scale", arXiv:2406.17557, section 3.5), plus the list-ratio rule of FineWeb's released code.

The paper removes a document when the share of lines ending in punctuation is <= 0.12, the share of
characters in duplicated lines is >= 0.1, or the share of lines shorter than 30 characters is >= 0.67.
FineWeb's released pipeline (datatrove) uses 0.01 for the duplicate-character share; set
`max_duplicate_line_chars = 0.01` to follow it. Lines are non-blank lines; "punctuation" is any Unicode
sentence terminal, optionally followed by closing quotes or brackets.
"""

from __future__ import annotations

from typing import Annotated, Literal

import regex
from pydantic import Field

from pipeline.filters.verdict import Verdict, removed
from pipeline.filters.words import nonblank_lines, repeats, tokens
from pipeline.section import Section, switchable

Fraction = switchable(Annotated[float, Field(ge=0, le=1)])

_ENDS_WITH_TERMINAL = regex.compile(r"\p{Sentence_Terminal}['\"”’)\]»]*$")


class FineWebStage(Section):
    """Recipe stage `kind = "fineweb"`; `false` switches a rule off."""

    kind: Literal["fineweb"] = "fineweb"
    min_punctuated_lines: Fraction = 0.12
    max_duplicate_line_chars: Fraction = 0.1
    max_short_lines: Fraction = 0.67
    short_line_chars: Annotated[int, Field(ge=1)] = 30
    max_newlines_per_word: switchable(Annotated[float, Field(ge=0)]) = 0.3


def fineweb_filter(text: str, options: FineWebStage | None = None) -> Verdict:
    """Remove list-like, unpunctuated or line-repeating documents (FineWeb's custom filters)."""
    o = options or FineWebStage()
    lines = nonblank_lines(text)
    if not lines:
        return Verdict(text, "fineweb_empty", "no non-blank lines")
    if o.min_punctuated_lines is not None:
        share = sum(1 for line in lines if _ENDS_WITH_TERMINAL.search(line)) / len(lines)
        if share <= o.min_punctuated_lines:
            return removed(text, "fineweb_punctuated_lines", "punctuated_lines", share, "<=", o.min_punctuated_lines)
    if o.max_duplicate_line_chars is not None:
        share = repeats(lines)[1] / max(sum(map(len, lines)), 1)
        if share >= o.max_duplicate_line_chars:
            return removed(
                text, "fineweb_duplicate_line_chars", "duplicate_line_chars", share, ">=", o.max_duplicate_line_chars
            )
    if o.max_short_lines is not None:
        share = sum(1 for line in lines if len(line) <= o.short_line_chars) / len(lines)
        if share >= o.max_short_lines:
            return removed(text, "fineweb_short_lines", "short_lines", share, ">=", o.max_short_lines)
    if o.max_newlines_per_word is not None:
        ratio = text.count("\n") / max(len(tokens(text)), 1)
        if ratio > o.max_newlines_per_word:
            return removed(text, "fineweb_list_ratio", "newlines/words", ratio, ">", o.max_newlines_per_word)
    return Verdict(text)
