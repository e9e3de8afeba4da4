"""Where a run executes: the process group under `torchrun`, this rank's device, and the model's wrapping
for data parallelism (DDP, or FSDP2 `fully_shard` per block for models that do not fit one GPU).

Checkpoints hold whole tensors whatever the wrapping: `full_state` gathers them (a collective under FSDP, so
every rank calls it) and `load_full_state` gives every rank the whole tensors to keep its own shard of, via
`torch.distributed.checkpoint.state_dict`, so the weights of a run saved under FSDP load into one
unsharded model (`gristmill generate`, exports) and back.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.nn.parallel import DistributedDataParallel

from train.optim import Optimizers

T = TypeVar("T")
WHOLE = StateDictOptions(full_state_dict=True, cpu_offload=True)


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def join_world() -> World:
    """This process's rank and device, joining the torchrun group (NCCL on GPU, gloo on CPU) when there is one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", device_id=device if device.type == "cuda" else None
        )
    return World(dist.get_rank() if size > 1 else 0, size, device)


def leave_world(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, world: World, parallel: str) -> nn.Module:
    """The module to call for training steps: the model itself, DDP around it, or the model sharded in place."""
    if parallel == "fsdp" and world.size > 1:
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
        return model
    if world.size > 1:
        device_ids = [world.device.index] if world.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids, gradient_as_bucket_view=True)  # no 2nd copy
    return model


def gradient_sync(trained: nn.Module, sync: bool) -> AbstractContextManager:
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulated step."""
    if isinstance(trained, DistributedDataParallel) and not sync:
        return trained.no_sync()
    if hasattr(trained, "set_requires_gradient_sync"):  # FSDP2
        trained.set_requires_gradient_sync(sync)
    return nullcontext()


def full_state(model: nn.Module, optimizers: Optimizers) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Whole model and optimizer state on CPU (on rank 0; other ranks of a sharded model get empty dicts)."""
    return (
        get_model_state_dict(model, options=WHOLE),
        get_optimizer_state_dict(model, optimizers.parts, options=WHOLE),
    )


def load_full_state(
    model: nn.Module, optimizers: Optimizers | None, weights: dict[str, torch.Tensor], optimizer: dict | None
) -> None:
    """Put whole tensors into a (possibly sharded) model and its optimizers; ValueError if they do not fit."""
    try:
        set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True))
    except (RuntimeError, KeyError) as error:
        raise ValueError(f"weights do not match the model: {error}") from None
    if optimizers is not None and optimizer is not None:
        try:
            set_optimizer_state_dict(model, optimizers.parts, optimizer, options=StateDictOptions(full_state_dict=True))
        except (RuntimeError, KeyError, ValueError) as error:
            raise ValueError(f"optimizer state does not match this model and optimizer: {error}") from None


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sum over ranks (the values themselves on one process)."""
    if world.size == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=world.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def rank_share(items: list[T], world: World) -> list[T]:
    """This rank's every n-th item, of a list cut to a multiple of the world size: every rank the same number
    (under FSDP each forward pass is collective, so ranks must make the same number of them)."""
    even = len(items) - len(items) % world.size
    return items[:even][world.rank :: world.size]
