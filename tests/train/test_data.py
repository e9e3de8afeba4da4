"""The trainer's batches from packed shards: windows, rank disjointness, seeded order, exact resume, documents."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from packed_factory import EOS, write_packed

from train.data import Batches, TokenStream


@pytest.fixture
def stream(tmp_path: Path) -> TokenStream:
    rng = np.random.default_rng(0)
    documents = [list(rng.integers(0, 90, rng.integers(5, 60))) for _ in range(120)]
    return TokenStream(write_packed(tmp_path, documents))


def test_windows_are_the_stream_shifted_by_one_across_parts(stream: TokenStream) -> None:
    whole = np.concatenate([np.asarray(part, np.int64) for part in stream.parts])
    assert len(stream) == len(whole)
    batches = Batches(stream, seq_len=64, batch_size=4, seed=1)
    windows = batches._order(0)[:4]
    batch = next(iter(batches))
    for row, w in enumerate(windows):
        assert np.array_equal(batch.inputs[row], whole[w * 64 : w * 64 + 64])
        assert np.array_equal(batch.targets[row], whole[w * 64 + 1 : w * 64 + 65])


def test_ranks_read_disjoint_windows_and_step_together(stream: TokenStream) -> None:
    seen: list[set[int]] = []
    for rank in range(3):
        batches = Batches(stream, seq_len=32, batch_size=2, rank=rank, world_size=3, seed=5)
        order = batches._order(0)
        seen.append(set(order.tolist()))
        assert len(order) == batches.per_rank
        assert batches.batches_per_epoch == Batches(stream, 32, 2, 0, 3, 5).batches_per_epoch
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    assert len(seen[0] | seen[1] | seen[2]) == 3 * len(seen[0])


def test_the_order_is_fixed_by_the_seed_and_changes_each_epoch(stream: TokenStream) -> None:
    first = [b.inputs.copy() for b in islice(Batches(stream, 32, 2, seed=7), 6)]
    again = [b.inputs.copy() for b in islice(Batches(stream, 32, 2, seed=7), 6)]
    other = [b.inputs.copy() for b in islice(Batches(stream, 32, 2, seed=8), 6)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    batches = Batches(stream, 32, 2, seed=7)
    assert not np.array_equal(batches._order(0), batches._order(1))


def test_a_resumed_loader_continues_with_the_next_unseen_batch(stream: TokenStream) -> None:
    continuous = Batches(stream, 32, 4, rank=1, world_size=2, seed=3)
    expected = [b.inputs.copy() for b in islice(iter(continuous), continuous.batches_per_epoch + 5)]
    first = Batches(stream, 32, 4, rank=1, world_size=2, seed=3)
    taken = [b.inputs.copy() for b in islice(iter(first), 7)]
    state = json.loads(json.dumps(first.state_dict()))  # through a checkpoint file
    resumed = Batches(stream, 32, 4, rank=1, world_size=2, seed=3)
    resumed.load_state_dict(state)
    rest = [b.inputs.copy() for b in islice(iter(resumed), len(expected) - 7)]
    assert all(np.array_equal(a, b) for a, b in zip(taken + rest, expected, strict=True))
    with pytest.raises(ValueError, match="world size"):
        Batches(stream, 32, 4, rank=0, world_size=4, seed=3).load_state_dict(state)


def test_document_indices_change_right_after_each_eos(stream: TokenStream) -> None:
    batch = next(iter(Batches(stream, 48, 3, seed=2, documents=True)))
    assert batch.documents is not None
    tokens = np.concatenate([batch.inputs, batch.targets[:, -1:]], axis=1)
    for row_tokens, row_docs in zip(tokens, batch.documents, strict=True):
        changes = np.flatnonzero(np.diff(row_docs)) + 1
        assert np.array_equal(changes, np.flatnonzero(row_tokens[:-1] == EOS) + 1)


def test_too_little_data_is_a_clear_error(stream: TokenStream) -> None:
    with pytest.raises(ValueError, match="fewer than one batch"):
        Batches(stream, seq_len=len(stream), batch_size=1)
