"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", arXiv:2112.11446, appendix A.1.1 and table A1).

Defaults are the published thresholds; every one is a recipe parameter and `false` switches a rule off.
The rules were designed for English (MassiveWeb): for Chinese and Japanese, where a "word" is one
character (see `pipeline.filters.words`), the mean-word-length rule removes everything, and the stop
word rule needs that language's stop words; the multilingual recipe leaves those rules out.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Literal

from pydantic import Field, field_validator

from pipeline.filters.ngrams import NgramIndex
from pipeline.filters.verdict import Verdict, removed
from pipeline.filters.words import content_words, letter_token_share, nonblank, nonblank_lines, repeats
from pipeline.section import Section, switchable

Fraction = switchable(Annotated[float, Field(ge=0, le=1)])
Count = switchable(Annotated[int, Field(ge=0)])
Ratio = switchable(Annotated[float, Field(ge=0)])
BULLETS = ("•", "-", "*", "‣", "◦", "▪", "●", "·", "–")
ELLIPSES = ("...", "…")


class GopherQualityStage(Section):
    """Recipe stage `kind = "gopher_quality"`: document-level quality heuristics."""

    kind: Literal["gopher_quality"] = "gopher_quality"
    min_words: Count = 50
    max_words: Count = 100_000
    min_mean_word_length: Ratio = 3
    max_mean_word_length: Ratio = 10
    max_hash_ratio: Ratio = 0.1
    max_ellipsis_ratio: Ratio = 0.1
    max_bullet_lines: Fraction = 0.9
    max_ellipsis_lines: Fraction = 0.3
    min_alpha_words: Fraction = 0.8
    min_stop_words: Count = 2
    stop_words: list[str] = Field(default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"])


class GopherRepetitionStage(Section):
    """Recipe stage `kind = "gopher_repetition"`: repeated lines, paragraphs and n-grams (table A1).

    The n-gram tables map n to a limit; a table given in a recipe replaces the default one whole, so
    list every n to keep (`{}` switches the n-gram rules off).
    """

    kind: Literal["gopher_repetition"] = "gopher_repetition"
    max_duplicate_lines: Fraction = 0.30
    max_duplicate_paragraphs: Fraction = 0.30
    max_duplicate_line_chars: Fraction = 0.20
    max_duplicate_paragraph_chars: Fraction = 0.20
    max_top_ngram_chars: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"2": 0.20, "3": 0.18, "4": 0.16}
    )
    max_duplicate_ngram_chars: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {"5": 0.15, "6": 0.14, "7": 0.13, "8": 0.12, "9": 0.11, "10": 0.10}
    )

    @field_validator("max_top_ngram_chars", "max_duplicate_ngram_chars")
    @classmethod
    def _keys_are_ngram_sizes(cls, limits: dict[str, float]) -> dict[str, float]:
        """TOML table keys are strings: each must be an n-gram size from 1 to 100."""
        for key in limits:
            if not (key.isdigit() and 1 <= int(key) <= 100):
                raise ValueError(f'expected n-gram sizes 1..100 as keys (e.g. {{ "2" = 0.2 }}), got key {key!r}')
        return limits


