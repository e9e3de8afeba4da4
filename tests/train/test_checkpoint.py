"""Checkpoints: exact round trip of weights, optimizer and RNG, keep-last-N with a `latest` pointer,
atomic replacement, and clear errors for missing or damaged files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from model.config import preset
from model.gpt import GPT
from train import checkpoint
from train.optim import Optimizers
from train.parallel import full_state, load_full_state


def save(root: Path, step: int, model: GPT, optimizer: torch.optim.Optimizer, config: dict, state: dict,
         keep_last: int = 3) -> Path:  # fmt: skip
    return checkpoint.save(root, step, *full_state(model, Optimizers([optimizer])), config, state, keep_last)


def load(folder: Path, model: GPT, optimizer: torch.optim.Optimizer | None = None) -> checkpoint.Loaded:
    loaded = checkpoint.load(folder, with_optimizer=optimizer is not None)
    load_full_state(model, optimizer and Optimizers([optimizer]), loaded.weights, loaded.optimizer)
    return loaded


def trained_pair(steps: int = 3) -> tuple[GPT, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = GPT(preset("tiny", tie_embeddings=True))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 512, (2, 17))
    for _ in range(steps):
        loss = model(tokens[:, :-1], tokens[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, optimizer


def test_round_trip_restores_weights_optimizer_and_random_state(tmp_path: Path) -> None:
    model, optimizer = trained_pair()
    folder = save(tmp_path, 3, model, optimizer, {"model": {"d_model": 64}}, {"data": {"epoch": 0}})
    expected_draws = (random.random(), np.random.rand(), torch.rand(3))
    fresh = GPT(preset("tiny", tie_embeddings=True))
    fresh_optimizer = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    loaded = load(folder, fresh, fresh_optimizer)
    assert loaded.step == 3 and loaded.state["data"] == {"epoch": 0} and loaded.config["model"]["d_model"] == 64
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    state_a, state_b = optimizer.state_dict()["state"], fresh_optimizer.state_dict()["state"]
    assert all(torch.equal(state_a[k]["exp_avg"], state_b[k]["exp_avg"]) for k in state_a)
    assert (random.random(), np.random.rand()) == expected_draws[:2] and torch.equal(torch.rand(3), expected_draws[2])


def test_keep_last_and_latest(tmp_path: Path) -> None:
    model, optimizer = trained_pair(1)
    for step in (10, 20, 30, 40):
        save(tmp_path, step, model, optimizer, {}, {}, keep_last=2)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-000030", "step-000040"]
    assert checkpoint.latest(tmp_path) == tmp_path / "step-000040"
    assert not list(tmp_path.glob(".*.tmp"))


def test_missing_or_damaged_files_are_clear_errors(tmp_path: Path) -> None:
    model, optimizer = trained_pair(1)
    folder = save(tmp_path, 5, model, optimizer, {}, {})
    (folder / "optimizer.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"optimizer\.pt: cannot be loaded"):
        load(folder, model, optimizer)
    (folder / "model.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match=r"model\.safetensors: cannot be read"):
        load(folder, model)
    (folder / "state.json").unlink()
    with pytest.raises(ValueError, match=r"state\.json missing"):
        load(folder, model)
    other = GPT(preset("tiny", d_model=32, n_heads=4))
    good = save(tmp_path, 6, model, optimizer, {}, {})
    with pytest.raises(ValueError, match=r"do not match"):
        load(good, other)
