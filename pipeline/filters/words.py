"""Word, line and sentence splitting for the quality heuristics: one regex pass, defined for every script.

Why not spaCy/NLTK: they need per-language models (downloads), and tokenising three times per
document (Gopher, FineWeb, C4 each do it in other tools) dominates filter time. Here a document is
split once and the result is cached, so the stages of a chain share it.

What a "word" is:
- a run of letters, marks and digits, for every script written with spaces (Latin, Cyrillic, Greek,
  Arabic, Hebrew, Devanagari, Hangul, ...); apostrophes and hyphens split words (`don't` is `don` + `t`,
  `e-mail` is `e` + `mail`), much as spaCy's English tokenizer splits them;
- one character for Han ideographs and Hiragana (Chinese and Japanese are written without spaces, and
  a dictionary segmenter is a model download); a run of Katakana is one word (mostly loanwords);
- for Thai, Lao, Khmer, Myanmar and Tibetan, which also have no spaces between words, the whole run
  between spaces or punctuation is one word (these runs are phrases, so word counts come out low and
  word lengths high: the Gopher word-count and mean-word-length rules are not meaningful there);
- two rules are defined on tokenizer output in the tools that published them (the share of words with
  a letter, newlines per word): for those, `tokens` keeps letter/digit runs joined by inner punctuation
  together (`usr/share`, `3.14`) and makes every other punctuation character a token, as spaCy's
  English tokenizer mostly does.
"""

from __future__ import annotations

from functools import lru_cache

import regex

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
# possessive quantifiers: no backtracking state, so a 10 MB "word" costs no more than 10 MB of prose
_WORD = regex.compile(r"[\p{L}\p{M}\p{N}]++")
_WORD_CJK = regex.compile(
    r"[\p{Han}\p{Hiragana}]|\p{Katakana}++|[[\p{L}\p{M}\p{N}]--[\p{Han}\p{Hiragana}\p{Katakana}]]++", regex.V1
)
_PUNCT = r"[^\s\p{L}\p{M}\p{N}]"
# tokens as an English tokenizer (spaCy) would mostly cut them: letter/digit runs joined by inner
# punctuation (`usr/share`, `3.14`, `e-mail`) are one token; every other punctuation character is one
_TOKEN = regex.compile(rf"[\p{{L}}\p{{M}}\p{{N}}]++(?:{_PUNCT}++[\p{{L}}\p{{M}}\p{{N}}]++)*+|{_PUNCT}")
_HAS_LETTER = regex.compile(r"\p{L}")
# sentence ends: CJK full stops anywhere; other terminal punctuation before a space or the line end
# (a run is matched from its start only, possessively: no quadratic rescans of long dot runs)
_SENTENCE_END = regex.compile(r"[。！？]++|(?<![.!?।॥؟۔።…])[.!?।॥؟۔።…]++['\"”’)\]]*+(?=\s|$)")

CACHE_SIZE = 4096


@lru_cache(maxsize=CACHE_SIZE)
def content_words(text: str) -> tuple[str, ...]:
    """Words with a letter, mark or digit, in order: the words the rules count; cached for the chain."""
    if _CJK.search(text):
        return tuple(_WORD_CJK.findall(text))
    # Without Han or Kana the words are the letter/digit runs inside the tokens, which the chain needs
    # anyway: splitting the few tokens with inner punctuation is cheaper than a second regex pass.
    words: list[str] = []
    for token in tokens(text):
        if token.isalnum():
            words.append(token)
        elif len(token) > 1 or _WORD.match(token):
            words.extend(_WORD.findall(token))
    return tuple(words)


@lru_cache(maxsize=CACHE_SIZE)
def tokens(text: str) -> tuple[str, ...]:
    """Tokens for the rules defined on tokenizer output (share of words with a letter, newlines per word)."""
    return tuple(_TOKEN.findall(text))


def letter_token_share(text: str) -> float:
    """Share of tokens with a letter; 1.0 for a text without tokens."""
    found = tokens(text)
    if not found:
        return 1.0
    # most tokens are all letters, and a one-character token that is not is a digit or punctuation:
    # only the rest need a closer look
    mixed = [t for t in found if len(t) > 1 and not t.isalpha()]
    single_non_letters = sum(1 for t in found if len(t) == 1 and not t.isalpha())
    return (len(found) - len(mixed) - single_non_letters + sum(map(has_letter, mixed))) / len(found)


@lru_cache(maxsize=CACHE_SIZE)
def nonblank_lines(text: str) -> tuple[str, ...]:
    """Lines stripped of surrounding whitespace, blank ones left out: the lines the line rules count."""
    return nonblank(text.split("\n"))


def nonblank(parts: list[str]) -> tuple[str, ...]:
    stripped = (part.strip() for part in parts)
    return tuple(part for part in stripped if part)


def repeats(parts: tuple[str, ...]) -> tuple[int, int]:
    """How many parts repeat an earlier one, and how many characters those repeats hold."""
    seen: set[str] = set()
    count = chars = 0
    for part in parts:
        if part in seen:
            count += 1
            chars += len(part)
        else:
            seen.add(part)
    return count, chars


def clear_word_caches() -> None:
    """Drop the cached splits (a chain calls this after each batch)."""
    content_words.cache_clear()
    tokens.cache_clear()
    nonblank_lines.cache_clear()


def has_letter(word: str) -> bool:
    """Whether a content word has a letter (not only digits); the C fast paths cover most words."""
    return word.isalpha() or (not word.isdecimal() and _HAS_LETTER.search(word) is not None)


def count_sentences(line: str) -> int:
    """Sentence ends in a line (a line without one but with words counts as one sentence)."""
    ends = len(_SENTENCE_END.findall(line))
    return ends if ends else int(bool(line.strip()))
