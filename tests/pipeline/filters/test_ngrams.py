"""Vectorised n-gram repetition measures, checked against hand counts."""

import pytest

from pipeline.filters.ngrams import NgramIndex


def test_top_ngram_fraction_counts_the_most_repeated_ngram() -> None:
    index = NgramIndex.of(("x", "y", "x", "y", "x"))
    # bigrams: xy, yx, xy, yx -> xy (2 chars) twice = 4 of 5 word characters
    assert index.top_ngram_fraction(2) == pytest.approx(4 / 5)
    # trigrams: xyx, yxy, xyx -> xyx (3 chars) twice = 6 / 5
    assert index.top_ngram_fraction(3) == pytest.approx(6 / 5)


def test_top_ngram_needs_a_repeat() -> None:
    assert NgramIndex.of(("a", "b", "c", "d")).top_ngram_fraction(2) == 0.0
    assert NgramIndex.of(("a", "b")).top_ngram_fraction(2) == 0.0


def test_top_ngram_prefers_the_longest_among_ties() -> None:
    words = ("aaaa", "bbbb", "c", "d", "aaaa", "bbbb", "c", "d")
    # aaaa bbbb (8 chars) x2, bbbb c (5) x2, c d (2) x2: the longest tie wins; total chars 20
    assert NgramIndex.of(words).top_ngram_fraction(2) == pytest.approx(16 / 20)


def test_duplicate_ngram_fraction_counts_covered_characters_once() -> None:
    index = NgramIndex.of(("x", "y", "x", "y", "x"))
    # xy@0 first, yx@1 first, xy@2 dup -> words 2,3; yx@3 dup -> words 3,4 -> words {2,3,4}
    assert index.duplicate_ngram_fraction(2) == pytest.approx(3 / 5)


def test_duplicate_ngram_fraction_weights_by_word_length() -> None:
    words = ("alpha", "beta", "gamma", "z", "alpha", "beta", "gamma")
    # the second "alpha beta gamma" is a duplicate 3-gram: 14 of 29 characters
    assert NgramIndex.of(words).duplicate_ngram_fraction(3) == pytest.approx(14 / 29)
    assert NgramIndex.of(words).duplicate_ngram_fraction(4) == 0.0


def test_empty_and_short_inputs() -> None:
    assert NgramIndex.of(()).duplicate_ngram_fraction(5) == 0.0
    assert NgramIndex.of(("a",) * 3).duplicate_ngram_fraction(5) == 0.0
    # 5-grams at 0 and 1 are equal: the second covers words 1..5
    assert NgramIndex.of(("a",) * 6).duplicate_ngram_fraction(5) == pytest.approx(5 / 6)


def test_longer_ngrams_are_skipped_once_shorter_ones_are_all_unique() -> None:
    index = NgramIndex.of(("a", "b", "c", "d", "e", "f", "g"))
    assert index.duplicate_ngram_fraction(5) == 0.0
    assert index.unique_from == 5
    assert index.duplicate_ngram_fraction(7) == 0.0 and index.top_ngram_fraction(6) == 0.0
    repeated = NgramIndex.of(("a", "b", "a", "b", "a", "b"))
    assert repeated.top_ngram_fraction(2) > 0 and repeated.unique_from is None
