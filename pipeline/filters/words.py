"""Word, line and sentence splitting for the quality heuristics: one regex pass, defined for every script.

Why not spaCy/NLTK: they need per-language models (downloads), and tokenising three times per
document (Gopher, FineWeb, C4 each do it in other tools) dominates filter time. Here a document is
split once and the result is cached, so the stages of a chain share it.

What a "word" is:
- a run of letters, marks and digits, with inner apostrophes or hyphens (`don't`, `e-mail`), for
  every script written with spaces (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, Hangul, ...);
- one character for Han ideographs and Hiragana (Chinese and Japanese are written without spaces, and
  a dictionary segmenter is a model download); a run of Katakana is one word (mostly loanwords);
- for Thai, Lao, Khmer, Myanmar and Tibetan, which also have no spaces between words, the whole run
  between spaces or punctuation is one word (these runs are phrases, so word counts come out low and
  word lengths high: the Gopher word-count and mean-word-length rules are not meaningful there);
- a run of punctuation/symbol characters (`...`, `#`, `--`) is one "symbol word"; rules that count
  words say whether they count these.
"""

from __future__ import annotations

from functools import lru_cache

import regex

_LETTERS = r"[[\p{L}\p{M}\p{N}]--[\p{Han}\p{Hiragana}\p{Katakana}]]"
# possessive quantifiers: no backtracking state, so a 10 MB "word" costs no more than 10 MB of prose
_CONTENT_WORD = regex.compile(
    rf"[\p{{Han}}\p{{Hiragana}}]|\p{{Katakana}}++|{_LETTERS}++(?:['’\-]{_LETTERS}++)*+",
    regex.V1,
)
# runs of punctuation/symbols, except an apostrophe or hyphen joining two parts of a content word
_SYMBOL_WORD = regex.compile(r"(?:[^\s\p{L}\p{M}\p{N}'’\-]|(?<![\p{L}\p{M}\p{N}])['’\-]|['’\-](?![\p{L}\p{M}\p{N}]))++")
_HAS_LETTER = regex.compile(r"\p{L}")
# sentence ends: CJK full stops anywhere; other terminal punctuation before a space or the line end
_SENTENCE_END = regex.compile(r"[。！？]+|[.!?।॥؟۔።…]+['\"”’)\]]*(?=\s|$)")

CACHE_SIZE = 4096


@lru_cache(maxsize=CACHE_SIZE)
def content_words(text: str) -> tuple[str, ...]:
    """Words with a letter, mark or digit, in order: the words the rules count; cached for the chain."""
    return tuple(_CONTENT_WORD.findall(text))


@lru_cache(maxsize=CACHE_SIZE)
def symbol_word_count(text: str) -> int:
    """Runs of punctuation and symbols (`...`, `#`, `--`), which some rules count as words."""
    return len(_SYMBOL_WORD.findall(text))


def word_count(text: str) -> int:
    """Content words plus symbol words."""
    return len(content_words(text)) + symbol_word_count(text)


def has_letter(word: str) -> bool:
    """Whether a content word has a letter (not only digits); the C fast paths cover most words."""
    return word.isalpha() or (not word.isdecimal() and _HAS_LETTER.search(word) is not None)


def count_sentences(line: str) -> int:
    """Sentence ends in a line (a line without one but with words counts as one sentence)."""
    ends = len(_SENTENCE_END.findall(line))
    return ends if ends else int(bool(line.strip()))
