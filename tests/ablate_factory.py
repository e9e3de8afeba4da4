"""For the ablation tests: the small training config every compared run shares, and the command line."""

from __future__ import annotations

from pathlib import Path

CONFIG = """
[model]
preset = "tiny"
kernels = "torch"
overrides = { d_model = 64, n_layers = 2, n_heads = 4, n_kv_heads = 2 }

[data]
seq_len = 64
micro_batch = 8
global_batch = 8

[optim]
lr = 3e-3
"""


def ablate_args(inputs: Path, output: Path, *extra: str, repeat: bool = True) -> list[str]:
    """`gristmill ablate` of the two runs in `inputs` (the Gopher run is smaller than the budget: `repeat`)."""
    runs = [str(inputs / "runs" / "quickstart"), str(inputs / "runs" / "gopher")]
    return ["ablate", *runs, "--output", str(output), "--tokens", "32k", "--config", str(inputs / "small.toml"),
            "--vocab-size", "512", "--held-out", "5", "--task", str(inputs / "task.jsonl"),
            *(["--allow-repeat"] if repeat else []), *extra]  # fmt: skip
