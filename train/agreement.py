"""Decisions the ranks of a torchrun world take together. A step that fails on one rank fails on every rank, with
the same line: a rank that went on alone would wait forever in the next collective for the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from gristmill_base.errors import UserError
from train.parallel import World, all_sum

T = TypeVar("T")


def agreed(action: Callable[[], T], world: World, subject: str) -> T:
    """`action()` on every rank. Where it raises on any rank, every rank raises the same UserError: the lowest
    such rank's line (a UserError's own; anything else as `subject: Type: message`, on one line)."""
    refusal: str | None = None
    try:
        result = action()
    except UserError as error:
        refusal = str(error) or f"{subject}: refused"
    except Exception as error:  # any failure is every rank's: none may go on alone
        refusal = f"{subject}: {type(error).__name__}: {' '.join(str(error).split())}"
    refusal = _first_refusal(refusal, world)
    if refusal is not None:
        raise UserError(refusal)
    return result


def same_on_every_rank(value: int, world: World) -> bool:
    """Whether every rank holds the same `value`: over n ranks the sum is n v and the sum of squares n v² only
    when all are v (a sum alone lets the middle one of 0, 10, 20 pass)."""
    total, squares = all_sum([float(value), float(value) ** 2], world)
    return total == value * world.size and squares == value**2 * world.size


def _first_refusal(refusal: str | None, world: World) -> str | None:
    """The refusal of the lowest rank that has one, on every rank; None where no rank has."""
    if world.size == 1:
        return refusal
    lowest = torch.tensor([world.size if refusal is None else world.rank], dtype=torch.int64, device=world.device)
    dist.all_reduce(lowest, op=dist.ReduceOp.MIN)
    source = int(lowest.item())
    if source == world.size:
        return None
    encoded = (refusal or "").encode("utf-8")
    length = torch.tensor([len(encoded)], dtype=torch.int64, device=world.device)
    dist.broadcast(length, src=source)
    if world.rank == source:
        text = torch.frombuffer(bytearray(encoded), dtype=torch.uint8).to(world.device)
    else:
        text = torch.empty(int(length.item()), dtype=torch.uint8, device=world.device)
    dist.broadcast(text, src=source)
    return bytes(text.cpu().tolist()).decode("utf-8", "replace")
