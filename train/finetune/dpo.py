"""`gristmill finetune dpo`: Direct Preference Optimization (Rafailov et al. 2023) from an SFT checkpoint.

Each pair is the prompt (chat format, ending with the assistant's role token) followed by the chosen or the
rejected answer (and its turn end). A sequence's log-probability is the sum over the answer's tokens. With
policy margin d = (log p(chosen) - log p(rejected)) - (the same under the frozen reference), the loss is
-(1 - e) log sigmoid(beta d) - e log sigmoid(-beta d), e being `label_smoothing` (conservative DPO; 0: DPO).
Rewards are beta (log p - log p_reference) per answer; reported: the loss, the reward accuracy (chosen
rewarded above rejected), each reward and their margin.

The reference is a second, frozen copy of the starting model, or (`precompute_reference`) its
log-probabilities computed once before training, after which it is dropped: one model in memory.
Sequences of a micro-batch are right-padded to the longest: causal attention never lets a real token see
the padding after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from model.gpt import GPT
from train.data import Position
from train.parallel import World, all_sum
from train.windows import IGNORE


@dataclass(frozen=True)
class PairIds:
    prompt: list[int]
    chosen: list[int]  # the answer's ids and the turn end
    rejected: list[int]

    @property
    def longest(self) -> int:
        return len(self.prompt) + max(len(self.chosen), len(self.rejected))


@dataclass
class PairBatch:
    indices: np.ndarray  # the pairs' indices in the data set (for precomputed reference log-probabilities)
    tokens: np.ndarray  # int64 [2 x pairs, length]: the chosen sequences, then the rejected ones
    targets: np.ndarray  # int64 [2 x pairs, length]: the answer tokens, IGNORE elsewhere
    real: int  # tokens fed that are not padding


def pair_batch(pairs: list[PairIds], indices: np.ndarray, pad_id: int) -> PairBatch:
    sequences = [(pairs[i].prompt, pairs[i].chosen) for i in indices] + [
        (pairs[i].prompt, pairs[i].rejected) for i in indices
    ]
    length = max(len(p) + len(a) for p, a in sequences) - 1
    tokens = np.full((len(sequences), length), pad_id, np.int64)
    targets = np.full((len(sequences), length), IGNORE, np.int64)
    for row, (prompt, answer) in enumerate(sequences):
        ids = prompt + answer
        tokens[row, : len(ids) - 1] = ids[:-1]
        targets[row, len(prompt) - 1 : len(ids) - 1] = answer
    return PairBatch(np.asarray(indices), tokens, targets, sum(len(p) + len(a) - 1 for p, a in sequences))


def sequence_logps(model: Callable[..., torch.Tensor], batch: PairBatch, device: torch.device) -> torch.Tensor:
    """The log-probability of each sequence's answer [2 x pairs] (fp32)."""
    targets = torch.from_numpy(batch.targets).to(device)
    losses = model(torch.from_numpy(batch.tokens).to(device), targets, reduction="none").float()
    return -(losses * (targets != IGNORE)).sum(-1)


