"""Training: inputs of every format, determinism across workers and runs, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SPECIAL, corpus

from tokenizer import Tokenizer, train_bpe
from tokenizer.train import TrainingStats


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
    tokenizer = train_bpe([path], vocab_size=260, pattern=r"\S+|\s+", text_column="body", workers=1)
    assert tokenizer.merges[:2] == [(b"a", b"b"), (b"ab", b"c")]
    assert tokenizer.encode("abc") == [257]


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
    with pytest.raises(ValueError, match="not BPE"):
        Tokenizer.load(str(tmp_path))
    (tmp_path / "tokenizer.json").write_text("not json")
    with pytest.raises(ValueError, match=r"not a byte-level BPE tokenizer\.json"):
        Tokenizer.load(str(tmp_path))
    with pytest.raises(ValueError, match=r"no tokenizer\.json"):
        Tokenizer.load(str(tmp_path / "missing"))
