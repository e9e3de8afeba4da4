"""Validation: loss (nats per token) and bits per byte on the packed val split.

Bits per byte is the loss in a unit that does not depend on the tokenizer: the summed loss of the targets
(in bits) over the UTF-8 bytes those targets stand for. Each token's byte count comes from the tokenizer
the data was packed with; special tokens (EOS) stand for no text, so their targets count in the loss but
not in bits per byte (as in nanochat).

The windows are the first `eval_sequences` of one fixed order (at most the whole split, each window once),
split over the ranks (each takes every n-th), run `micro_batch` at a time, and the sums are added over
ranks: so the figures depend on neither the micro batch nor the world size (when `eval_sequences` is a
multiple of it).
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
from train.windows import window_masks


def unigram_entropy(stream: TokenStream, vocab_size: int, limit: int = 100_000_000) -> float:
    """Entropy (nats per token) of the token frequencies of the first `limit` tokens: the loss of the best
    model that ignores context, the baseline a trained model's validation loss should end well below."""
    counts = np.zeros(vocab_size, np.int64)
    remaining = limit
    for part in stream.parts:
        if remaining <= 0:
            break
        counts += np.bincount(part[:remaining], minlength=vocab_size)[:vocab_size]
        remaining -= len(part)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def token_bytes(tokenizer: Tokenizer) -> np.ndarray:
    """UTF-8 byte count of every id, 0 for special tokens."""
    counts = np.zeros(tokenizer.vocab_size, np.int64)
    for token_id, token in tokenizer.vocab.items():
        counts[token_id] = len(token)
    counts[list(tokenizer.special_ids.values())] = 0  # where a vocabulary also lists them (GPT-2)
    return counts


class Evaluator:
    def __init__(self, packed: str, seq_len: int, micro_batch: int, sequences: int, world: World,
                 byte_counts: np.ndarray | None, masked: bool = False, restart: bool = False):  # fmt: skip
        """`masked` / `restart`: evaluate as `data.document_mask` / `data.document_positions` train."""
        self.world, self.micro_batch, self.restart = world, micro_batch, restart
        try:  # windows one at a time in the seeded order, this rank's share
            self.windows: Batches | None = Batches(TokenStream(packed, "val"), seq_len, 1, rank=world.rank,
                                                   world_size=world.size, seed=0, documents=masked)  # fmt: skip
        except (ValueError, KeyError):  # no val split, or too small for one window per rank
            self.windows = None
        whole_split = self.windows.batches_per_epoch if self.windows else 0
        self.per_rank = min(math.ceil(sequences / world.size), whole_split)
        self.byte_counts = None if byte_counts is None else torch.from_numpy(byte_counts).to(world.device)

    @torch.no_grad()
    def __call__(self, model: nn.Module, autocast: AbstractContextManager) -> dict[str, float]:
        if self.windows is None:
            return {}
        self.windows.epoch, self.windows.step = 0, 0  # the same windows every time
        windows = [w for _, w in zip(range(self.per_rank), self.windows, strict=False)]
        was_training = model.training
        model.eval()
        sums = torch.zeros(3, dtype=torch.float64, device=self.world.device)  # loss, loss on text, text bytes
        tokens = 0
        for start in range(0, len(windows), self.micro_batch):  # no host sync until the end
            group = windows[start : start + self.micro_batch]
            inputs = torch.from_numpy(np.concatenate([w.inputs for w in group])).to(self.world.device)
            targets = torch.from_numpy(np.concatenate([w.targets for w in group])).to(self.world.device)
            masked = group[0].documents is not None
            documents = np.concatenate([w.input_documents for w in group]) if masked else None
            with autocast:
                masks = window_masks(documents, self.world.device, self.restart)
                losses = model(inputs, targets, reduction="none", **masks).float()
            sums[0] += losses.sum()
            tokens += targets.numel()
            if self.byte_counts is not None:
                counts = self.byte_counts[targets]
                sums[1] += losses[counts > 0].sum()
                sums[2] += counts.sum()
        loss_sum, bits_loss, text_bytes = sums.tolist()
        model.train(was_training)
        loss_sum, tokens, bits_loss, text_bytes = all_sum([loss_sum, tokens, bits_loss, text_bytes], self.world)
        result = {"val_loss": loss_sum / tokens}
        if self.byte_counts is not None and text_bytes:
            result["val_bpb"] = bits_loss / (math.log(2) * text_bytes)
        return result
