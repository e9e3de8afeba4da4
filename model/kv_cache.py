"""The key/value cache for generation: per layer, the keys and values of every position fed so far, so each
new token costs one position's work instead of the whole prefix's.

Prompts of different lengths share one batch by left padding: row i starts with `pads[i]` filler slots.
Positions (for RoPE) count from each row's first real token, and the attention mask lets a query see the
real keys at or before its slot; a filler query sees only itself (its output is never used, but a row with
nothing to attend to would be NaN).
"""

from __future__ import annotations

import torch

from model.config import GPTConfig


class KVCache:
    def __init__(self, config: GPTConfig, pads: torch.Tensor, capacity: int, dtype: torch.dtype):
        if capacity > config.seq_len:
            raise ValueError(f"{capacity} positions exceed the model's context of {config.seq_len}")
        shape = (config.n_layers, len(pads), config.kv_heads, capacity, config.head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=pads.device)
        self.values = torch.zeros(shape, dtype=dtype, device=pads.device)
        self.pads, self.filled, self.mask = pads, 0, torch.empty(0, dtype=torch.bool)

    def begin(self, length: int) -> torch.Tensor:
        """Prepare to feed `length` more slots: their positions [batch, length], and the mask for this step."""
        device = self.pads.device
        slots = torch.arange(self.filled, self.filled + length, device=device)
        keys = torch.arange(self.filled + length, device=device)
        causal = keys[None, :] <= slots[:, None]  # [length, keys]
        real = keys[None, :] >= self.pads[:, None]  # [batch, keys]
        itself = keys[None, :] == slots[:, None]
        self.mask = ((causal[None] & real[:, None, :]) | itself[None])[:, None]  # [batch, 1, length, keys]
        return (slots[None, :] - self.pads[:, None]).clamp(min=0)

    def extend(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's k, v [batch, kv_heads, length, head_dim] for `layer`; all keys and values so far."""
        end = self.filled + k.shape[2]
        self.keys[layer, :, :, self.filled : end] = k
        self.values[layer, :, :, self.filled : end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, length: int) -> None:
        self.filled += length
