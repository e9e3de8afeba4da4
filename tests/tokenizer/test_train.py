"""Training: inputs of every format, determinism across workers and runs, clear errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SPECIAL, corpus

from tokenizer import Tokenizer, train_bpe
from tokenizer.train import ShortVocabularyWarning, TrainingStats


def test_one_and_two_workers_and_two_runs_learn_the_same_merges(corpus_file: Path, trained: Tokenizer) -> None:
    again = train_bpe([corpus_file], vocab_size=700, special_tokens=[SPECIAL], workers=1)
    parallel = train_bpe([corpus_file], vocab_size=700, special_tokens=[SPECIAL], workers=2)
    assert again.merges == parallel.merges == trained.merges
    assert again.vocab == parallel.vocab == trained.vocab


def test_text_jsonl_parquet_and_a_run_folder_give_the_same_tokenizer(tmp_path: Path, trained: Tokenizer) -> None:
    texts = [t + SPECIAL for t in corpus()]
    (tmp_path / "docs.txt").write_text("".join(texts), encoding="utf-8")
    run = tmp_path / "run" / "shards" / "lang=en"
    run.mkdir(parents=True)
    pq.write_table(
        pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), run / "part-00000-00000.parquet"
    )
    from_text = train_bpe([tmp_path / "docs.txt"], vocab_size=700, special_tokens=[SPECIAL], workers=1)
    stats = TrainingStats()
    from_run = train_bpe([tmp_path / "run"], vocab_size=700, special_tokens=[SPECIAL], workers=1, stats=stats)
    assert from_run.merges == trained.merges  # the same documents as the JSONL fixture
    assert stats.documents == len(texts) and stats.text_bytes == sum(len(t.encode()) for t in texts)
    assert from_text.merges[:50] == trained.merges[:50]  # one text: the same pre-tokens up to document joins


def test_a_custom_text_column_and_regex_pattern(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"body": "abc abc abd " * 5}) + "\n" for _ in range(3)))
    tokenizer = train_bpe([path], vocab_size=259, pattern=r"\S+|\s+", text_column="body", workers=1)
    assert tokenizer.merges[:2] == [(b"a", b"b"), (b"ab", b"c")]
    assert tokenizer.encode("abc") == [257]


WORDS = r"\S+|\s+"


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Pre-tokens abab x2, abc, " " x2: a+b occurs 5 times, then ab+ab twice, then ab+c once; 259 tokens
    (+ 1 special) make every pre-token a single token."""
    path = tmp_path / "small.txt"
    path.write_text(f"abab abab abc{SPECIAL}", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("vocab_size", "min_frequency", "reached", "stop", "possible"),
    [
        (300, 2, 259, "min_frequency", 260),  # ab+c occurs once; merging it too gives all there is
        (260, 2, 259, "min_frequency", 260),  # min_frequency 1 would reach the size asked
        (300, 1, 260, "no_pair", 260),  # every pre-token is one token
        (300, 0, 260, "no_pair", 260),  # 0 is 1, as in HF
    ],
)
def test_a_corpus_too_small_for_the_vocab_size_says_how_far_and_why(
    small_corpus: Path, vocab_size: int, min_frequency: int, reached: int, stop: str, possible: int
) -> None:
    stats = TrainingStats()
    with pytest.warns(ShortVocabularyWarning) as caught:
        tokenizer = train_bpe([small_corpus], vocab_size, [SPECIAL], WORDS, min_frequency, workers=1, stats=stats)
    assert tokenizer.training is stats and tokenizer.vocab_size == stats.vocab_size == reached
    assert (stats.requested_vocab_size, stats.possible_vocab_size, stats.stop) == (vocab_size, possible, stop)
    assert stats.short and stats.merges == reached - 257
    assert stats.left_count == (1 if stop == "min_frequency" else 0)
    assert len(caught) == 1 and str(caught[0].message) == stats.shortfall()
    assert f"{reached:,} of {vocab_size:,}" in str(caught[0].message)


@pytest.mark.parametrize(("vocab_size", "min_frequency"), [(260, 1), (259, 2), (258, 2), (257, 2)])
def test_a_size_the_corpus_can_give_is_reached_exactly_without_a_warning(
    small_corpus: Path, vocab_size: int, min_frequency: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tokenizer = train_bpe([small_corpus], vocab_size, [SPECIAL], WORDS, min_frequency, workers=1)
    stats = tokenizer.training
    assert tokenizer.vocab_size == stats.vocab_size == stats.requested_vocab_size == vocab_size
    assert stats.stop == "reached" and not stats.short and stats.shortfall() is None


def test_the_default_merges_pairs_seen_once_after_the_same_frequent_ones(small_corpus: Path) -> None:
    """As HF (min_frequency 0), rustbpe and tiktoken's trainer: pairs seen once are merged too, last."""
    twice = train_bpe([small_corpus], 260, [SPECIAL], WORDS, min_frequency=2, workers=1, warn=False)
    default = train_bpe([small_corpus], 260, [SPECIAL], WORDS, workers=1)
    assert twice.vocab_size == 259 and default.vocab_size == 260
    assert default.merges == [*twice.merges, (b"ab", b"c")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 200}, "smaller than 256 bytes"),
        ({"vocab_size": 300, "pattern": "(unclosed"}, "not a valid regex"),
        ({"vocab_size": 300, "inputs": ["/nonexistent/corpus"]}, "no such file or folder"),
    ],
)
def test_bad_requests_are_clear_errors(corpus_file: Path, kwargs: dict, message: str) -> None:
    arguments = {"inputs": [corpus_file], **kwargs}
    with pytest.raises(ValueError, match=message):
        train_bpe(**arguments)


def test_a_damaged_tokenizer_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text('{"model": {"type": "WordPiece"}}')
    with pytest.raises(ValueError, match=r"model\.type is WordPiece: gristmill reads byte-level BPE only"):
        Tokenizer.load(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(ValueError, match=r"tokenizer\.json: not readable as JSON"):
        Tokenizer.load(str(tmp_path))
    with pytest.raises(ValueError, match=r"missing: no such tokenizer file or folder"):
        Tokenizer.load(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"no tokenizer here"):
        Tokenizer.load(str(tmp_path / "empty"))
