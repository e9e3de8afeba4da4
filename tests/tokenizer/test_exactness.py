"""Ids identical to tiktoken and to HF `tokenizers` built from the same merges; round trips; chunked streams."""

from __future__ import annotations

import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest
import tiktoken
from conftest import SAMPLES, SPECIAL
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

from tokenizer import Tokenizer
from tokenizer.patterns import PRESETS, resolve_pattern
from tokenizer.tiktoken_file import tiktoken_ranks

HARD = [
    *SAMPLES,
    f"before{SPECIAL}after {SPECIAL}{SPECIAL} end",
    "a" * 3000,
    " " * 500 + "x",
    "\r\n\r\n  \t\u00a0\u2003 mixed spaces",
    "x" * 200 + "y" * 200 + "xy" * 300,
    "ab" * 1000,
]


@pytest.fixture(scope="module")
def references(trained: Tokenizer, tmp_path_factory: pytest.TempPathFactory) -> tuple[HFTokenizer, tiktoken.Encoding]:
    folder = tmp_path_factory.mktemp("tok")
    trained.save(str(folder))
    hf = HFTokenizer.from_file(str(folder / "tokenizer.json"))
    encoding = tiktoken.Encoding(
        "gristmill",
        pat_str=resolve_pattern(trained.pattern),
        mergeable_ranks=tiktoken_ranks(trained),
        special_tokens=trained.special_ids,
    )
    return hf, encoding


def test_vocab_size_counts_bytes_merges_and_specials(trained: Tokenizer) -> None:
    assert trained.vocab_size == 700 == 256 + len(trained.vocab) - 256 + len(trained.special_tokens)
    assert trained.special_ids == {SPECIAL: 699}
    assert all(SPECIAL.encode() not in token for token in trained.vocab.values())  # never merged across


@pytest.mark.parametrize("text", HARD)
def test_ids_equal_tiktoken_and_hf(trained: Tokenizer, references: tuple, text: str) -> None:
    hf, encoding = references
    ours = trained.encode(text, allowed_special="all")
    assert ours == encoding.encode(text, allowed_special="all")
    assert ours == hf.encode(text).ids
    assert trained.decode(ours) == text


def test_real_multilingual_documents(trained: Tokenizer, references: tuple) -> None:
    hf, encoding = references
    from crawl_factory import PARAGRAPHS

    for lang, paragraph in PARAGRAPHS.items():
        text = f"{paragraph}\n{paragraph.upper()} ({lang})"
        assert trained.encode(text) == encoding.encode_ordinary(text) == hf.encode(text).ids


def test_special_tokens_follow_tiktoken_rules(trained: Tokenizer) -> None:
    text = f"x{SPECIAL}y"
    with pytest.raises(ValueError, match="special token"):
        trained.encode(text)
    as_text = trained.encode(text, disallowed_special=())
    assert trained.special_ids[SPECIAL] not in as_text and trained.decode(as_text) == text
    assert trained.special_ids[SPECIAL] in trained.encode(text, allowed_special={SPECIAL})


def test_the_longest_overlapping_special_token_wins() -> None:
    tokenizer = Tokenizer({i: bytes([i]) for i in range(256)}, [], ["<|a|>", "<|a|><|b|>"], "gpt2")
    ids = tokenizer.encode("<|a|><|b|>!", allowed_special="all")
    assert ids[0] == tokenizer.special_ids["<|a|><|b|>"] and tokenizer.decode(ids) == "<|a|><|b|>!"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_round_trip_of_any_text(trained: Tokenizer, text: str) -> None:
    ids = trained.encode(text, disallowed_special=())
    assert trained.decode(ids) == text
    assert trained.decode_bytes(ids) == text.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_without_error(trained: Tokenizer, data: bytes) -> None:
    assert trained.decode_bytes(list(data)) == data
    assert trained.decode(list(data)) == data.decode("utf-8", errors="replace")


def naive_bpe(data: bytes, tokenizer: Tokenizer) -> list[int]:
    """The definition: merge the lowest-ranked adjacent pair, leftmost first, until none is left."""
    ranks = {merge: rank for rank, merge in reversed(list(enumerate(tokenizer.merges)))}
    ids = {token: i for i, token in tokenizer.vocab.items()}
    parts = [bytes([b]) for b in data]
    while True:
        ranked = [(ranks[pair], i) for i, pair in enumerate(pairwise(parts)) if pair in ranks]
        if not ranked:
            return [ids[part] for part in parts]
        _, i = min(ranked)
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab xy\nü", max_size=300))
def test_bpe_of_any_piece_equals_the_definition(trained: Tokenizer, text: str) -> None:
    data = text.encode()
    assert trained._engine.bpe(data) == naive_bpe(data, trained) if data else True


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.lists(st.integers(0, 300), max_size=8))
def test_encode_iterable_equals_encoding_the_whole(trained: Tokenizer, text: str, cuts: list[int]) -> None:
    bounds = sorted({0, len(text), *(c for c in cuts if c <= len(text))})
    chunks = [text[a:b] for a, b in pairwise(bounds)]
    assert list(trained.encode_iterable(chunks)) == trained.encode(text, disallowed_special=())


def test_a_megabyte_of_one_letter_encodes(trained: Tokenizer) -> None:
    text = "a" * 1_000_000  # one pre-token: BPE over a heap, not quadratic
    ids = trained.encode(text)
    assert trained.decode(ids) == text


def test_every_preset_pattern_matches_tiktoken(trained: Tokenizer) -> None:
    for name in PRESETS:
        tokenizer = Tokenizer(trained.vocab, trained.merges, [], name)
        encoding = tiktoken.Encoding(
            name, pat_str=resolve_pattern(name), mergeable_ranks=tiktoken_ranks(tokenizer), special_tokens={}
        )
        for text in HARD[:-3]:
            clean = text.replace(SPECIAL, "")
            assert tokenizer.encode(clean) == encoding.encode_ordinary(clean), (name, clean[:40])


@pytest.mark.parametrize("pattern", [r"\p{L}+", r"\d|\s+", r"x*"])
def test_a_pattern_that_leaves_text_between_its_matches_keeps_it_as_hf_does(
    trained: Tokenizer, tmp_path: Path, pattern: str
) -> None:
    """HF's Split (Isolated) makes the text between two matches a piece of its own: nothing is dropped."""
    tokenizer = Tokenizer(trained.vocab, trained.merges, [], pattern)
    tokenizer.save(tmp_path)
    hf = HFTokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in HARD[:-3]:
        ids = tokenizer.encode(text, disallowed_special=())
        assert ids == hf.encode(text, add_special_tokens=False).ids, (pattern, text[:40])
        assert tokenizer.decode(ids) == text


def test_save_and_load_keep_every_id(trained: Tokenizer, tmp_path: Path) -> None:
    trained.save(str(tmp_path))
    loaded = Tokenizer.load(str(tmp_path))
    assert loaded.vocab == trained.vocab and loaded.merges == trained.merges
    assert loaded.special_tokens == trained.special_tokens and loaded.pattern == trained.pattern


def test_encoding_runs_the_same_without_numba(trained: Tokenizer, tmp_path: Path) -> None:
    """The scanners, tables and BPE are plain Python where numba is missing: the same ids, slowly."""
    trained.save(str(tmp_path))
    text = HARD[0] + " 🙂 don't\n\n  x" + HARD[3][:200]
    script = (
        "import sys\nsys.modules['numba'] = None\nfrom tokenizer import Tokenizer\n"
        f"print(Tokenizer.load({str(tmp_path)!r}).encode({text!r}, allowed_special='all'))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(trained.encode(text, allowed_special="all"))
