"""Validation: loss (nats per token) and bits per byte on the packed val split.

Bits per byte is the loss in a unit that does not depend on the tokenizer: the summed loss of the targets
(in bits) over the UTF-8 bytes those targets stand for. Each token's byte count comes from the tokenizer
the data was packed with; special tokens (EOS) stand for no text, so their targets count in the loss but
not in bits per byte (as in nanochat). The batches are the first `eval_batches` micro-batches of a fixed
order (at most the whole split, each window once), split over the ranks (each takes every n-th window),
and the sums are added over ranks, so the figures do not depend on the world size when `eval_batches` is
a multiple of it.
"""

from __future__ import annotations

import math
from contextlib import AbstractContextManager

import numpy as np
import torch
from torch import nn

from tokenizer import Tokenizer
from train.data import Batches, TokenStream
from train.parallel import World, all_sum


def token_bytes(tokenizer: Tokenizer) -> np.ndarray:
    """UTF-8 byte count of every id, 0 for special tokens."""
    counts = np.zeros(tokenizer.vocab_size, np.int64)
    for token_id, token in tokenizer.vocab.items():
        counts[token_id] = len(token)
    return counts


class Evaluator:
    def __init__(self, packed: str, seq_len: int, micro_batch: int, batches: int, world: World,
                 byte_counts: np.ndarray | None):  # fmt: skip
        self.world = world
        try:
            self.batches: Batches | None = Batches(TokenStream(packed, "val"), seq_len, micro_batch,
                                                   rank=world.rank, world_size=world.size, seed=0)  # fmt: skip
        except (ValueError, KeyError):  # no val split, or too small for one batch per rank
            self.batches = None
        available = self.batches.batches_per_epoch if self.batches else 0
        self.per_rank = min(max(1, math.ceil(batches / world.size)), available)  # each window at most once
        self.byte_counts = None if byte_counts is None else torch.from_numpy(byte_counts).to(world.device)

    @property
    def available(self) -> bool:
        return self.batches is not None

    @torch.no_grad()
    def __call__(self, model: nn.Module, autocast: AbstractContextManager) -> dict[str, float]:
        if self.batches is None:
            return {}
        self.batches.epoch, self.batches.step = 0, 0  # the same windows every time
        was_training = model.training
        model.eval()
        loss_sum = tokens = bits_loss = text_bytes = 0.0
        for _, batch in zip(range(self.per_rank), self.batches, strict=False):
            inputs = torch.from_numpy(batch.inputs).to(self.world.device)
            targets = torch.from_numpy(batch.targets).to(self.world.device)
            with autocast:
                losses = model(inputs, targets, reduction="none").float()
            loss_sum += losses.sum().item()
            tokens += targets.numel()
            if self.byte_counts is not None:
                counts = self.byte_counts[targets]
                bits_loss += losses[counts > 0].sum().item()
                text_bytes += counts.sum().item()
        model.train(was_training)
        loss_sum, tokens, bits_loss, text_bytes = all_sum([loss_sum, tokens, bits_loss, text_bytes], self.world)
        result = {"val_loss": loss_sum / tokens}
        if self.byte_counts is not None and text_bytes:
            result["val_bpb"] = bits_loss / (math.log(2) * text_bytes)
        return result
