"""Every stage function on hostile text: no crash, and the same answer every time."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.filters.c4 import c4_filter
from pipeline.filters.chain import FILTER_STAGES, FilterChain
from pipeline.filters.fineweb import fineweb_filter
from pipeline.filters.gopher import gopher_quality, gopher_repetition
from pipeline.filters.langid import identify_language
from pipeline.filters.length import LengthStage, length_filter
from pipeline.filters.pii import mask_pii
from pipeline.filters.urls import UrlFilterStage
from pipeline.filters.verdict import Verdict

FUNCTIONS: dict[str, Callable[[str], Verdict]] = {
    "gopher_quality": gopher_quality,
    "gopher_repetition": gopher_repetition,
    "c4": c4_filter,
    "fineweb": fineweb_filter,
    "length": lambda text: length_filter(text, LengthStage(min_chars=1, min_words=1, min_lines=1)),
    "pii": mask_pii,
    "langid": identify_language,
}
HOSTILE = {
    "empty": "",
    "whitespace": " \t\n\r\n  \u00a0\u2003\n",
    "controls": "\x00\x01\x02\x1b[31m\x7f\x0c\x0b",
    "lone_surrogates": "start \ud800 middle \udfff end.\n\udbff",
    "mixed_scripts": "English, Русский, 日本語、中文。 עברית العربية ไทย 한국어 ελληνικά!\n" * 3,
    "ten_mb_line": ("word another thing. " * 600_000)[:10_000_000],
    "ten_mb_one_word": "x" * 10_000_000,
}


@pytest.mark.parametrize("text_name", HOSTILE)
@pytest.mark.parametrize("function_name", FUNCTIONS)
def test_no_crash_and_deterministic(function_name: str, text_name: str) -> None:
    function, text = FUNCTIONS[function_name], HOSTILE[text_name]
    first = function(text)
    assert isinstance(first, Verdict)
    assert first == function(text)
    if first.removed_by:
        assert first.removed_detail


def test_the_whole_chain_takes_hostile_text() -> None:
    stages = [UrlFilterStage(default_lists=False)] + [cls() for cls in FILTER_STAGES if cls is not UrlFilterStage]
    texts = list(HOSTILE.values())
    chain = FilterChain(stages)
    first = chain.apply(texts, [None, "", "http://[::1", "\ud800", "not a url", "http://x.example/", None])
    second = FilterChain(stages).apply(
        texts, [None, "", "http://[::1", "\ud800", "not a url", "http://x.example/", None]
    )
    assert first == second
    assert not any(o.removed_by and o.removed_by.endswith("_error") for o in first)
