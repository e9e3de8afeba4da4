"""The merge loop: hand-worked corpora, ties, and the incremental updates against a full recount."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenizer.merges import learn_merges


def recount_merges(counts: dict[bytes, int], tokens: int, min_frequency: int) -> list[tuple[bytes, bytes]]:
    """The definition, slowly: recount every pair before every merge."""
    words = {tuple(bytes([b]) for b in word): n for word, n in counts.items()}
    vocab = {bytes([i]) for i in range(256)}
    merges = []
    while len(vocab) - 256 < tokens:
        pairs: Counter[tuple[bytes, bytes]] = Counter()
        for word, n in words.items():
            for pair in pairwise(word):
                pairs[pair] += n
        if not pairs:
            break
        best = max(pairs, key=lambda pair: (pairs[pair], pair))
        if pairs[best] < max(min_frequency, 1):
            break
        merges.append(best)
        vocab.add(best[0] + best[1])
        rewritten: dict[tuple[bytes, ...], int] = {}
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            rewritten[tuple(out)] = rewritten.get(tuple(out), 0) + n
        words = rewritten
    return merges


def test_the_worked_example_of_the_bpe_literature() -> None:
    """low x5, lower x2, widest x3, newest x6 (Sennrich et al. style example, ties to the greater pair)."""
    counts = {b"low": 5, b"lower": 2, b"widest": 3, b"newest": 6}
    assert learn_merges(counts, 6, min_frequency=1) == [
        (b"s", b"t"),
        (b"e", b"st"),
        (b"o", b"w"),
        (b"l", b"ow"),
        (b"w", b"est"),
        (b"n", b"e"),
    ]


def test_ties_go_to_the_greater_pair_of_byte_strings() -> None:
    assert learn_merges({b"ab": 1, b"cd": 1, b"ba": 1}, 3, min_frequency=1) == [
        (b"c", b"d"),
        (b"b", b"a"),
        (b"a", b"b"),
    ]
    # multi-byte tokens compare as bytes: (b"x", b"yz") > (b"x", b"y")
    assert learn_merges({b"xyz": 2, b"xy": 0}, 2, min_frequency=1) == [(b"y", b"z"), (b"x", b"yz")]


def test_min_frequency_stops_early() -> None:
    assert learn_merges({b"aab": 1, b"ab": 1}, 10, min_frequency=2) == [(b"a", b"b")]


def test_overlapping_runs_merge_left_to_right() -> None:
    assert learn_merges({b"aaaa": 1, b"aaa": 1}, 2, min_frequency=1) == [(b"a", b"a"), (b"aa", b"aa")]


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.binary(min_size=1, max_size=12).map(lambda b: bytes(x % 4 + 97 for x in b)), st.integers(1, 6)),
    st.integers(1, 30),
)
def test_incremental_counts_equal_a_full_recount(counts: dict[bytes, int], tokens: int) -> None:
    assert learn_merges(counts, tokens, min_frequency=1) == recount_merges(counts, tokens, 1)


PLAIN_PYTHON = """
import sys
{block}
from tokenizer.merges import learn_merges
from tokenizer import jit
assert jit.njit.__module__ {check}
print(learn_merges({{b"low": 5, b"lower": 2, b"widest": 3, b"newest": 6, b"aaaa": 2, b"abab": 3}}, 12, 1))
"""


@pytest.mark.parametrize(
    ("block", "check"),
    [("sys.modules['numba'] = None  # as if numba were not installed", "== 'tokenizer.jit'"), ("", "!= 'x'")],
)
def test_the_same_code_runs_without_numba(block: str, check: str) -> None:
    """Plain Python (numba missing, or present with NUMBA_DISABLE_JIT) learns exactly the compiled merges."""
    compiled = learn_merges({b"low": 5, b"lower": 2, b"widest": 3, b"newest": 6, b"aaaa": 2, b"abab": 3}, 12, 1)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    script = PLAIN_PYTHON.format(block=block, check=check)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == str(compiled)
