"""A compact decoder-only GPT: token embedding, pre-norm blocks (RMSNorm, RoPE attention through
`F.scaled_dot_product_attention` or, within packed documents, `model.attention`; optional QK-norm and
grouped-query attention, SwiGLU or ReLU^2 MLP), a final RMSNorm and a tied or separate output head with an
optional logit soft-cap.

Initialisation (documented because results depend on it): every linear and the embedding ~ N(0, 0.02);
the two projections that write into the residual stream (attention output, MLP down) ~ N(0, 0.02 /
sqrt(2 * n_layers)), so the residual's variance does not grow with depth (GPT-2); norm weights 1.
No biases anywhere.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from model.attention import DocumentAttention
from model.config import GPTConfig
from model.kernels import Kernels, kernels_for, reference
from model.kv_cache import KVCache

INIT_STD = 0.02


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float, ops: Kernels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps, self.ops = eps, ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ops.rms_norm(x, self.weight, self.eps)


def rope_tables(seq_len: int, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin [seq_len, head_dim / 2] of the rotation angles position * theta^(-2i / head_dim)."""
    frequencies = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), frequencies)
    return angles.cos().float(), angles.sin().float()


class Attention(nn.Module):
    def __init__(self, config: GPTConfig, ops: Kernels):
        super().__init__()
        self.config, self.ops = config, ops
        d, kv = config.d_model, config.kv_heads * config.head_dim
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv, bias=False)
        self.v = nn.Linear(d, kv, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.q_norm = RMSNorm(config.head_dim, config.norm_eps, ops) if config.qk_norm else None
        self.k_norm = RMSNorm(config.head_dim, config.norm_eps, ops) if config.qk_norm else None

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        document_attention: DocumentAttention | None = None,
    ) -> torch.Tensor:
        """Causal self-attention over x [batch, seq, d_model], within each document with `document_attention`;
        with a cache (generation), over every position fed so far. cos / sin are [seq, head_dim / 2], or per
        row [batch, 1, seq, head_dim / 2] (a cache's left-padded rows start later; packed documents restart)."""
        batch, seq, _ = x.shape
        c = self.config
        q = self.q(x).view(batch, seq, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.k(x).view(batch, seq, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v(x).view(batch, seq, c.kv_heads, c.head_dim).transpose(1, 2)
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        gqa = c.kv_heads != c.n_heads
        if cos.dim() == 2:  # shared by every row: the fused kernel
            q, k = self.ops.rope_qk(q, k, cos, sin)
        else:
            q, k = reference.rope(q, cos, sin), reference.rope(k, cos, sin)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=cache.mask, enable_gqa=gqa)
        elif document_attention is not None:
            y = document_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
        return self.out(y.transpose(1, 2).reshape(batch, seq, c.d_model))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig, ops: Kernels):
        super().__init__()
        self.ops = ops
        self.gate = nn.Linear(config.d_model, config.hidden, bias=False) if config.mlp == "swiglu" else None
        self.up = nn.Linear(config.d_model, config.hidden, bias=False)
        self.down = nn.Linear(config.hidden, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:
            return self.down(self.ops.swiglu(self.gate(x), self.up(x)))
        return self.down(self.ops.relu2(self.up(x)))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, ops: Kernels):
        super().__init__()
        self.attention_norm = RMSNorm(config.d_model, config.norm_eps, ops)
        self.attention = Attention(config, ops)
        self.mlp_norm = RMSNorm(config.d_model, config.norm_eps, ops)
        self.mlp = MLP(config, ops)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        layer: int = 0,
        document_attention: DocumentAttention | None = None,
    ) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin, cache, layer, document_attention)
        return x + self.mlp(self.mlp_norm(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.ops = kernels_for(config.kernels)
        self.embedding = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config, self.ops) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps, self.ops)
        self.head = None if config.tie_embeddings else nn.Linear(config.d_model, config.vocab_size, bias=False)
        cos, sin = rope_tables(config.seq_len, config.head_dim, config.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.activation_checkpointing = False  # a training choice, not part of the architecture
        # document masking's kernel: "flex" (FlexAttention), "sdpa" (masked SDPA), "auto" (flex on CUDA)
        self.attention_backend: Literal["auto", "flex", "sdpa"] = "auto"
        self.reset_parameters()

    @property
    def output_weight(self) -> torch.Tensor:
        return self.embedding.weight if self.head is None else self.head.weight

    def reset_parameters(self) -> None:
        residual_std = INIT_STD / math.sqrt(2 * self.config.n_layers)
        for name, parameter in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(parameter)
            elif name.endswith(("attention.out.weight", "mlp.down.weight")):
                nn.init.normal_(parameter, std=residual_std)
            else:
                nn.init.normal_(parameter, std=INIT_STD)

    def hidden_states(
        self, tokens: torch.Tensor, documents: torch.Tensor | None = None, positions: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The final normed hidden states [batch, seq, d_model] of token ids [batch, seq]. `documents` [batch, seq]
        (equal = same document, each contiguous): a token attends only within its own document. `positions`
        [batch, seq]: each token's RoPE position (default 0 .. seq - 1), e.g. `model.attention.document_positions`."""
        seq = tokens.shape[1]
        if seq > self.config.seq_len:
            raise ValueError(f"sequence of {seq} tokens is longer than the model's seq_len {self.config.seq_len}")
        if positions is None:
            cos, sin = self.cos[:seq], self.sin[:seq]
        elif not torch.compiler.is_compiling() and ((positions < 0) | (positions >= self.config.seq_len)).any():
            raise ValueError(f"positions must lie in [0, {self.config.seq_len}), the model's seq_len")  # eager only
        else:
            cos, sin = self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)
        flex = {"auto": None, "flex": True, "sdpa": False}[self.attention_backend]
        document_attention = None if documents is None else DocumentAttention(documents, flex)
        x = self.embedding(tokens)
        for block in self.blocks:
            if self.activation_checkpointing and torch.is_grad_enabled():  # keep block inputs; redo the rest
                x = checkpoint(block, x, cos, sin, document_attention=document_attention, use_reentrant=False)
            else:
                x = block(x, cos, sin, document_attention=document_attention)
        return self.norm(x)

    def forward(
        self,
        tokens: torch.Tensor,
        targets: torch.Tensor | None = None,
        reduction: Literal["mean", "none"] = "mean",
        documents: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [batch, seq, vocab] (soft-capped when configured), or with `targets` the mean loss (positions
        with target -100 are ignored), or with `reduction="none"` each position's loss (evaluation, and DPO's
        sequence log-probabilities, with gradient: chunked, the logits recomputed in backward; here rather than in
        a method of its own, which would bypass FSDP's hooks around `forward`). `documents` and `positions`: as
        in `hidden_states`."""
        hidden = self.hidden_states(tokens, documents, positions)
        cap = self.config.logit_softcap
        if targets is None:
            return self.logits(hidden)
        if reduction == "none":
            return reference.token_cross_entropy(hidden, self.output_weight, targets, softcap=cap)
        return self.ops.linear_cross_entropy(hidden, self.output_weight, targets, softcap=cap)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = (hidden @ self.output_weight.T).float()
        cap = self.config.logit_softcap
        return cap * torch.tanh(logits / cap) if cap else logits

    @torch.no_grad()
    def next_logits(self, tokens: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Feed tokens [batch, seq] into the next slots of `cache`; the logits [batch, vocab] after the last one."""
        positions = cache.begin(tokens.shape[1])
        cos, sin = self.cos[positions].unsqueeze(1), self.sin[positions].unsqueeze(1)
        x = self.embedding(tokens)
        for layer, block in enumerate(self.blocks):
            x = block(x, cos, sin, cache, layer)
        cache.advance(tokens.shape[1])
        return self.logits(self.norm(x[:, -1]))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())
