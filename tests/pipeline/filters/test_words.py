"""Word splitting: one definition for every script, no model downloads."""

import pytest

from pipeline.filters.words import content_words, count_sentences, has_letter, letter_token_share, tokens


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello, world.", ("Hello", "world")),
        ("don't e-mail", ("don", "t", "e", "mail")),
        ("trailing- 'quote'", ("trailing", "quote")),
        ("wait... #tag --", ("wait", "tag")),
        ("3.14", ("3", "14")),
        ("Ελληνικά, ça va", ("Ελληνικά", "ça", "va")),
        ("Привет мир", ("Привет", "мир")),
        ("日本語のテキスト", ("日", "本", "語", "の", "テキスト")),
        ("abc日本", ("abc", "日", "本")),
        ("中文分词。", ("中", "文", "分", "词")),
        ("ภาษาไทย ดี", ("ภาษาไทย", "ดี")),
        ("नमस्ते दुनिया", ("नमस्ते", "दुनिया")),
        ("한국어 문장", ("한국어", "문장")),
        ("مرحبا بالعالم", ("مرحبا", "بالعالم")),
        ("", ()),
        (" \t\n ", ()),
    ],
)
def test_content_words(text: str, words: tuple[str, ...]) -> None:
    assert content_words(text) == words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world.", ("Hello", ",", "world", ".")),
        ("see /usr/share/doc (v3.14)!", ("see", "/", "usr/share/doc", "(", "v3.14", ")", "!")),
        ("don't -- stop...", ("don't", "-", "-", "stop", ".", ".", ".")),
        ("", ()),
    ],
)
def test_tokens_keep_inner_punctuation_and_split_the_rest(text: str, expected: tuple[str, ...]) -> None:
    assert tokens(text) == expected


@pytest.mark.parametrize(
    ("text", "share"),
    [("Hello, world.", 2 / 4), ("version 3.14 (2024)", 1 / 5), ("/usr/share/doc", 1 / 2), ("", 1.0)],
)
def test_letter_token_share(text: str, share: float) -> None:
    assert letter_token_share(text) == pytest.approx(share)


@pytest.mark.parametrize(
    ("word", "letter"), [("abc", True), ("123", False), ("a1", True), ("Ça", True), ("नमस्ते", True), ("٣٤", False)]
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