@dataclass(frozen=True)
class DpoLoss:
    beta: float
    label_smoothing: float

    def __call__(self, policy: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean loss over the pairs, and the reported figures as (sum, count), from the log-probabilities
        [2 x pairs] (chosen first) of the policy and the reference."""
        pairs = policy.shape[0] // 2
        rewards = self.beta * (policy - reference).float()
        chosen, rejected = rewards[:pairs], rewards[pairs:]
        margin = chosen - rejected
        e = self.label_smoothing
        losses = -(1 - e) * F.logsigmoid(margin) - e * F.logsigmoid(-margin)
        count = torch.tensor(float(pairs), device=policy.device)
        figures = {
            "dpo/accuracy": (chosen > rejected).float().sum(),
            "dpo/chosen_reward": chosen.detach().sum(),
            "dpo/rejected_reward": rejected.detach().sum(),
            "dpo/margin": margin.detach().sum(),
        }
        return losses.mean(), {key: torch.stack([value, count]) for key, value in figures.items()}


class PairLoader(Position):
    """Batches of `batch_size` pairs in a seeded order per epoch, rank r taking every n-th pair; resumable."""

    def __init__(self, pairs: list[PairIds], batch_size: int, pad_id: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0):  # fmt: skip
        super().__init__(rank, world_size, seed)
        self.pairs, self.batch_size, self.pad_id = pairs, batch_size, pad_id
        self.per_rank = len(pairs) // world_size
        self.batches_per_epoch = self.per_rank // batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"{len(pairs):,} preference pairs: fewer than one batch of {batch_size} for each of "
                             f"{world_size} ranks")  # fmt: skip

    def __iter__(self) -> Iterator[PairBatch]:
        while True:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.pairs))
            mine = order[self.rank :: self.world_size][: self.per_rank]
            while self.step < self.batches_per_epoch:
                indices = mine[self.step * self.batch_size : (self.step + 1) * self.batch_size]
                self.step += 1
                yield pair_batch(self.pairs, indices, self.pad_id)
            self.epoch, self.step = self.epoch + 1, 0


class Reference:
    """The reference log-probabilities: from a frozen model, or looked up after computing them all once."""

    def __init__(self, model: GPT, precompute: bool, pairs: list[PairIds], micro_batch: int, pad_id: int,
                 device: torch.device, autocast: AbstractContextManager):  # fmt: skip
        model.eval().requires_grad_(False)
        self.model: GPT | None = model
        self.table: torch.Tensor | None = None
        self.autocast = autocast
        if precompute:
            self.table = self.all_of(pairs, micro_batch, pad_id, device)
            self.model = None  # dropped: one model in memory from here on

    @torch.no_grad()
    def all_of(self, pairs: list[PairIds], micro_batch: int, pad_id: int, device: torch.device) -> torch.Tensor:
        """[pairs, 2]: the chosen and rejected log-probabilities of every pair, in data-set order."""
        table = torch.empty(len(pairs), 2, dtype=torch.float32, device=device)
        for start in range(0, len(pairs), micro_batch):
            indices = np.arange(start, min(start + micro_batch, len(pairs)))
            table[indices] = self(pair_batch(pairs, indices, pad_id), device).view(2, -1).T
        return table

    @torch.no_grad()
    def __call__(self, batch: PairBatch, device: torch.device) -> torch.Tensor:
        if self.table is not None:
            rows = self.table[torch.from_numpy(batch.indices).to(device)]
            return torch.cat([rows[:, 0], rows[:, 1]])
        assert self.model is not None
        with self.autocast:
            return sequence_logps(self.model, batch, device)


class PreferenceOptimization:
    """The `Job` of `gristmill finetune dpo` (see `train.trainer`)."""

    name = "dpo"

    def __init__(self, model: GPT, reference: Reference, val_reference: Reference | None, train: list[PairIds],
                 val: list[PairIds], loss: DpoLoss, micro_batch: int, global_batch: int, pad_id: int, world: World,
                 seed: int, fingerprint: dict[str, Any], tokenizer: str, eos_id: int | None):  # fmt: skip
        self.model, self.fingerprint, self.tokenizer, self.eos_id = model, fingerprint, tokenizer, eos_id
        self.reference, self.val_reference, self.dpo = reference, val_reference, loss
        self.loader = PairLoader(train, micro_batch, pad_id, world.rank, world.size, seed)
        self.batch_description = f"{global_batch} preference pairs"
        self.world, self.micro_batch, self.pad_id = world, micro_batch, pad_id
        self.val = val  # this rank's share

    def weight(self, batch: PairBatch) -> float:
        return float(len(batch.indices))

    def tokens(self, batch: PairBatch) -> int:
        return batch.real

    def loss(self, trained: Callable[..., torch.Tensor], batch: PairBatch, device: torch.device,
             autocast: AbstractContextManager) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        reference = self.reference(batch, device)
        with autocast:
            policy = sequence_logps(trained, batch, device)
        return self.dpo(policy, reference)

    @torch.no_grad()
    def evaluate(self, model: GPT, autocast: AbstractContextManager) -> dict[str, float]:
        """The loss, reward accuracy and margin on the held-out pairs."""
        was_training = model.training
        model.eval()
        sums = {"loss": 0.0, "dpo/accuracy": 0.0, "dpo/margin": 0.0}
        for start in range(0, len(self.val), self.micro_batch):
            batch = pair_batch(self.val, np.arange(start, min(start + self.micro_batch, len(self.val))), self.pad_id)
            with autocast:
                policy = sequence_logps(model, batch, self.world.device)
            assert self.val_reference is not None  # there are pairs to evaluate
            loss, figures = self.dpo(policy, self.val_reference(batch, self.world.device))
            pairs = len(batch.indices)
            sums["loss"] += float(loss) * pairs
            sums["dpo/accuracy"] += float(figures["dpo/accuracy"][0])
            sums["dpo/margin"] += float(figures["dpo/margin"][0])
        model.train(was_training)
        *totals, pairs = all_sum([*sums.values(), len(self.val)], self.world)
        if not pairs:
            return {}
        return {f"val_{key.removeprefix('dpo/')}": total / pairs for key, total in zip(sums, totals, strict=True)}

    def summary(self, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        first, last = records[0], records[-1]
        accuracy = f"{first.get('dpo/accuracy', math.nan):.3f} -> {last.get('dpo/accuracy', math.nan):.3f}"
        margin = f"{first.get('dpo/margin', math.nan):.4f} -> {last.get('dpo/margin', math.nan):.4f}"
        facts = [("reward accuracy", f"{accuracy} (training pairs, first and last step)"), ("reward margin", margin)]
        evaluated = [r for r in records if "val_accuracy" in r]
        if evaluated:
            held = evaluated[-1]
            facts.append(("validation", f"loss {held['val_loss']:.4f}, reward accuracy {held['val_accuracy']:.3f}, "
                          f"margin {held['val_margin']:.4f}"))  # fmt: skip
        return facts