def gopher_quality(text: str, options: GopherQualityStage | None = None) -> Verdict:
    """Remove documents that are too short or long, symbol-heavy, list-like, or lack English function words.

    Words are the words with a letter or digit; the alpha-word share is over tokens (punctuation
    included, see `pipeline.filters.words.tokens`), so punctuation soup fails it. Line rules look at
    non-blank lines only.
    """
    o = options or GopherQualityStage()
    words = content_words(text)
    n_words = len(words)
    if o.min_words is not None and n_words < o.min_words:
        return removed(text, "gopher_word_count", "words", n_words, "<", o.min_words)
    if o.max_words is not None and n_words > o.max_words:
        return removed(text, "gopher_word_count", "words", n_words, ">", o.max_words)
    if n_words:
        mean_length = sum(map(len, words)) / n_words
        if o.min_mean_word_length is not None and mean_length < o.min_mean_word_length:
            return removed(
                text, "gopher_mean_word_length", "mean_word_length", mean_length, "<", o.min_mean_word_length
            )
        if o.max_mean_word_length is not None and mean_length > o.max_mean_word_length:
            return removed(
                text, "gopher_mean_word_length", "mean_word_length", mean_length, ">", o.max_mean_word_length
            )
    per_word = max(n_words, 1)
    if o.max_hash_ratio is not None and (ratio := text.count("#") / per_word) > o.max_hash_ratio:
        return removed(text, "gopher_hash_ratio", "hashes/words", ratio, ">", o.max_hash_ratio)
    ellipses = text.count("...") + text.count("…")
    if o.max_ellipsis_ratio is not None and (ratio := ellipses / per_word) > o.max_ellipsis_ratio:
        return removed(text, "gopher_ellipsis_ratio", "ellipses/words", ratio, ">", o.max_ellipsis_ratio)
    lines = nonblank_lines(text)
    if lines:
        if o.max_bullet_lines is not None:
            share = sum(line.startswith(BULLETS) for line in lines) / len(lines)
            if share > o.max_bullet_lines:
                return removed(text, "gopher_bullet_lines", "bullet_lines", share, ">", o.max_bullet_lines)
        if o.max_ellipsis_lines is not None:
            share = sum(line.endswith(ELLIPSES) for line in lines) / len(lines)
            if share > o.max_ellipsis_lines:
                return removed(text, "gopher_ellipsis_lines", "ellipsis_lines", share, ">", o.max_ellipsis_lines)
    if o.min_alpha_words is not None:
        share = letter_token_share(text)
        if share < o.min_alpha_words:
            return removed(text, "gopher_alpha_words", "alpha_words", share, "<", o.min_alpha_words)
    if o.min_stop_words is not None and o.min_stop_words > 0:
        found = len(_lowered(tuple(o.stop_words)).intersection(map(str.lower, words)))
        if found < o.min_stop_words:
            return removed(text, "gopher_stop_words", "stop_words", found, "<", o.min_stop_words)
    return Verdict(text)


@cache
def _lowered(words: tuple[str, ...]) -> frozenset[str]:
    return frozenset(w.lower() for w in words)


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def gopher_repetition(text: str, options: GopherRepetitionStage | None = None) -> Verdict:
    """Remove documents that repeat themselves: duplicate lines/paragraphs and repeated n-grams.

    Line and paragraph shares are over non-blank lines/paragraphs, character shares over all
    characters; n-gram shares are over the characters of the words (letters/digits only).
    """
    o = options or GopherRepetitionStage()
    total_chars = len(text)
    if total_chars == 0:
        return Verdict(text)
    for unit, parts in (("paragraph", nonblank(_PARAGRAPH_BREAK.split(text))), ("line", nonblank_lines(text))):
        if not parts:
            continue
        duplicates, duplicate_chars = repeats(parts)
        max_share = o.max_duplicate_paragraphs if unit == "paragraph" else o.max_duplicate_lines
        if max_share is not None and (share := duplicates / len(parts)) > max_share:
            return removed(text, f"gopher_duplicate_{unit}s", f"duplicate_{unit}s", share, ">", max_share)
        max_chars = o.max_duplicate_paragraph_chars if unit == "paragraph" else o.max_duplicate_line_chars
        if max_chars is not None and (share := duplicate_chars / total_chars) > max_chars:
            return removed(text, f"gopher_duplicate_{unit}_chars", f"duplicate_{unit}_chars", share, ">", max_chars)
    index = NgramIndex.of(content_words(text))
    for n, limit in sorted((int(n), v) for n, v in o.max_top_ngram_chars.items()):
        if (share := index.top_ngram_fraction(n)) > limit:
            return removed(text, f"gopher_top_{n}gram", f"top_{n}gram_chars", share, ">", limit)
    for n, limit in sorted((int(n), v) for n, v in o.max_duplicate_ngram_chars.items()):
        if (share := index.duplicate_ngram_fraction(n)) > limit:
            return removed(text, f"gopher_duplicate_{n}grams", f"duplicate_{n}gram_chars", share, ">", limit)
    return Verdict(text)
