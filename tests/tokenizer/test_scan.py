"""The compiled scanners cut text exactly where the published patterns' regexes do, for hostile Unicode."""

from __future__ import annotations

import numpy as np
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenizer.patterns import PRESETS
from tokenizer.scan import NO_SCANNER, piece_bounds, scanner_for
from tokenizer.unicode_classes import class_table

# letters of every case class, marks, digits of other scripts, every kind of space, line ends, apostrophes,
# the case-folding traps of the contractions (ſ, K), surrogates, emoji with joiners and modifiers
HOSTILE = (
    "aAbsStTdDmMlLvVeErR'’ \t\n\r\x0b\x0c/.,!?-_()#0123456789ſKéÉǅʰ中ー\u0301\u0903٣Ⅻ½😀👍🏽\u200d\ufeffßİıΩω"
    "\u00a0\u1680\u2028\u2029\u3000\x1c\x85\U0001d400\U00010400ǈꜰᾈ\ud800\U000e0100"
)
SCANNED = ["gpt2", "gpt4", "o200k", "llama3", "qwen2"]


def pieces(name: str, text: str) -> list[str]:
    grammar, digits = scanner_for(name)
    buf = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    ends = piece_bounds(grammar, digits, buf, 0, len(buf), class_table()).tolist()
    return [bytes(buf[a:b]).decode("utf-8", "surrogatepass") for a, b in zip([0, *ends], ends, strict=False)]


@pytest.mark.parametrize("name", SCANNED)
@settings(max_examples=600, deadline=None)
@given(text=st.text(alphabet=HOSTILE, max_size=40))
def test_the_scanner_gives_the_pieces_of_the_pattern(name: str, text: str) -> None:
    assert pieces(name, text) == regex.findall(PRESETS[name], text)


@pytest.mark.parametrize("name", SCANNED)
@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_the_scanner_agrees_on_any_text(name: str, text: str) -> None:
    assert pieces(name, text) == regex.findall(PRESETS[name], text)


def test_patterns_are_recognised_by_their_exact_text_only() -> None:
    assert all(scanner_for(PRESETS[name])[0] != NO_SCANNER for name in SCANNED)
    assert scanner_for(PRESETS["gpt4"] + "|x")[0] == NO_SCANNER
    assert scanner_for(r"\w+|\s+")[0] == NO_SCANNER


def test_the_class_table_is_the_regex_modules_view_of_every_code_point() -> None:
    table = class_table()
    sample = list(range(0, 0x3400)) + list(range(0x10000, 0x10400)) + [0xE0100, 0xF0000, 0x10FFFD]
    for point in sample:
        character = chr(point)
        assert bool(table[point] & 1) == bool(regex.match(r"\p{L}", character)), hex(point)
        assert bool(table[point] & 4) == bool(regex.match(r"\s", character)), hex(point)
