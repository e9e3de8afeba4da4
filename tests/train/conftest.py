"""The trainer tests' data and config: a small packed folder with a learnable structure, and a config file
builder (`--set`-style overrides go through the real loader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from packed_factory import write_packed

CONFIG = """
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

[run]
steps = 8
output = "{output}"
log_every = 4
eval_every = 4
checkpoint_every = 4
"""


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    pattern = [5, 6, 7, 8, 9]  # a learnable, repeated structure
    documents = [pattern * int(rng.integers(2, 8)) + list(rng.integers(10, 40, 3)) for _ in range(300)]
    write_packed(tmp_path / "packed", documents)
    return write_packed(tmp_path / "packed", documents[:60], parts=1, split="val")


@pytest.fixture
def config_file(tmp_path: Path, packed: Path) -> Callable[[str], Path]:
    """config_file(name): a config writing to tmp_path/name."""

    def make(output: str) -> Path:
        path = tmp_path / f"{output}.toml"
        path.write_text(CONFIG.format(data=packed, output=tmp_path / output))
        return path

    return make
