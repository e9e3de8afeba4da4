"""Gopher quality and repetition rules, each on both sides of its threshold (hand-computed)."""

import pytest

from pipeline.filters.gopher import GopherQualityStage, GopherRepetitionStage, gopher_quality, gopher_repetition

CYCLE = ("the", "river", "flows", "and", "water", "moves", "with", "grace")  # mean length 4.375


def prose(n_words: int, per_line: int = 10) -> str:
    words = [CYCLE[i % len(CYCLE)] for i in range(n_words)]
    return "\n".join(" ".join(words[i : i + per_line]) + "." for i in range(0, n_words, per_line))


ONLY = dict.fromkeys(
    (
        "min_words",
        "max_words",
        "min_mean_word_length",
        "max_mean_word_length",
        "max_hash_ratio",
        "max_ellipsis_ratio",
        "max_bullet_lines",
        "max_ellipsis_lines",
        "min_alpha_words",
        "min_stop_words",
    )
)


def only(**rule) -> GopherQualityStage:
    """Options with every quality rule off except the ones given."""
    return GopherQualityStage(**{**ONLY, **rule})


def test_prose_passes_every_default_rule() -> None:
    verdict = gopher_quality(prose(200))
    assert verdict.kept and verdict.text == prose(200)


@pytest.mark.parametrize(("n_words", "kept"), [(49, False), (50, True)])
def test_min_words(n_words: int, kept: bool) -> None:
    verdict = gopher_quality(prose(n_words))
    assert verdict.kept is kept
    if not kept:
        assert (verdict.removed_by, verdict.removed_detail) == ("gopher_word_count", "words=49 < 50")


@pytest.mark.parametrize(("n_words", "kept"), [(60, True), (61, False)])
def test_max_words(n_words: int, kept: bool) -> None:
    assert gopher_quality(prose(n_words), GopherQualityStage(max_words=60)).kept is kept


def test_symbol_words_do_not_count_as_words() -> None:
    verdict = gopher_quality(prose(49) + " - ... !", only(min_words=50))
    assert verdict.removed_detail == "words=49 < 50"


@pytest.mark.parametrize(
    ("word", "rule"),
    [
        ("ab", "mean_word_length=2 < 3"),
        ("abc", None),
        ("abcdefghij", None),
        ("abcdefghijk", "mean_word_length=11 > 10"),
    ],
)
def test_mean_word_length(word: str, rule: str | None) -> None:
    verdict = gopher_quality(" ".join([word] * 60), only(min_mean_word_length=3, max_mean_word_length=10))
    assert verdict.removed_detail == rule
    if rule:
        assert verdict.removed_by == "gopher_mean_word_length"


@pytest.mark.parametrize(("hashes", "kept"), [(5, True), (6, False)])
def test_hash_ratio(hashes: int, kept: bool) -> None:
    # 50 words; 5 hashes = 0.1 (not above), 6 = 0.12
    verdict = gopher_quality(prose(50) + " #" * hashes)
    assert verdict.kept is kept
    if not kept:
        assert (verdict.removed_by, verdict.removed_detail) == ("gopher_hash_ratio", "hashes/words=0.12 > 0.1")


@pytest.mark.parametrize(("ellipses", "kept"), [(5, True), (6, False)])
def test_ellipsis_ratio(ellipses: int, kept: bool) -> None:
    words = prose(50).split(" ")
    for i in range(ellipses):  # inside lines, so the ellipsis-line rule does not fire
        words[i * 3] += "…" if i % 2 else "..."
    verdict = gopher_quality(" ".join(words), only(max_ellipsis_ratio=0.1))
    assert verdict.kept is kept
    assert kept or verdict.removed_by == "gopher_ellipsis_ratio"


@pytest.mark.parametrize(("bullets", "kept"), [(9, True), (10, False)])
def test_bullet_lines(bullets: int, kept: bool) -> None:
    lines = prose(100).split("\n")  # 10 lines
    text = "\n\n".join(("• " if i < bullets else "") + line for i, line in enumerate(lines))  # blank lines ignored
    verdict = gopher_quality(text)
    assert verdict.kept is kept
    if not kept:
        assert verdict.removed_detail == "bullet_lines=1 > 0.9"


@pytest.mark.parametrize(("ellipsis_lines", "kept"), [(3, True), (4, False)])
def test_ellipsis_lines(ellipsis_lines: int, kept: bool) -> None:
    lines = prose(100).split("\n")
    text = "\n".join(line + (" …" if i < ellipsis_lines else "") for i, line in enumerate(lines))
    verdict = gopher_quality(text)
    assert verdict.kept is kept
    if not kept:
        assert verdict.removed_detail == "ellipsis_lines=0.4 > 0.3"


@pytest.mark.parametrize(("numbers", "kept"), [(12, True), (13, False)])
def test_alpha_words(numbers: int, kept: bool) -> None:
    # 50 words with letters, then numbers (words without letters)
    text = " ".join([CYCLE[i % 8] for i in range(50)] + ["123"] * numbers)
    verdict = gopher_quality(text, only(min_alpha_words=0.8))
    assert verdict.kept is kept  # 50/62 = 0.806 kept, 50/63 = 0.794 removed
    if not kept:
        assert verdict.removed_detail == "alpha_words=0.7937 < 0.8"


