"""The model's fused operations, chosen with one switch. `reference` holds the plain PyTorch versions,
which define what every kernel must compute (forward and backward); the Triton kernels are in this
package's other modules. `kernels_for("auto")` is Triton on CUDA and the reference elsewhere; "triton"
also runs on CPU under the Triton interpreter (TRITON_INTERPRET=1), which is how the tests run it."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from model.kernels import reference


@dataclass(frozen=True)
class Kernels:
    name: str
    rms_norm: Callable[..., torch.Tensor]
    rope_qk: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    swiglu: Callable[..., torch.Tensor]
    relu2: Callable[..., torch.Tensor]
    linear_cross_entropy: Callable[..., torch.Tensor]


def _reference_rope_qk(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
    return reference.rope(q, cos, sin), reference.rope(k, cos, sin)


TORCH = Kernels("torch", reference.rms_norm, _reference_rope_qk, reference.swiglu, reference.relu2,
                reference.linear_cross_entropy)  # fmt: skip


def kernels_for(choice: str) -> Kernels:
    """ "triton": every fused kernel; "triton-ce": the reference's elementwise operations (for `torch.compile`,
    which fuses those itself) with the Triton linear + cross-entropy (which it cannot: the logits' memory);
    "torch": the reference; "auto": Triton on CUDA, the reference elsewhere.

    The Triton functions are hidden from `torch.compile` (`torch.compiler.disable`): a compiled model calls
    them as they are, between its compiled graphs, instead of tracing their launch code."""
    if choice == "torch":
        return TORCH
    has_triton = importlib.util.find_spec("triton") is not None
    if choice == "auto" and not (has_triton and torch.cuda.is_available()):
        return TORCH
    if not (has_triton and (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1")):
        raise ValueError(f"kernels = {choice!r} needs the triton package and a CUDA device (or TRITON_INTERPRET=1)")
    from model.kernels.activations import relu2, swiglu
    from model.kernels.cross_entropy import linear_cross_entropy
    from model.kernels.rmsnorm import rms_norm
    from model.kernels.rope import rope_qk

    hidden = torch.compiler.disable
    if choice == "triton-ce":
        return replace(TORCH, name="triton-ce", linear_cross_entropy=hidden(linear_cross_entropy))
    return Kernels("triton", hidden(rms_norm), hidden(rope_qk), hidden(swiglu), hidden(relu2),
                   hidden(linear_cross_entropy))  # fmt: skip
