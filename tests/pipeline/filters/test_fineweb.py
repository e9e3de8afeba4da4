"""FineWeb rules, each on both sides of its published threshold."""

import pytest

from pipeline.filters.fineweb import FineWebStage, fineweb_filter

OFF = {"min_punctuated_lines": None, "max_duplicate_line_chars": None, "max_short_lines": None}


def only(**rule) -> FineWebStage:
    return FineWebStage(**{**OFF, "max_newlines_per_word": None, **rule})


LONG = "this line is long enough to not count as a short line at all"


@pytest.mark.parametrize(("punctuated", "kept"), [(3, False), (4, True)])
def test_punctuated_lines(punctuated: int, kept: bool) -> None:
    lines = [f"{LONG} {i}" + ("." if i < punctuated else "") for i in range(25)]
    verdict = fineweb_filter("\n".join(lines), only(min_punctuated_lines=0.12))
    assert verdict.kept is kept  # 3/25 = 0.12 is removed (<=), 4/25 = 0.16 kept
    if not kept:
        assert verdict.removed_detail == "punctuated_lines=0.12 <= 0.12"


@pytest.mark.parametrize("ending", ["。", "！", "؟", "।", '."', ".)"])
def test_terminal_punctuation_of_other_scripts(ending: str) -> None:
    assert fineweb_filter(f"{LONG}{ending}", only(min_punctuated_lines=0.12)).kept


@pytest.mark.parametrize(("line_length", "kept"), [(10, True), (11, False)])
def test_duplicate_line_chars(line_length: int, kept: bool) -> None:
    # 90 unique chars + a line of n chars twice: duplicate share n / (90 + 2n): 10/110 = 0.091, 11/112 = 0.098
    lines = ["u" * 90, "r" * line_length, "r" * line_length]
    verdict = fineweb_filter("\n".join(lines), only(max_duplicate_line_chars=0.095))
    assert verdict.kept is kept
    assert kept or verdict.removed_by == "fineweb_duplicate_line_chars"


@pytest.mark.parametrize(("short", "kept"), [(66, True), (67, False)])
def test_short_lines(short: int, kept: bool) -> None:
    lines = ["short line." if i < short else LONG for i in range(100)]
    lines = [f"{line} {i}" for i, line in enumerate(lines)]  # distinct
    verdict = fineweb_filter("\n".join(lines), only(max_short_lines=0.67))
    assert verdict.kept is kept
    if not kept:
        assert verdict.removed_detail == "short_lines=0.67 >= 0.67"


@pytest.mark.parametrize(("text", "kept"), [("a b c\nd e f g h i j", True), ("a b c\nd e f g h i j\nk", False)])
def test_list_ratio(text: str, kept: bool) -> None:
    # 1 newline / 10 words = 0.1; 2 / 11 = 0.18 -> threshold 0.15
    assert fineweb_filter(text, only(max_newlines_per_word=0.15)).kept is kept


def test_defaults() -> None:
    article = "\n".join(f"{LONG}, sentence number {i}." for i in range(20))
    assert fineweb_filter(article).kept
    menu = "\n".join(["Home", "About us", "Contact", "Products"] * 3)
    assert fineweb_filter(menu).removed_by == "fineweb_punctuated_lines"
    assert fineweb_filter("  \n ").removed_by == "fineweb_empty"
