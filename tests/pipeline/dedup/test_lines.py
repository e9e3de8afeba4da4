"""Line keys and cutting: blank and short lines are never cut; a frequent line is cut wherever it appears;
lines are compared by their text (case and spacing aside) unless the stage asks for more."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.dedup.lines import cut_lines, document_line_keys, line_keys


def test_one_key_per_line_and_equal_keys_for_lines_differing_in_case_and_spacing_only():
    keys, eligible = line_keys(["Home | About", "", "HOME  |  about ", "home about", "Hello"], min_chars=0)
    assert len(keys) == 5
    assert keys[0] == keys[2]
    assert len({keys[0], keys[3], keys[4]}) == 3  # punctuation is part of the text
    assert eligible.tolist() == [True, False, True, True, True]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Step 3: stir the flour into the water", "Step 4: stir the flour into the water"),
        ("| 2024 | 31.5 | 12 |", "| 2025 | 28.0 | 12 |"),
        ("Updated on 3 May 2026 at 10:15", "Updated on 4 May 2026 at 10:15"),
        ("Price: $12.99", "Price: $12,99"),
        ("Café de Flore", "Cafe de Flore"),
    ],
)
def test_lines_differing_in_digits_punctuation_or_accents_are_distinct_by_default(first: str, second: str):
    text_keys, _ = line_keys([first, second], 0)
    assert text_keys[0] != text_keys[1]
    aggressive_keys, _ = line_keys([first, second], 0, "aggressive")
    assert aggressive_keys[0] == aggressive_keys[1]  # what the aggressive option trades away


def test_none_compares_the_exact_characters():
    keys, eligible = line_keys(["Menu", "menu", "Menu ", "   "], 0, "none")
    assert len(set(keys[:3].tolist())) == 3
    assert eligible.tolist() == [True, True, True, False]


def test_short_lines_are_not_eligible():
    _, eligible = line_keys(["ok", "a longer line"], min_chars=5)
    assert eligible.tolist() == [False, True]


def test_a_document_counts_each_line_once():
    assert len(document_line_keys("menu\nmenu\nbody text\n\nmenu", 0)) == 2


def test_cut_lines_removes_frequent_lines_only():
    frequent = np.sort(document_line_keys("Subscribe now!\nCopyright 2026", 0))
    text, cut = cut_lines("SUBSCRIBE  now!\nThe article.\n\nCopyright 1999\nCopyright 2026\nMore.", frequent, 0)
    assert (text, cut) == ("The article.\n\nCopyright 1999\nMore.", 2)
    assert cut_lines("Nothing frequent here", frequent, 0) == ("Nothing frequent here", 0)
    assert cut_lines("Subscribe now!", np.empty(0, np.uint64), 0) == ("Subscribe now!", 0)


def test_aggressive_cutting_also_takes_lines_that_share_only_their_shape():
    frequent = np.sort(document_line_keys("Subscribe now!\nCopyright 2026", 0, "aggressive"))
    text, cut = cut_lines("Subscribe now\nThe article.\nCOPYRIGHT 1999", frequent, 0, "aggressive")
    assert (text, cut) == ("The article.", 2)
