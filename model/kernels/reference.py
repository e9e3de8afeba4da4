"""Plain PyTorch versions of the operations the model fuses: the definitions faster kernels are tested
against, and what runs where no faster kernel applies. Math in fp32, results in the input dtype."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
    if weight is not None:
        normed = normed * weight.float()
    return normed.to(x.dtype)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (first half, second half) of the last dim of x [batch, heads, seq, head_dim] by the
    angles whose cos / sin are [seq, head_dim / 2]."""
    half = x.shape[-1] // 2
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return rotated.to(x.dtype)


def swiglu(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return (F.silu(gate.float()) * up.float()).to(gate.dtype)


def relu2(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x.float()).square().to(x.dtype)


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    softcap: float | None = None,
    z_loss: float = 0.0,
) -> torch.Tensor:
    """Mean cross-entropy of `hidden @ weight.T` (optionally soft-capped) against `targets`, plus
    `z_loss * logsumexp^2`, over the tokens whose target is not `ignore_index`."""
    logits = (hidden @ weight.T).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    logits, targets = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
    keep = targets != ignore_index
    loss = F.cross_entropy(logits, targets, ignore_index=ignore_index, reduction="sum")
    if z_loss:
        loss = loss + z_loss * (torch.logsumexp(logits, dim=-1)[keep] ** 2).sum()
    return loss / keep.sum().clamp(min=1)


def token_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    ignore_index: int = -100,
    softcap: float | None = None,
    chunk_bytes: int = 256 << 20,
) -> torch.Tensor:
    """Per-token cross-entropy (fp32, shaped like `targets`, 0 where ignored) of `hidden @ weight.T`, computed a
    chunk of tokens at a time so the [tokens x vocab] logits are never held whole: in evaluation, and with
    gradients too (DPO's sequence log-probabilities), where each chunk's logits are recomputed in backward
    instead of kept."""
    h, t = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
    chunk = max(1, chunk_bytes // (4 * weight.shape[0]))
    keep_graph = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    parts = []
    for start in range(0, len(t), chunk):
        piece = (h[start : start + chunk], weight, t[start : start + chunk], ignore_index, softcap)
        parts.append(checkpoint(_chunk_losses, *piece, use_reentrant=False) if keep_graph else _chunk_losses(*piece))
    return torch.cat(parts).view(targets.shape) if parts else torch.zeros(targets.shape, device=hidden.device)


def _chunk_losses(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, ignore_index: int,
                  softcap: float | None) -> torch.Tensor:  # fmt: skip
    logits = (h @ weight.T).float()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    return F.cross_entropy(logits, targets, ignore_index=ignore_index, reduction="none")
