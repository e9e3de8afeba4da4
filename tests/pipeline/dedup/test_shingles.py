"""Normalisation and shingle hashes: what counts as the same text, and shingles that do not depend on position."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from text_factory import article

from pipeline.dedup import shingles
from pipeline.dedup.shingles import char_shingles, normalize, text_key, word_hashes, word_shingles


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello   World", "hello world"),
        ("Café crème brûlée", "cafe creme brulee"),
        ("Order 12345 shipped on 2026-11-28", "order 0 shipped on 0 0 0"),
        ("Wait... what?! (yes) — €5", "wait what yes 0"),
        ("  tabs\tand\nnewlines  ", "tabs and newlines"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_normalize(text: str, expected: str):
    assert normalize(text) == expected


def test_word_hashes_are_one_per_word_and_equal_for_equal_words():
    hashes = word_hashes("the mill and the river")
    assert len(hashes) == 5
    assert hashes[0] == hashes[3]
    assert len(set(hashes.tolist())) == 4


def test_a_shared_ngram_has_the_same_hash_wherever_it_sits():
    first = word_shingles("alpha beta gamma delta epsilon zeta", 5)
    second = word_shingles("omega alpha beta gamma delta epsilon", 5)
    assert len(first) == len(second) == 2
    assert first[0] == second[1]
    assert first[1] != second[0]


def test_short_texts_get_one_shingle_and_empty_texts_none():
    assert len(word_shingles("just three words", 5)) == 1
    assert word_shingles("just three words", 5)[0] != word_shingles("just three", 5)[0]
    assert len(word_shingles("", 5)) == 0
    assert len(word_shingles("?!", 5)) == 0


def test_shingle_sets_match_python_ngram_sets_on_real_text():
    text = "\n".join(article(3))
    words = normalize(text).split(" ")
    python_ngrams = {tuple(words[i : i + 5]) for i in range(len(words) - 4)}
    assert len(set(word_shingles(text, 5).tolist())) == len(python_ngrams)
    chars = normalize(text)
    assert len(set(char_shingles(text, 6).tolist())) == len({chars[i : i + 6] for i in range(len(chars) - 5)})


def test_char_shingles_count_code_points():
    assert len(char_shingles("héllo wörld", 3)) == len("hello world") - 2


def thue_morse(length: int) -> str:
    return "".join("ab"[bin(i).count("1") % 2] for i in range(length))


def test_text_key_is_a_digest_of_the_exact_text():
    assert text_key("the mill 0") == text_key("the mill 0")
    assert text_key("The Mill") != text_key("the mill")
    assert text_key("a b") != text_key("a c")
    swapped = thue_morse(4096).translate(str.maketrans("ab", "ba"))
    assert text_key(thue_morse(4096)) != text_key(swapped)  # the classic collision of mod 2**64 polynomials


def test_long_texts_hash_in_spans_with_the_same_result(monkeypatch: pytest.MonkeyPatch):
    text = " ".join(f"w{i % 997}" for i in range(30_000))
    whole_words, whole_chars = word_shingles(text, 5), char_shingles(text, 7)
    monkeypatch.setattr(shingles, "SPAN", 1000)
    assert np.array_equal(word_shingles(text, 5), whole_words)
    assert np.array_equal(char_shingles(text, 7), whole_chars)


def test_hashes_are_stable_across_processes():
    """Keys are written to disk by one process and compared by another: no per-process salt."""
    code = "from pipeline.dedup.shingles import text_key, word_shingles; "
    code += "print(text_key('gristmill'), int(word_shingles('alpha beta gamma delta epsilon', 5)[0]))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert output == [str(text_key("gristmill")), str(int(word_shingles("alpha beta gamma delta epsilon", 5)[0]))]
