"""The trainer tests' data and config: a small packed folder with a learnable structure, and a config file
builder (`--set`-style overrides go through the real loader)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tiny_training import SECTIONS, write_learnable_packed

CONFIG = (
    SECTIONS
    + """
[run]
steps = 8
output = "{output}"
log_every = 4
eval_every = 4
checkpoint_every = 4
"""
)


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    return write_learnable_packed(tmp_path / "packed")


@pytest.fixture
def config_file(tmp_path: Path, packed: Path) -> Callable[[str], Path]:
    """config_file(name): a config writing to tmp_path/name."""

    def make(output: str) -> Path:
        path = tmp_path / f"{output}.toml"
        path.write_text(CONFIG.format(data=packed, output=tmp_path / output))
        return path

    return make
