"""Scoring is exact: on a hand-built model (byte bigrams with a known table), per-choice log-likelihoods equal
sums made by hand, and acc, acc_norm, their standard errors and the cloze figures equal a direct computation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from eval_factory import PREFIX, ByteBigram

from train.eval.likelihood import continuation_request, score_requests
from train.eval.scoring import evaluate_task
from train.eval.tasks import read_task
from train.eval.texts import bits_per_byte, read_text_source, text_set_for


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


CHOICE_ROWS = [
    {"id": "q1", "context": "The miller grinds", "choices": ["grain", "stones and water", "x"], "gold": 0},
    {"id": "q2", "context": "Bread is baked in an", "choices": ["oven", "ocean"], "gold": 0},
    {"id": "q3", "context": "Rivers flow to the", "choices": ["sea", "sky", "mountain top"], "gold": 2},
    {"id": "q4", "context": "A week has seven", "choices": ["days", "cats"], "gold": 1},
]


def test_a_continuation_is_scored_after_the_prefix_and_its_context():
    model = ByteBigram()
    request = continuation_request(model, "ab ", "cd")  # the trailing space moves to the continuation
    assert request.tokens == (PREFIX, *b"ab cd") and request.scored == 3
    (scored,) = score_requests(model, [request], batch_size=4)
    assert scored.logprobs.sum() == pytest.approx(model.by_hand([ord("b"), *b" cd"]), abs=1e-9)


def test_a_long_context_is_cut_on_the_left():
    model = ByteBigram(max_length=8)
    request = continuation_request(model, "0123456789", "xyz")
    assert request.tokens == tuple(b"456789xyz") and request.scored == 3


def test_per_choice_loglikelihoods_acc_and_acc_norm_equal_a_direct_computation(tmp_path: Path):
    model = ByteBigram()
    task = read_task(str(write_jsonl(tmp_path / "mc.jsonl", CHOICE_ROWS)))
    figures, records = evaluate_task(model, task, batch_size=3)
    right, right_norm = [], []
    for row, record in zip(CHOICE_ROWS, records, strict=True):
        context = [PREFIX, *row["context"].encode()]
        lls = [model.by_hand([context[-1], *f" {choice}".encode()]) for choice in row["choices"]]
        assert record["loglikelihoods"] == pytest.approx(lls, abs=1e-9)
        right.append(float(np.argmax(lls) == row["gold"]))
        right_norm.append(
            float(np.argmax([ll / len(c) for ll, c in zip(lls, row["choices"], strict=True)]) == row["gold"])
        )
    n = len(right)
    assert figures["acc"] == pytest.approx(sum(right) / n)
    assert figures["acc_norm"] == pytest.approx(sum(right_norm) / n)
    mean = sum(right) / n
    assert figures["acc_stderr"] == pytest.approx(math.sqrt(sum((r - mean) ** 2 for r in right) / (n - 1) / n))
    assert figures["chance"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 3 + 1 / 2) / 4)


def test_the_batch_size_does_not_change_a_figure(tmp_path: Path):
    model = ByteBigram()
    task = read_task(str(write_jsonl(tmp_path / "mc.jsonl", CHOICE_ROWS)))
    one = evaluate_task(model, task, batch_size=1)[1]
    many = evaluate_task(model, task, batch_size=64)[1]
    flat = [[ll for r in records for ll in r["loglikelihoods"]] for records in (one, many)]
    assert flat[0] == pytest.approx(flat[1], abs=1e-12)


def test_cloze_items_are_right_when_every_target_token_is_the_most_likely(tmp_path: Path):
    table = np.zeros((256, 256))
    for before, after in ("q ", " a", "ab"):  # after "q": " ab" is the most likely continuation
        table[ord(before), ord(after)] = 5.0
    model = ByteBigram(table=table)
    rows = [{"context": "say q", "target": "ab"}, {"text": "the last word is here"}]
    task = read_task(str(write_jsonl(tmp_path / "cloze.jsonl", rows)))
    figures, records = evaluate_task(model, task, batch_size=2)
    assert task.format == "cloze"
    assert [r["greedy"] for r in records] == [True, False]  # after "s", byte 0 ties " " and comes first
    lls = [model.by_hand([*b"q ab"]), model.by_hand([*b"s here"])]
    assert [r["loglikelihoods"][0] for r in records] == pytest.approx(lls, abs=1e-9)
    assert figures["acc"] == 0.5
    assert figures["perplexity"] == pytest.approx(math.exp(-sum(lls) / 2))


def test_bits_per_byte_of_text_files_is_the_hand_sum_over_their_bytes(tmp_path: Path):
    folder = tmp_path / "texts"
    folder.mkdir()
    texts = ["The miller grinds the grain.\nThe baker bakes.", "Ein Müller mahlt das Korn – " * 5]
    for i, text in enumerate(texts):
        (folder / f"doc{i}.txt").write_text(text, encoding="utf-8")
    model = ByteBigram(max_length=16)  # several windows per document, each after the byte before it
    text_set = text_set_for(read_text_source(str(folder)), model)
    assert text_set.name == "texts" and text_set.documents == 2  # a text file is one document
    scored = score_requests(model, text_set.requests, batch_size=5)
    figures = bits_per_byte(text_set, [s.logprobs for s in scored])
    encoded = [[PREFIX, *text.encode("utf-8")] for text in texts]
    bits = -sum(model.by_hand(tokens) for tokens in encoded) / math.log(2)
    assert figures["bytes"] == sum(len(t.encode("utf-8")) for t in texts)
    assert figures["tokens"] == sum(len(tokens) - 1 for tokens in encoded)
    assert figures["bits_per_byte"] == pytest.approx(bits / figures["bytes"], rel=1e-12)
