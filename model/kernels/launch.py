"""How many programs a row-wise kernel launches: enough to fill a GPU, few under the Triton interpreter
(which runs programs one after another on the CPU)."""

from __future__ import annotations

import math
import os

import torch
import triton.language as tl


def interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


def row_programs(rows: int, device: torch.device) -> tuple[int, int]:
    """(programs, rows per program) covering `rows`."""
    if device.type == "cuda" and not interpreting():
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    else:
        target = 4
    programs = max(1, min(rows, target))
    return programs, math.ceil(rows / programs) if rows else 1


def row_warps(block: int) -> int:
    """Warps for a program that holds one row of `block` elements: wide rows need more to keep loads in flight."""
    return 4 if block < 2048 else 8 if block < 8192 else 16


def accumulator(tensor: torch.Tensor) -> tuple[torch.dtype, tl.dtype]:
    """The dtype kernels compute in: fp32, or fp64 for fp64 inputs (so gradcheck applies)."""
    return (torch.float64, tl.float64) if tensor.dtype == torch.float64 else (torch.float32, tl.float32)
