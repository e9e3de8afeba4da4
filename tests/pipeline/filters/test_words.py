"""Word splitting: one definition for every script, no model downloads."""

import pytest

from pipeline.filters.words import content_words, count_sentences, has_letter, symbol_word_count, word_count


@pytest.mark.parametrize(
    ("text", "words", "symbols"),
    [
        ("Hello, world.", ("Hello", "world"), 2),
        ("don't e-mail", ("don't", "e-mail"), 0),
        ("trailing- 'quote'", ("trailing", "quote"), 3),
        ("wait... #tag --", ("wait", "tag"), 3),
        ("3.14", ("3", "14"), 1),
        ("Привет мир", ("Привет", "мир"), 0),
        ("日本語のテキスト", ("日", "本", "語", "の", "テキスト"), 0),
        ("abc日本", ("abc", "日", "本"), 0),
        ("中文分词。", ("中", "文", "分", "词"), 1),
        ("ภาษาไทย ดี", ("ภาษาไทย", "ดี"), 0),
        ("नमस्ते दुनिया", ("नमस्ते", "दुनिया"), 0),
        ("한국어 문장", ("한국어", "문장"), 0),
        ("مرحبا بالعالم", ("مرحبا", "بالعالم"), 0),
        ("", (), 0),
        (" \t\n ", (), 0),
    ],
)
def test_words_and_symbols(text: str, words: tuple[str, ...], symbols: int) -> None:
    assert content_words(text) == words
    assert symbol_word_count(text) == symbols
    assert word_count(text) == len(words) + symbols


@pytest.mark.parametrize(
    ("word", "letter"), [("abc", True), ("123", False), ("a1", True), ("don't", True), ("नमस्ते", True), ("٣٤", False)]
)
def test_has_letter(word: str, letter: bool) -> None:
    assert has_letter(word) is letter


@pytest.mark.parametrize(
    ("line", "sentences"),
    [
        ("One. Two! Three? Four", 3),
        ("No terminal punctuation", 1),
        ("“Quoted.” Then more.", 2),
        ("これは文です。もう一つ。", 2),
        ("", 0),
        ("3.14 is pi.", 1),
    ],
)
def test_count_sentences(line: str, sentences: int) -> None:
    assert count_sentences(line) == sentences


def test_huge_word_and_lone_surrogates() -> None:
    assert content_words("x" * 5_000_000) == ("x" * 5_000_000,)
    text = "a\ud800b \x00\x01 c"
    assert content_words(text) == content_words(text)
    assert "c" in content_words(text)
