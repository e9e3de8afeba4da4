"""C4 rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
Transformer", JMLR 21, section 2.2), in the order of the original TensorFlow Datasets code.

Line rules drop lines and rewrite the text: lines with a word over 1000 characters, lines that do not
end in terminal punctuation (. ? ! or a closing double quote), lines with fewer than 5 words, lines
mentioning "javascript", and cookie / terms-of-use boilerplate. Page rules remove the document: "lorem
ipsum" or a curly bracket in a kept line, or fewer than 3 sentences left. These are the published values
(and the original code's); datatrove's C4 filter, and so FineWeb, use 3 words per line and 5 sentences,
which `recipes/fineweb.toml` sets explicitly. As in the original, C4 words are whitespace-separated
tokens, so the words-per-line rule is for languages written with spaces. The bad-words list rule is not
included.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import pyarrow as pa
from pydantic import Field

from pipeline.filters.verdict import Verdict, removed
from pipeline.filters.words import count_sentences
from pipeline.section import Section, switchable

Positive = switchable(Annotated[int, Field(ge=1)])

TERMINAL = (".", "!", "?", '"', "”")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]", re.IGNORECASE)
C4_COLUMNS = (pa.field("c4_lines_removed", pa.int32(), nullable=False),)


class C4Stage(Section):
    """Recipe stage `kind = "c4"`; `false` switches a rule off."""

    kind: Literal["c4"] = "c4"
    terminal_punctuation: bool = True
    min_words_per_line: Positive = 5
    max_word_length: Positive = 1000
    min_sentences: Positive = 3
    remove_citations: bool = True
    javascript_lines: bool = True
    policy_lines: bool = True
    lorem_ipsum: bool = True
    curly_bracket: bool = True


def c4_filter(text: str, options: C4Stage | None = None) -> Verdict:
    """Drop C4's bad lines, then remove the page if a page rule fires; `c4_lines_removed` counts drops."""
    o = options or C4Stage()
    kept: list[str] = []
    dropped = 0
    sentences = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if o.remove_citations:
            line = _CITATION.sub("", line)
        words = line.split()
        if o.max_word_length is not None and any(len(w) > o.max_word_length for w in words):
            dropped += 1
            continue
        if o.terminal_punctuation and (not line.endswith(TERMINAL) or line.endswith("...")):
            dropped += 1
            continue
        if o.min_words_per_line is not None and len(words) < o.min_words_per_line:
            dropped += 1
            continue
        lowered = line.lower()
        if o.lorem_ipsum and "lorem ipsum" in lowered:
            return Verdict(text, "c4_lorem_ipsum", "line contains 'lorem ipsum'", {"c4_lines_removed": dropped})
        if o.javascript_lines and "javascript" in lowered:
            dropped += 1
            continue
        if o.curly_bracket and "{" in line:
            return Verdict(text, "c4_curly_bracket", "line contains '{'", {"c4_lines_removed": dropped})
        if o.policy_lines and any(phrase in lowered for phrase in POLICY_PHRASES):
            dropped += 1
            continue
        sentences += count_sentences(line)
        kept.append(line)
    columns = {"c4_lines_removed": dropped}
    if o.min_sentences is not None and sentences < o.min_sentences:
        verdict = removed(text, "c4_sentences", "sentences", sentences, "<", o.min_sentences)
        verdict.columns = columns
        return verdict
    if not kept:
        return Verdict(text, "c4_no_lines", f"all {dropped} lines dropped by line rules", columns)
    return Verdict("\n".join(kept), columns=columns)
