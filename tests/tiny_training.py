"""The smallest pretraining that still learns: a packed folder with a repeated pattern to learn, and the config
sections every trainer test shares (`[run]` is each test's own)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from packed_factory import write_packed

SECTIONS = """
[model]
preset = "tiny"
kernels = "torch"
overrides = {{ d_model = 32, n_heads = 2, n_kv_heads = 1 }}

[data]
path = "{data}"
seq_len = 32
micro_batch = 4
global_batch = 8

[optim]
lr = 3e-3
warmup = 2
"""


def write_learnable_packed(folder: Path) -> Path:
    """300 training and 60 validation documents: a repeated pattern of 5 tokens, then 3 random ones."""
    rng = np.random.default_rng(0)
    documents = [[5, 6, 7, 8, 9] * int(rng.integers(2, 8)) + list(rng.integers(10, 40, 3)) for _ in range(300)]
    write_packed(folder, documents)
    return write_packed(folder, documents[:60], parts=1, split="val")
