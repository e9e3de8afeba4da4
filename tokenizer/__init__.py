"""Byte-level BPE tokenizer (train, encode, decode, export); see DESIGN.md. Not built yet."""
