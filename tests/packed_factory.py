"""Packed token folders in the docs/formats.md layout, written directly, for the trainer's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

EOS = 99


def write_packed(folder: Path, documents: list[list[int]], parts: int = 3, split: str = "train") -> Path:
    """A packed folder in the docs/formats.md layout, documents spread over `parts` parts of `split` (a second call
    with another split adds it to the same manifest)."""
    shards = []
    for part in range(parts):
        chunk = documents[part::parts]
        tokens = np.array([t for doc in chunk for t in [*doc, EOS]], "<u2")
        ends = np.cumsum([len(doc) + 1 for doc in chunk]).astype("<i8")
        (folder / split).mkdir(parents=True, exist_ok=True)
        tokens.tofile(folder / split / f"part-{part:05d}.bin")
        ends.tofile(folder / split / f"part-{part:05d}.idx")
        shards.append({"bin": f"{split}/part-{part:05d}.bin", "idx": f"{split}/part-{part:05d}.idx",
                       "tokens": len(tokens), "documents": len(chunk)})  # fmt: skip
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text()) if path.is_file() else {
        "dtype": "uint16", "eos_id": EOS, "vocab_size": 100, "tokenizer_sha256": "0" * 64,
    }  # fmt: skip
    manifest[split] = {"shards": shards, "tokens": sum(s["tokens"] for s in shards),
                       "documents": sum(s["documents"] for s in shards)}  # fmt: skip
    path.write_text(json.dumps(manifest))
    return folder
