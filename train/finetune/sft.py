"""`gristmill finetune sft`: supervised fine-tuning on conversations, several packed into each window.

Each conversation is rendered in the chat format (`tokenizer.chat`) and packed, whole, into windows of
`seq_len` positions: attention stays inside each conversation (document masking) and positions restart at
each, so a packed conversation is computed exactly as if it ran alone. The loss is on the tokens the format
marks as learned (the assistant's, or all with `data.learn = "all"`); every other target is -100.

An epoch packs the conversations in a seeded order, first come first packed; ranks take every n-th window.
The loader's position (epoch, batches taken) is saved in checkpoints, so a resumed run continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from model.gpt import GPT
from tokenizer.chat import Rendered
from train.data import Position
from train.parallel import World, all_sum, rank_share
from train.windows import IGNORE, window_masks


@dataclass
class Windows:
    inputs: np.ndarray  # int64 [batch, seq_len]
    targets: np.ndarray  # int64 [batch, seq_len], IGNORE where nothing is learned
    documents: np.ndarray  # int64 [batch, seq_len]: the conversation of each position (padding: its own)
    real: int  # positions holding a conversation's token (the rest is padding)


def pack(conversations: list[Rendered], order: np.ndarray, seq_len: int) -> list[list[int]]:
    """Conversations (by index, in `order`) grouped into windows: each takes len - 1 positions (inputs), and a
    window is closed when the next does not fit."""
    windows: list[list[int]] = []
    used = seq_len
    for index in order:
        size = len(conversations[index].ids) - 1
        if used + size > seq_len:
            windows.append([])
            used = 0
        windows[-1].append(int(index))
        used += size
    return windows


def windows_of(conversations: list[Rendered], groups: list[list[int]], seq_len: int, pad_id: int) -> Windows:
    """The arrays of the given windows (each a list of conversation indices)."""
    shape = (len(groups), seq_len)
    inputs, targets = np.full(shape, pad_id, np.int64), np.full(shape, IGNORE, np.int64)
    documents = np.empty(shape, np.int64)
    real = 0
    for row, group in enumerate(groups):
        at = 0
        for number, index in enumerate(group):
            ids, learn = np.asarray(conversations[index].ids), np.asarray(conversations[index].learn)
            size = len(ids) - 1
            inputs[row, at : at + size] = ids[:-1]
            targets[row, at : at + size] = np.where(learn[1:], ids[1:], IGNORE)
            documents[row, at : at + size] = number
            at += size
        documents[row, at:] = len(group)  # padding: a document of its own, never seen by a real token
        real += at
    return Windows(inputs, targets, documents, real)


class ConversationLoader(Position):
    """Packed windows of conversations, `batch_size` per batch, forever, from a saved position."""

    def __init__(self, conversations: list[Rendered], seq_len: int, batch_size: int, pad_id: int, rank: int = 0,
                 world_size: int = 1, seed: int = 0):  # fmt: skip
        super().__init__(rank, world_size, seed)
        self.conversations, self.seq_len, self.batch_size, self.pad_id = conversations, seq_len, batch_size, pad_id
        if self.batches_in(0) == 0:
            windows = len(self._groups(0))
            raise ValueError(f"{len(conversations):,} conversations pack into {windows:,} windows of {seq_len} tokens: "
                             f"fewer than one batch of {batch_size} for each of {world_size} ranks")  # fmt: skip

    def _groups(self, epoch: int) -> list[list[int]]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.conversations))
        return pack(self.conversations, order, self.seq_len)

    def _mine(self, epoch: int) -> list[list[int]]:
        groups = self._groups(epoch)
        per_rank = len(groups) // self.world_size
        return groups[self.rank :: self.world_size][:per_rank]

    def batches_in(self, epoch: int) -> int:
        return len(self._mine(epoch)) // self.batch_size

    def __iter__(self) -> Iterator[Windows]:
        while True:
            mine = self._mine(self.epoch)
            while self.step < len(mine) // self.batch_size:
                groups = mine[self.step * self.batch_size : (self.step + 1) * self.batch_size]
                self.step += 1
                yield windows_of(self.conversations, groups, self.seq_len, self.pad_id)
            self.epoch, self.step = self.epoch + 1, 0


def window_loss(model: Callable[..., torch.Tensor], windows: Windows, device: torch.device,
                reduction: Literal["mean", "none"] = "mean") -> torch.Tensor:  # fmt: skip
    """The model's loss on packed windows, each conversation attending only to itself from position 0."""
    inputs, targets = torch.from_numpy(windows.inputs).to(device), torch.from_numpy(windows.targets).to(device)
    return model(inputs, targets, reduction=reduction, **window_masks(windows.documents, device, restart=True))


class SupervisedFinetuning:
    """The `Job` of `gristmill finetune sft` (see `train.trainer`)."""

    name = "sft"

    def __init__(self, model: GPT, train: list[Rendered], val: list[Rendered], seq_len: int, micro_batch: int,
                 global_batch: int, pad_id: int, world: World, seed: int, eval_windows: int,
                 fingerprint: dict[str, Any], tokenizer: str, eos_id: int | None):  # fmt: skip
        self.model, self.fingerprint, self.tokenizer, self.eos_id = model, fingerprint, tokenizer, eos_id
        self.loader = ConversationLoader(train, seq_len, micro_batch, pad_id, world.rank, world.size, seed)
        self.batch_description = f"{global_batch} packed windows of {seq_len} tokens"
        self.world, self.micro_batch, self.seq_len, self.pad_id = world, micro_batch, seq_len, pad_id
        self.val = val
        self.val_groups = rank_share(pack(val, np.arange(len(val)), seq_len)[:eval_windows], world)

    def weight(self, batch: Windows) -> float:
        return float((batch.targets != IGNORE).sum())

    def tokens(self, batch: Windows) -> int:
        return batch.real

    def loss(self, trained: Callable[..., torch.Tensor], batch: Windows, device: torch.device,
             autocast: AbstractContextManager) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        with autocast:
            loss = window_loss(trained, batch, device)
        return loss, {"learned_share": torch.tensor([self.weight(batch), batch.targets.size])}

    @torch.no_grad()
    def evaluate(self, model: GPT, autocast: AbstractContextManager) -> dict[str, float]:
        """Mean loss per learned token of the held-out conversations (nats)."""
        if not self.val:
            return {}
        was_training = model.training
        model.eval()
        total, count = 0.0, 0
        for start in range(0, len(self.val_groups), self.micro_batch):
            windows = windows_of(self.val, self.val_groups[start : start + self.micro_batch], self.seq_len, self.pad_id)
            with autocast:
                losses = window_loss(model, windows, self.world.device, reduction="none").float()
            total += float(losses.sum())
            count += int((windows.targets != IGNORE).sum())
        model.train(was_training)
        total, count = all_sum([total, count], self.world)
        return {"val_loss": total / count} if count else {}

    def summary(self, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        evaluated = [r for r in records if "val_loss" in r]
        facts = [("learned", f"{100 * records[-1].get('learned_share', 0):.0f}% of the window positions")]
        if evaluated:
            facts.append(("validation", f"{evaluated[0]['val_loss']:.4f} -> {evaluated[-1]['val_loss']:.4f} nats "
                          "per learned token on held-out conversations"))  # fmt: skip
        return facts
