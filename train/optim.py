"""The optimizers of a run: AdamW alone, or Muon on the blocks' 2-D weight matrices with AdamW on the rest
(embedding, output head, norm weights), the split modded-nanoGPT and nanochat use: Muon orthogonalises each
matrix's momentum (Newton-Schulz), which only makes sense for hidden matrices, not for lookups or gains.

Both are PyTorch's own (`torch.optim.AdamW`, fused on CUDA; `torch.optim.Muon`). Every parameter group keeps
its peak learning rate under `peak_lr`, so a schedule is one factor applied to all of them, and the groups
travel through checkpoints with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from gristmill_base.errors import UserError
from train.config import OptimSection


@dataclass
class Optimizers:
    parts: list[torch.optim.Optimizer]

    def set_schedule_factor(self, factor: float) -> None:
        for group in self.param_groups():
            group["lr"] = group["peak_lr"] * factor

    def param_groups(self) -> Iterator[dict]:
        for optimizer in self.parts:
            yield from optimizer.param_groups

    def step(self) -> None:
        for optimizer in self.parts:
            optimizer.step()

    def zero_grad(self) -> None:
        for optimizer in self.parts:
            optimizer.zero_grad(set_to_none=True)

    @property
    def adamw_lr(self) -> float:
        return self.parts[-1].param_groups[0]["lr"]


def _is_hidden_matrix(name: str, parameter: nn.Parameter) -> bool:
    return parameter.dim() == 2 and name.startswith("blocks.")


def build_optimizers(model: nn.Module, options: OptimSection, sharded: bool = False) -> Optimizers:
    """Weight decay on matrices (linears, embedding), none on norm weights. `sharded` (FSDP) turns off the fused
    AdamW kernel, which is only used on whole CUDA tensors, and refuses Muon, which needs whole matrices."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    parts: list[torch.optim.Optimizer] = []
    if options.name == "muon":
        if sharded:
            raise UserError("optim.name = 'muon' needs whole matrices: use run.parallel = 'ddp' with it, or AdamW")
        matrices = [p for n, p in named if _is_hidden_matrix(n, p)]
        muon = torch.optim.Muon(matrices, lr=options.muon_lr, momentum=options.muon_momentum,
                                weight_decay=options.muon_weight_decay, adjust_lr_fn="original")  # fmt: skip
        parts.append(muon)
        named = [(n, p) for n, p in named if not _is_hidden_matrix(n, p)]
    decay = [p for _, p in named if p.dim() >= 2]
    rest = [p for _, p in named if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": options.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    fused = True if all(p.is_cuda for _, p in named) and not sharded else None  # None: PyTorch's default (foreach)
    parts.append(torch.optim.AdamW(groups, lr=options.lr, betas=tuple(options.betas), fused=fused))
    for optimizer in parts:
        for group in optimizer.param_groups:
            group["peak_lr"] = group["lr"]
    return Optimizers(parts)
