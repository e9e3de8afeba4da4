"""`encode_batch` over processes: each worker gets the tokenizer once, then slices of the batch."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol

from gristmill_base.lifetime import children_die_with_this_process


class Encoder(Protocol):
    """What a worker needs of the tokenizer (picklable, with `encode`): `tokenizer.core` imports this module,
    not the other way round."""

    def encode(self, text: str, **options: Any) -> list[int]: ...


_worker_tokenizer: Encoder | None = None


def _start(tokenizer: Encoder) -> None:
    global _worker_tokenizer
    _worker_tokenizer = tokenizer


def _encode_slice(texts: Sequence[str], options: dict[str, Any]) -> list[list[int]]:
    assert _worker_tokenizer is not None
    return [_worker_tokenizer.encode(text, **options) for text in texts]


def encode_in_processes(
    tokenizer: Encoder, texts: Sequence[str], workers: int, options: dict[str, Any]
) -> list[list[int]]:
    """The ids of every text, in order; slices of about equal text size, four per worker."""
    slices = _slices(texts, workers * 4)
    with (
        children_die_with_this_process(),  # a killed command leaves no worker behind
        ProcessPoolExecutor(workers, initializer=_start, initargs=(tokenizer,)) as pool,
    ):
        parts = pool.map(_encode_slice, slices, [options] * len(slices))
        return [ids for part in parts for ids in part]


def _slices(texts: Sequence[str], count: int) -> list[Sequence[str]]:
    total = sum(map(len, texts)) or 1
    slices, start, size = [], 0, 0
    for i, text in enumerate(texts):
        size += len(text)
        if size >= total / count:
            slices.append(texts[start : i + 1])
            start, size = i + 1, 0
    if start < len(texts):
        slices.append(texts[start:])
    return slices
