"""The GPT's shape as a dataclass, named presets, and the counts that planning and MFU need.

Parameter counts are exact for the model in `model.gpt`; FLOPs per token follow the usual accounting
(Kaplan et al. 2020, Chinchilla appendix F): 2 FLOPs per multiply-add, forward = 2 x (non-embedding
matmul parameters) + attention scores and values (2 x 2 x layers x seq_len x d_model, causal halved),
training = 3 x forward.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 32768
    seq_len: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    n_kv_heads: int | None = None  # None: as many as n_heads; fewer: grouped-query attention
    mlp: Literal["swiglu", "relu2"] = "swiglu"
    d_mlp: int | None = None  # None: 8/3 d_model rounded up to 64 (SwiGLU), 4 d_model (ReLU^2)
    qk_norm: bool = True
    tie_embeddings: bool = False
    logit_softcap: float | None = None  # logits = c * tanh(logits / c)
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-6
    kernels: Literal["triton", "triton-ce", "torch", "auto"] = (
        "auto"  # auto: Triton on CUDA, the PyTorch reference elsewhere
    )

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.head_dim % 2:
            raise ValueError(f"head_dim {self.head_dim} must be even for RoPE")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads

    @property
    def hidden(self) -> int:
        if self.d_mlp:
            return self.d_mlp
        if self.mlp == "relu2":
            return 4 * self.d_model
        return -(-(8 * self.d_model // 3) // 64) * 64

    def block_matrix_parameters(self) -> int:
        """A block's matmul weights: q, k, v, output projections and the MLP (no biases)."""
        d, kv = self.d_model, self.kv_heads * self.head_dim
        return d * d + 2 * d * kv + d * d + (3 if self.mlp == "swiglu" else 2) * d * self.hidden

    def block_parameters(self) -> int:
        norm_gains = 2 * self.d_model + (2 * self.head_dim if self.qk_norm else 0)
        return self.block_matrix_parameters() + norm_gains

    def parameters(self) -> int:
        """Every parameter of `model.gpt.GPT` (tests check it against the module)."""
        embedding = self.vocab_size * self.d_model
        head = 0 if self.tie_embeddings else self.vocab_size * self.d_model
        return embedding + self.n_layers * self.block_parameters() + self.d_model + head

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward) at `seq_len` (default: the config's)."""
        n = seq_len or self.seq_len
        matmul = self.n_layers * self.block_matrix_parameters() + self.vocab_size * self.d_model
        attention = self.n_layers * 2 * n * self.d_model  # QK^T and AV, causal: half of 2 x 2 x n x d
        return 3 * (2 * matmul + attention)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, GPTConfig] = {
    "tiny": GPTConfig(vocab_size=512, seq_len=64, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2),
    "124m": GPTConfig(vocab_size=50304, d_model=768, n_layers=12, n_heads=12, tie_embeddings=True),
    "350m": GPTConfig(vocab_size=50304, d_model=1024, n_layers=24, n_heads=16, tie_embeddings=True),
    "1b": GPTConfig(vocab_size=50304, seq_len=2048, d_model=2048, n_layers=18, n_heads=16, n_kv_heads=8),
}


def preset(name: str, **overrides: object) -> GPTConfig:
    if name not in PRESETS:
        raise ValueError(f"model preset {name!r}: expected one of {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)  # type: ignore[arg-type]
