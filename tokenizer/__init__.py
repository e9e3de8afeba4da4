"""Byte-level BPE tokenizer: `train_bpe(...) -> Tokenizer`, encode / decode, save / load (HF `tokenizer.json`),
tiktoken export. See docs/formats.md.

Both names load numba and numpy, so they are imported on first use: `gristmill --help` builds the
tokenizer's parsers from this package without paying for the compiled encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizer.core import Tokenizer
    from tokenizer.train import train_bpe

__all__ = ["Tokenizer", "train_bpe"]


def __getattr__(name: str) -> Any:
    if name == "Tokenizer":
        from tokenizer.core import Tokenizer

        return Tokenizer
    if name == "train_bpe":
        from tokenizer.train import train_bpe

        return train_bpe
    raise AttributeError(f"module 'tokenizer' has no attribute {name!r}")
