"""Training batches from packed token shards: memory-mapped, disjoint per DDP rank, resumable exactly.

The `.bin` parts of a split are one token stream (in manifest order). Window w is the `seq_len + 1` tokens
starting at `w * seq_len`: inputs are its first `seq_len`, targets its last. Each epoch orders the windows
with a permutation seeded by (seed, epoch); rank r of a world of size n takes every n-th window of that
order starting at r, cut so every rank has the same number, so ranks never share a window and step
together. The position (epoch, batches taken in it) is the loader's state: saved in a checkpoint, it
makes a resumed run continue with the next unseen batch.

With `documents=True` a batch also carries, per token, the index of the document it belongs to (from the
`.idx` end offsets), for attention that stays inside a document and for loss masks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class TokenStream:
    """The parts of one split of a packed folder, memory-mapped, read as one array of tokens."""

    def __init__(self, packed: str | Path, split: str = "train"):
        folder = Path(packed)
        manifest = json.loads((folder / "manifest.json").read_text())
        shards = [s for s in manifest[split]["shards"] if s["tokens"] > 0]
        self.eos_id = manifest["eos_id"]
        self.parts = [np.memmap(folder / s["bin"], dtype=manifest["dtype"], mode="r") for s in shards]
        sizes = [len(part) for part in self.parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        ends = [
            np.fromfile(folder / s["idx"], dtype="<i8") + start for s, start in zip(shards, self.starts, strict=False)
        ]
        self.document_ends = np.concatenate(ends) if ends else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start + length) as int64, across part boundaries."""
        out = np.empty(length, np.int64)
        filled = 0
        part = int(np.searchsorted(self.starts, start, side="right")) - 1
        while filled < length:
            offset = start + filled - self.starts[part]
            chunk = self.parts[part][offset : offset + length - filled]
            out[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
            part += 1
        return out

    def document_index(self, start: int, length: int) -> np.ndarray:
        """For each token of [start, start + length), the index of the document it belongs to."""
        return np.searchsorted(self.document_ends, np.arange(start, start + length), side="right")


@dataclass
class Batch:
    inputs: np.ndarray  # int64 [batch, seq_len]
    targets: np.ndarray  # int64 [batch, seq_len]
    documents: np.ndarray | None = None  # int64 [batch, seq_len + 1]: document index of each window token

    @property
    def input_documents(self) -> np.ndarray | None:
        """The document of each input token (the first seq_len of each window's)."""
        return None if self.documents is None else self.documents[:, :-1]


class Position:
    """Where a loader stands in its seeded order, the part of it a checkpoint keeps: the epoch and the batches
    this rank took in it, with the seed and world size the order depends on (resuming with others is refused)."""

    def __init__(self, rank: int, world_size: int, seed: int):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch, self.step = 0, 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "step": self.step, "seed": self.seed, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seed"] != self.seed or state["world_size"] != self.world_size:
            raise ValueError(
                f"checkpoint data position is for seed {state['seed']} and world size {state['world_size']}, "
                f"this loader has seed {self.seed} and world size {self.world_size}"
            )
        self.epoch, self.step = state["epoch"], state["step"]


class Batches(Position):
    def __init__(
        self,
        stream: TokenStream,
        seq_len: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        documents: bool = False,
    ):
        super().__init__(rank, world_size, seed)
        self.stream, self.seq_len, self.batch_size, self.documents = stream, seq_len, batch_size, documents
        self.windows = max(0, (len(stream) - 1) // seq_len)
        self.per_rank = self.windows // world_size
        self.batches_per_epoch = self.per_rank // batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(
                f"{len(stream):,} tokens make {self.windows:,} windows of {seq_len + 1}: fewer than one batch of "
                f"{batch_size} for each of {world_size} ranks"
            )

    def _order(self, epoch: int) -> np.ndarray:
        order = np.random.default_rng([self.seed, epoch]).permutation(self.windows)
        return order[self.rank :: self.world_size][: self.per_rank]

    def __iter__(self) -> Iterator[Batch]:
        """Batches forever, from the saved position on; the position moves as batches are taken."""
        while True:
            order = self._order(self.epoch)
            while self.step < self.batches_per_epoch:
                windows = order[self.step * self.batch_size : (self.step + 1) * self.batch_size]
                self.step += 1
                yield self._batch(windows)
            self.epoch, self.step = self.epoch + 1, 0

    def _batch(self, windows: np.ndarray) -> Batch:
        span = self.seq_len + 1
        tokens = np.stack([self.stream.read(int(w) * self.seq_len, span) for w in windows])
        documents = None
        if self.documents:
            documents = np.stack([self.stream.document_index(int(w) * self.seq_len, span) for w in windows])
        return Batch(tokens[:, :-1], tokens[:, 1:], documents)
