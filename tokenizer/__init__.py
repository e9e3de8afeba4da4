"""Byte-level BPE tokenizer: `train_bpe(...) -> Tokenizer`, encode / decode, save / load (HF `tokenizer.json`),
tiktoken export. See docs/formats.md."""

from tokenizer.core import Tokenizer
from tokenizer.train import train_bpe

__all__ = ["Tokenizer", "train_bpe"]
