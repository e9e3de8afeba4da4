"""Line keys and cutting: blank and short lines are never cut; a frequent line is cut wherever it appears."""

from __future__ import annotations

import numpy as np

from pipeline.dedup.lines import cut_lines, document_line_keys, line_keys


def test_one_key_per_line_and_equal_keys_for_equal_normalised_lines():
    keys, eligible = line_keys(["Home | About", "", "home about", "Hello"], min_chars=0)
    assert len(keys) == 4
    assert keys[0] == keys[2] != keys[3]
    assert eligible.tolist() == [True, False, True, True]


def test_short_lines_are_not_eligible():
    _, eligible = line_keys(["ok", "a longer line"], min_chars=5)
    assert eligible.tolist() == [False, True]


def test_a_document_counts_each_line_once():
    assert len(document_line_keys("menu\nmenu\nbody text\n\nmenu", 0)) == 2


def test_cut_lines_removes_frequent_lines_only():
    frequent = np.sort(document_line_keys("Subscribe now!\nCopyright 2026", 0))
    text, cut = cut_lines("Subscribe now\nThe article.\n\nCOPYRIGHT 1999\nMore.", frequent, 0)
    assert (text, cut) == ("The article.\n\nMore.", 2)
    assert cut_lines("Nothing frequent here", frequent, 0) == ("Nothing frequent here", 0)
    assert cut_lines("Subscribe now", np.empty(0, np.uint64), 0) == ("Subscribe now", 0)
