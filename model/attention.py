"""Document masking for packed windows: a token attends only to earlier-or-same positions of its own document,
so documents packed into one training window do not see each other.

Two backends compute the same thing. On CUDA, FlexAttention with a `BlockMask` skips the blocks that cross
documents instead of computing and discarding them. Elsewhere, `F.scaled_dot_product_attention` with a dense
boolean mask: on CPU (torch 2.13) FlexAttention has no backward (NotImplementedError), so CPU training could
not use it. Its forward does run on CPU, eagerly (with a warning), which is how the tests compare the two.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import create_block_mask, flex_attention


def document_positions(documents: torch.Tensor) -> torch.Tensor:
    """RoPE positions [batch, seq] that restart at 0 where each document starts in the window, so a document
    gets the positions it would have alone (the window may begin mid-document: its first token is then 0)."""
    index = torch.arange(documents.shape[1], device=documents.device).expand_as(documents)
    starts = torch.ones_like(documents, dtype=torch.bool)
    starts[:, 1:] = documents[:, 1:] != documents[:, :-1]
    return index - torch.where(starts, index, 0).cummax(dim=1).values


def document_mask(documents: torch.Tensor) -> torch.Tensor:
    """The boolean mask [batch, 1, seq, seq] (True = may attend): causal and within the same document."""
    seq = documents.shape[1]
    causal = torch.ones(seq, seq, dtype=torch.bool, device=documents.device).tril()
    return (causal & (documents[:, :, None] == documents[:, None, :]))[:, None]


@functools.cache
def _compiled_flex_attention() -> Callable[..., torch.Tensor]:
    """Compiled once per process, on first use: uncompiled, flex_attention materialises every score."""
    return torch.compile(flex_attention)


class DocumentAttention:
    """The document mask of one forward pass, built once and shared by every layer; called as attention on
    q [batch, heads, seq, head_dim] and k, v [batch, kv_heads, seq, head_dim]. `flex`: FlexAttention (True),
    masked SDPA (False), or FlexAttention exactly when `documents` is on CUDA (None)."""

    def __init__(self, documents: torch.Tensor, flex: bool | None = None):
        self.flex = documents.is_cuda if flex is None else flex
        if self.flex:

            def same_document_causal(b: torch.Tensor, h: torch.Tensor, q: torch.Tensor, kv: torch.Tensor):
                return (q >= kv) & (documents[b, q] == documents[b, kv])

            batch, seq = documents.shape
            # compiled on CUDA: built eagerly, the mask function's gathers make B x S x S temporaries
            self.mask = create_block_mask(same_document_causal, batch, None, seq, seq, device=documents.device,
                                          _compile=documents.is_cuda)  # fmt: skip
        else:
            self.mask = document_mask(documents)

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        gqa = q.shape[1] != k.shape[1]
        if not self.flex:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask, enable_gqa=gqa)
        attend = _compiled_flex_attention() if q.is_cuda else flex_attention  # eager on CPU: forward only
        return attend(q, k, v, block_mask=self.mask, enable_gqa=gqa)
