"""`gristmill plan`: what a training run will take before it runs: parameters, training FLOPs, the
Chinchilla-optimal token count, memory per GPU, and time at a given MFU.

- FLOPs: `GPTConfig.flops_per_token` (6 x matmul parameters per token, plus causal attention), times tokens.
- Chinchilla-optimal tokens: 20 per parameter (Hoffmann et al. 2022, the compute-optimal ratio).
- Memory per GPU, as gristmill's trainer holds it on CUDA (bf16 autocast over fp32 weights):
  - weights 4 B and gradients 4 B per parameter; AdamW keeps two fp32 moments (8 B), Muon one momentum (4 B)
    for the blocks' matrices and AdamW's two for the rest; under FSDP these are divided over the GPUs, plus
    the gathered weights of the block being computed and the next (prefetch), and the root's own weights
    (embedding, head), which FSDP2 keeps gathered, with their whole gradients;
  - the bf16 copies of the blocks' matrices that autocast makes and the linears keep for backward (2 B per
    matrix weight, whole even under FSDP; one block's with activation checkpointing);
  - activations kept for backward, per token of a micro-batch, counted from what the autograd graph saves
    with the Triton kernels and flash attention: per layer the two norms' fp32 inputs (2 x 4d), the bf16
    inputs of the q, k, v, gate and up projections as autocast casts them (5 x 2d; 4 x 2d for ReLU^2), q and
    k before their norms (with QK-norm) and q, k, v, the attention output and its reshaped copy (2d + 2kv,
    2d + 4kv, 4d),
    the MLP's two (one) hidden outputs and the down projection's input (6h; 4h), plus 4 B per head and per
    norm; outside the blocks, the final norm's input and the loss's input gradient (6d). With activation
    checkpointing a layer keeps only its fp32 input (4d) and one layer's full set exists during its backward;
  - the fused loss's workspace: one chunk of fp32 logits (at most 256 MiB) and its bf16 copy, and the
    output weight's gradient sum (fp32) and chunk product (bf16).
  These are estimates; allocator fragmentation and CUDA / NCCL workspaces (often 1 to 3 GiB) come on top.
- Time: training FLOPs / (GPUs x peak bf16 FLOP/s x MFU).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from model.config import GPTConfig
from model.hardware import Accelerator

CHINCHILLA_TOKENS_PER_PARAMETER = 20
LOSS_CHUNK_BYTES = 256 << 20
GIB = 1 << 30


def parse_count(text: str) -> int:
    """'10B', '300M', '2.5e9', '1_000_000' -> an int."""
    match = re.fullmatch(r"\s*([0-9_.]+(?:e[0-9]+)?)\s*([kKmMbBtT]?)\s*", text)
    if not match:
        raise ValueError(f"{text!r}: expected a number like 10B, 300M or 2.5e9")
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2).lower()]
    try:
        count = round(float(match.group(1).replace("_", "")) * scale)
    except ValueError:
        raise ValueError(f"{text!r}: expected a number like 10B, 300M or 2.5e9") from None
    if count < 1:
        raise ValueError(f"{text!r}: must be at least 1")
    return count


@dataclass(frozen=True)
class Plan:
    config: GPTConfig
    accelerator: Accelerator
    tokens: int | None = None  # None: Chinchilla-optimal
    gpus: int = 1
    mfu: float = 0.4
    micro_batch: int = 8  # sequences per GPU per forward pass
    optimizer: Literal["adamw", "muon"] = "adamw"
    parallel: Literal["ddp", "fsdp"] = "ddp"

    @property
    def parameters(self) -> int:
        return self.config.parameters()

    @property
    def chinchilla_tokens(self) -> int:
        return CHINCHILLA_TOKENS_PER_PARAMETER * self.parameters

    @property
    def training_tokens(self) -> int:
        return self.tokens if self.tokens is not None else self.chinchilla_tokens

    @property
    def training_flops(self) -> int:
        return self.config.flops_per_token() * self.training_tokens

    @property
    def seconds(self) -> float:
        return self.training_flops / (self.gpus * self.accelerator.bf16_tflops * 1e12 * self.mfu)

    def matrix_parameters(self) -> int:
        """The blocks' 2-D weights (Muon's share)."""
        return self.config.n_layers * self.config.block_matrix_parameters()

    def layer_activation_bytes(self) -> int:
        """Bytes one layer keeps for backward per token (see the module docstring)."""
        c = self.config
        d, kv, h = c.d_model, c.kv_heads * c.head_dim, c.hidden
        mlp = 4 * d + 6 * h if c.mlp == "swiglu" else 2 * d + 4 * h
        qk_norm_inputs = 2 * d + 2 * kv if c.qk_norm else 0
        return 8 * d + 6 * d + qk_norm_inputs + (6 * d + 4 * kv) + mlp + 4 * c.n_heads + 16

    def memory(self, checkpointing: bool) -> dict[str, int]:
        """Bytes per GPU by kind, and their total."""
        c, p = self.config, self.parameters
        optimizer = (
            8 * p if self.optimizer == "adamw" else 4 * self.matrix_parameters() + 8 * (p - self.matrix_parameters())
        )
        state = {"weights": 4 * p, "gradients": 4 * p, "optimizer": optimizer}
        if self.parallel == "fsdp":
            state = {k: -(-v // self.gpus) for k, v in state.items()}
            state["gathered blocks"] = 2 * 4 * c.block_parameters()
            root = c.vocab_size * c.d_model * (1 if c.tie_embeddings else 2) + c.d_model
            state["gathered root"] = 8 * root
        matrices = self.matrix_parameters()
        state["bf16 weight copies"] = 2 * (matrices // c.n_layers if checkpointing else matrices)
        tokens = self.micro_batch * c.seq_len
        layer = self.layer_activation_bytes()
        kept = c.n_layers * 4 * c.d_model + layer if checkpointing else c.n_layers * layer
        activations = tokens * (kept + 6 * c.d_model)
        chunk = min(LOSS_CHUNK_BYTES, tokens * c.vocab_size * 4)
        loss = chunk + chunk // 2 + 6 * c.vocab_size * c.d_model
        parts = {**state, "activations": activations, "loss workspace": loss}
        return {**parts, "total": sum(parts.values())}
