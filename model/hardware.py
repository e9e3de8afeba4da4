"""Accelerators as planning and MFU need them: dense bf16 tensor-core peak (TFLOP/s, vendor datasheets, no
sparsity) and memory (GiB). Names are matched as substrings of `torch.cuda.get_device_name()`, first match
first, so more specific names come before the names they contain."""

from __future__ import annotations

from typing import NamedTuple


class Accelerator(NamedTuple):
    name: str
    bf16_tflops: float
    memory_gib: float


ACCELERATORS = [
    Accelerator("GB200", 2500.0, 186), Accelerator("B200", 2250.0, 180), Accelerator("GH200", 989.4, 96),
    Accelerator("H200", 989.4, 141), Accelerator("H100 PCIe", 756.0, 80), Accelerator("H100 NVL", 835.0, 94),
    Accelerator("H100", 989.4, 80), Accelerator("H800", 989.4, 80), Accelerator("A100", 312.0, 80),
    Accelerator("A800", 312.0, 80), Accelerator("L40S", 362.0, 48), Accelerator("L40", 181.0, 48),
    Accelerator("L4", 121.0, 24), Accelerator("A10G", 125.0, 24), Accelerator("A10", 125.0, 24),
    Accelerator("RTX 4090", 82.6, 24), Accelerator("RTX 3090", 71.0, 24), Accelerator("V100", 125.0, 32),
]  # fmt: skip


def accelerator(device_name: str) -> Accelerator | None:
    """The table's entry for a device name ("NVIDIA H200", "h100"), or None."""
    lowered = device_name.lower()
    return next((a for a in ACCELERATORS if a.name.lower() in lowered), None)
