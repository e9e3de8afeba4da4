"""For the evaluation tests: a hand-built scoring model (bytes are tokens, and the next byte's log-probability
depends only on the byte before it, through a fixed table, so its log-likelihoods can be summed by hand), and
the multiple-choice task scored during training and after it."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import torch

from train.eval.models import TokenScorer

PREFIX = 0
TASK_ROWS = [
    {
        "id": "m1",
        "context": "The old miller",
        "choices": ["repaired the mill", "sold the river", "photographed"],
        "gold": 0,
    },
    {
        "id": "m2",
        "context": "In the morning the baker",
        "choices": ["counted the loaves", "questioned the sky"],
        "gold": 0,
    },
    {"id": "m3", "context": "", "choices": ["the shepherd", "a weaver from the hills"], "gold": 1},
]


class ByteBigram(TokenScorer):
    def __init__(self, max_length: int = 64, seed: int = 0, table: np.ndarray | None = None):
        super().__init__("byte-bigram", PREFIX, max_length, torch.device("cpu"), bf16=False)
        chosen = np.random.default_rng(seed).normal(0, 2, (256, 256)) if table is None else table
        self.table = torch.from_numpy(chosen)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def _logits(self, inputs: torch.Tensor, batch_index: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.table[inputs[batch_index, positions]]

    def by_hand(self, tokens: list[int]) -> float:
        """The summed log-probability of tokens[1:] given the token before each."""
        logprobs = torch.log_softmax(self.table, dim=-1)
        return float(sum(logprobs[a, b] for a, b in pairwise(tokens)))
