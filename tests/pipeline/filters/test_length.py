"""Length bounds are inclusive and only the configured ones apply."""

import pytest

from pipeline.filters.length import LengthStage, length_filter


def test_no_bounds_keeps_everything() -> None:
    assert length_filter("").kept


@pytest.mark.parametrize(
    ("options", "text", "detail"),
    [
        ({"min_chars": 5}, "abcd", "chars=4 < 5"),
        ({"min_chars": 5}, "abcde", None),
        ({"max_chars": 5}, "abcdef", "chars=6 > 5"),
        ({"min_words": 3}, "two words !", "words=2 < 3"),
        ({"min_words": 3}, "three words here", None),
        ({"max_words": 3}, "one two three four", "words=4 > 3"),
        ({"min_words": 4}, "中文分词", None),
        ({"min_lines": 2}, "one\n\n  \n", "lines=1 < 2"),
        ({"max_lines": 2}, "a\nb\nc", "lines=3 > 2"),
        ({"max_lines": 2}, "a\n\nb\n", None),
    ],
)
def test_bounds(options: dict, text: str, detail: str | None) -> None:
    verdict = length_filter(text, LengthStage(**options))
    assert verdict.removed_detail == detail
    if detail:
        assert verdict.removed_by == f"length_{detail.split('=')[0]}"