@pytest.mark.parametrize(("stop_words", "kept"), [(["The", "river"], False), (["The", "And"], True)])
def test_stop_words_case_insensitive(stop_words: list[str], kept: bool) -> None:
    text = " ".join(stop_words + ["quiet"] * 60)
    verdict = gopher_quality(text, only(min_stop_words=2))
    assert verdict.kept is kept
    if not kept:
        assert verdict.removed_detail == "stop_words=1 < 2"


def test_custom_stop_words_for_other_languages() -> None:
    text = " ".join(["le", "et"] + ["rivière"] * 60)
    assert not gopher_quality(text, only(min_stop_words=2)).kept
    assert gopher_quality(text, only(min_stop_words=2, stop_words=["le", "la", "et"])).kept


NO_REPETITION_RULES = {
    "max_duplicate_lines": None,
    "max_duplicate_paragraphs": None,
    "max_duplicate_line_chars": None,
    "max_duplicate_paragraph_chars": None,
    "max_top_ngram_chars": {},
    "max_duplicate_ngram_chars": {},
}


def repetition_only(**rule) -> GopherRepetitionStage:
    return GopherRepetitionStage(**{**NO_REPETITION_RULES, **rule})


def distinct_lines(n: int) -> list[str]:
    return [f"line number {i} says something new" for i in range(n)]


@pytest.mark.parametrize(("repeats", "kept"), [(3, True), (4, False)])
def test_duplicate_lines(repeats: int, kept: bool) -> None:
    lines = distinct_lines(10 - repeats) + ["the same line again"] * (repeats) + ["the same line again"]
    # 11 lines, `repeats` of them repeat an earlier line: 3/11 = 0.27 kept, 4/11 = 0.36 removed
    verdict = gopher_repetition("\n".join(lines), repetition_only(max_duplicate_lines=0.3))
    assert verdict.kept is kept
    assert kept or verdict.removed_detail == "duplicate_lines=0.3636 > 0.3"


@pytest.mark.parametrize(("repeats", "kept"), [(1, True), (2, False)])
def test_duplicate_line_chars(repeats: int, kept: bool) -> None:
    unique = "u" * 60
    repeated = "r" * 19
    text = "\n".join([unique, repeated] + [repeated] * repeats)
    # chars: 60 + 19*(1+repeats) + newlines (1+repeats); duplicate chars 19*repeats
    share = 19 * repeats / len(text)
    verdict = gopher_repetition(text, repetition_only(max_duplicate_line_chars=0.2))
    assert verdict.kept is (share <= 0.2) is kept


@pytest.mark.parametrize(("repeats", "kept"), [(1, True), (2, False)])
def test_duplicate_paragraphs(repeats: int, kept: bool) -> None:
    paragraphs = [f"paragraph {i}\nwith two lines" for i in range(4)] + ["repeated paragraph"] * (1 + repeats)
    # 5 + repeats paragraphs, `repeats` of them duplicates: 1/6 = 0.17 kept, 2/7 = 0.29 removed
    verdict = gopher_repetition("\n\n".join(paragraphs), repetition_only(max_duplicate_paragraphs=0.2))
    assert verdict.kept is kept
    assert kept or verdict.removed_by == "gopher_duplicate_paragraphs"


def test_top_2gram_threshold() -> None:
    # "ab cd" four times among 12 distinct 4-letter words: 4 * 4 chars / (8*2 + 12*4) = 16/64 = 0.25
    words = ["ab", "cd"] * 4 + [f"w{i:03d}" for i in range(12)]
    text = " ".join(words)
    assert gopher_repetition(text, repetition_only(max_top_ngram_chars={"2": 0.25})).kept
    verdict = gopher_repetition(text, repetition_only(max_top_ngram_chars={"2": 0.24}))
    assert (verdict.removed_by, verdict.removed_detail) == ("gopher_top_2gram", "top_2gram_chars=0.25 > 0.24")


def test_duplicate_5grams_threshold() -> None:
    # a 5-word phrase (20 chars) twice among 15 distinct 4-char words: 20 / (40 + 60) = 0.2
    phrase = ["aaaa", "bbbb", "cccc", "dddd", "eeee"]
    words = phrase + [f"x{i:03d}" for i in range(15)] + phrase
    text = " ".join(words)
    assert gopher_repetition(text, repetition_only(max_duplicate_ngram_chars={"5": 0.2})).kept
    verdict = gopher_repetition(text, repetition_only(max_duplicate_ngram_chars={"5": 0.19}))
    assert verdict.removed_detail == "duplicate_5gram_chars=0.2 > 0.19"


def test_defaults_remove_boilerplate_and_keep_prose() -> None:
    boilerplate = "\n".join(["Home | About | Contact"] * 20 + ["Some text."])
    assert gopher_repetition(boilerplate).removed_by == "gopher_duplicate_lines"
    article = " ".join(f"word{i}" for i in range(300))
    assert gopher_repetition(article).kept
