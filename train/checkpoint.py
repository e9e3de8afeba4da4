"""Checkpoints (docs/formats.md): `CKPT/step-NNNNNN/` with `model.safetensors`, `config.json` (model config
and tokenizer fingerprint), `optimizer.pt` (plain tensors only, read with `weights_only=True`) and
`state.json` (step, RNG states, data position), plus a `latest` file naming the newest complete step.

A checkpoint is written into a temporary folder and renamed into place, and `latest` is rewritten
atomically after that, so a run killed at any moment leaves the previous checkpoint intact. Older steps
beyond `keep_last` are deleted only after the new one is in place. Nothing is unpickled from disk.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, load_model, save_file

from gristmill_base.atomic import folder_atomic, write_json_atomic, write_text_atomic
from model.config import GPTConfig
from model.gpt import GPT

STEP_PREFIX = "step-"


@dataclass
class Loaded:
    step: int
    config: dict[str, Any]
    state: dict[str, Any]
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None


def step_dir(root: Path, step: int) -> Path:
    return root / f"{STEP_PREFIX}{step:06d}"


def rng_state() -> dict[str, Any]:
    """Every random generator a run draws from, as JSON-safe values."""
    state = {
        "python": base64.b64encode(json.dumps(random.getstate()).encode()).decode(),
        "numpy": base64.b64encode(json.dumps(_numpy_state()).encode()).decode(),
        "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
    }
    if torch.cuda.is_available():  # this process's device only: a run may resume on another number of GPUs
        state["cuda"] = base64.b64encode(torch.cuda.get_rng_state().numpy().tobytes()).decode()
    return state


def _numpy_state() -> list[Any]:
    kind, keys, position, has_gauss, cached = np.random.get_state()
    return [kind, keys.tolist(), position, has_gauss, cached]


def restore_rng(state: dict[str, Any]) -> None:
    python = json.loads(base64.b64decode(state["python"]))
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, keys, position, has_gauss, cached = json.loads(base64.b64decode(state["numpy"]))
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
    torch.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(state["torch"])), dtype=torch.uint8))
    if isinstance(state.get("cuda"), str) and torch.cuda.is_available():
        torch.cuda.set_rng_state(torch.frombuffer(bytearray(base64.b64decode(state["cuda"])), dtype=torch.uint8))


def save(
    root: Path,
    step: int,
    weights: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    config: dict[str, Any],
    state: dict[str, Any],
    keep_last: int = 3,
) -> Path:
    """Write step `step` (whole tensors, see `train.parallel.full_state`) atomically, point `latest` at it, then
    drop all but the newest `keep_last`."""
    final = step_dir(root, step)
    with folder_atomic(final) as work:
        save_file({name: tensor.contiguous() for name, tensor in weights.items()}, str(work / "model.safetensors"))
        torch.save(optimizer, work / "optimizer.pt")
        write_json_atomic(work / "config.json", config)
        write_json_atomic(work / "state.json", {**state, "step": step, "rng": rng_state()})
    write_text_atomic(root / "latest", final.name + "\n")
    steps = sorted(p for p in root.glob(f"{STEP_PREFIX}*") if p.is_dir())
    for old in steps[: max(len(steps) - keep_last, 0)]:
        shutil.rmtree(old)
    return final


def latest(root: Path) -> Path | None:
    pointer = root / "latest"
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    return folder if folder.is_dir() else None


def load(folder: Path, with_optimizer: bool = True) -> Loaded:
    """Read a step folder (whole tensors on CPU) and restore the RNG states; ValueError naming the file for
    anything missing or damaged. `train.parallel.load_full_state` puts the tensors into a model."""
    config, state = read_meta(folder)
    try:
        weights = load_file(str(folder / "model.safetensors"))
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{folder / 'model.safetensors'}: cannot be read: {error}") from None
    optimizer = None
    if with_optimizer:
        try:
            optimizer = torch.load(folder / "optimizer.pt", weights_only=True, map_location="cpu")
        except Exception as error:  # torch raises several types for a damaged or foreign file, over several lines
            raise ValueError(f"{folder / 'optimizer.pt'}: cannot be loaded: {type(error).__name__}: "
                             f"{' '.join(str(error).split())}") from None  # fmt: skip
    restore_rng(state["rng"])
    return Loaded(state["step"], config, state, weights, optimizer)


def read_meta(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.json and state.json of a complete step folder, the tensors left unread; ValueError naming the file
    for anything missing or damaged."""
    for name in ("model.safetensors", "config.json", "state.json", "optimizer.pt"):
        if not (folder / name).is_file():
            raise ValueError(f"{folder}: checkpoint incomplete, {name} missing")
    try:
        config = json.loads((folder / "config.json").read_text())
        state = json.loads((folder / "state.json").read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{folder}: a JSON file of the checkpoint is damaged: {error}") from None
    if not isinstance(config, dict) or not isinstance(state, dict) or not isinstance(state.get("step"), int):
        raise ValueError(f"{folder}: config.json or state.json is not a gristmill checkpoint's")
    return config, state


def step_folder(path: Path) -> Path:
    """A step folder itself, or the one `latest` names in a run's output folder; ValueError otherwise."""
    if (path / "model.safetensors").is_file():
        return path
    folder = latest(path)
    if folder is None:
        raise ValueError(f"{path}: not a checkpoint (no model.safetensors) nor a training output with `latest`")
    return folder


def read_model(path: Path, device: torch.device | str = "cpu") -> tuple[GPT, dict[str, Any], Path]:
    """The trained model of a checkpoint (step folder or training output) in eval mode, its config.json and its
    folder; kernels as `auto` picks them here. ValueError naming the file for anything missing or damaged."""
    folder = step_folder(path)
    try:
        config = json.loads((folder / "config.json").read_text())
        model = GPT(GPTConfig(**{**config["model"], "kernels": "auto"}))
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{folder / 'config.json'}: not a gristmill checkpoint config: {error}") from None
    try:
        load_model(model, str(folder / "model.safetensors"), device=str(device))
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{folder / 'model.safetensors'}: cannot be read into its config's model: {error}") from None
    return model.to(device).eval(), config, folder
