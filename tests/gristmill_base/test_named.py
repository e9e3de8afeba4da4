"""`[NAME=]PATH`: a name only where the text before the first `=` is a bare name."""

from __future__ import annotations

import pytest

from gristmill_base.named import split_named


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("web=held-out.jsonl", ("web", "held-out.jsonl")),
        ("held-out.jsonl", ("", "held-out.jsonl")),
        ("runs/x/shards/lang=en/part-0.parquet", ("", "runs/x/shards/lang=en/part-0.parquet")),
        ("en=runs/x/shards/lang=en", ("en", "runs/x/shards/lang=en")),
        ("=a.jsonl", ("", "=a.jsonl")),
        ("a=b=c.jsonl", ("a", "b=c.jsonl")),
    ],
)
def test_the_name_is_the_bare_word_before_the_first_equals(spec: str, expected: tuple[str, str]) -> None:
    assert split_named(spec) == expected
