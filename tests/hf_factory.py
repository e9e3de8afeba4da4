"""Tiny, randomly initialised Hugging Face sequence classifiers written to a folder, for the tests of the
`hf_classifier` stage: real transformers models, small enough to run on a CPU in milliseconds."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import torch
import transformers


def tiny_bert(folder: Path, text: str, labels: list[str] | None) -> Path:
    """A 2-layer BERT with a WordPiece vocabulary of the commonest words of `text`, saved as safetensors; a
    one-output regression head without `labels`."""
    words = collections.Counter(re.findall(r"[a-z]+", text.lower()))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *(word for word, _ in words.most_common(400))]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    heads = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}} if labels else {}
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=128, num_labels=len(labels) if labels else 1, **heads,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder, safe_serialization=True)
    return folder
