"""C4 line and page rules on hand-made pages."""

import pytest

from pipeline.filters.c4 import C4Stage, c4_filter

GOOD = [
    "The first sentence is here.",
    "A second line ends with a question?",
    "Third line, with great feeling!",
    'He said "four lines in."',
    "The fifth line closes the page.",
]


def page(*extra: str) -> str:
    return "\n".join(GOOD + list(extra))


def test_clean_page_is_kept_unchanged() -> None:
    verdict = c4_filter(page())
    assert verdict.kept and verdict.text == page() and verdict.columns == {"c4_lines_removed": 0}


@pytest.mark.parametrize(
    "bad_line",
    [
        "A heading without punctuation",
        "Too short.",
        "This line trails off...",
        "Enable JavaScript to view this site.",
        "We use cookies to improve your experience.",
        "Read our Privacy Policy for more details.",
    ],
)
def test_bad_lines_are_dropped_and_counted(bad_line: str) -> None:
    verdict = c4_filter(page(bad_line))
    assert verdict.kept
    assert verdict.text == page()
    assert verdict.columns == {"c4_lines_removed": 1}


def test_long_word_line_dropped() -> None:
    verdict = c4_filter(page("A line with " + "x" * 11 + " in it."), C4Stage(max_word_length=10))
    assert verdict.text == page() and verdict.columns["c4_lines_removed"] == 1
    assert c4_filter(page("A line with " + "x" * 10 + " in it."), C4Stage(max_word_length=10)).columns == {
        "c4_lines_removed": 0
    }


def test_citations_are_removed_from_kept_lines() -> None:
    verdict = c4_filter(page("Water boils at 100 degrees [1][citation needed]."))
    assert verdict.text.endswith("Water boils at 100 degrees .")
    # words are counted after citations are removed, as in C4's code
    assert c4_filter(page("Four words [1] [2] [3] here.")).columns["c4_lines_removed"] == 1


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("Lorem ipsum dolor sit amet.", "c4_lorem_ipsum"),
        ("The code is {x: 1} here.", "c4_curly_bracket"),
    ],
)
def test_page_rules_remove_the_document(line: str, rule: str) -> None:
    verdict = c4_filter(page(line))
    assert verdict.removed_by == rule
    assert verdict.text == page(line)


def test_page_rules_only_look_at_kept_lines() -> None:
    assert c4_filter(page("lorem ipsum heading")).kept  # dropped first: no terminal punctuation


@pytest.mark.parametrize(("lines", "kept"), [(2, False), (3, True)])
def test_min_sentences(lines: int, kept: bool) -> None:
    verdict = c4_filter("\n".join(GOOD[:lines]))
    assert verdict.kept is kept
    if not kept:
        assert (verdict.removed_by, verdict.removed_detail) == ("c4_sentences", "sentences=2 < 3")


@pytest.mark.parametrize(("words", "kept"), [(4, False), (5, True)])
def test_min_words_per_line_is_five(words: int, kept: bool) -> None:
    line = " ".join(["word"] * (words - 1) + ["end."])
    verdict = c4_filter(page(line))
    assert (verdict.columns["c4_lines_removed"] == 0) is kept


def test_datatrove_style_thresholds() -> None:
    options = C4Stage(min_words_per_line=3, min_sentences=5)
    assert c4_filter(page("Three words here."), options).text.endswith("Three words here.")
    assert c4_filter("\n".join(GOOD[:4]), options).removed_detail == "sentences=4 < 5"


def test_sentences_counted_within_lines() -> None:
    assert c4_filter("One two three. Four five six. Seven eight nine. Ten eleven twelve. Done and dusted.").kept


def test_without_terminal_punctuation_rule() -> None:
    options = C4Stage(terminal_punctuation=False, min_sentences=None)
    verdict = c4_filter("A heading without any punctuation\nAnother plain line of text here", options)
    assert verdict.kept and verdict.columns == {"c4_lines_removed": 0}


def test_nothing_left() -> None:
    verdict = c4_filter("menu\nhome\nlogin", C4Stage(min_sentences=None))
    assert verdict.removed_by == "c4_no_lines"
    assert c4_filter("").removed_by == "c4_sentences"
