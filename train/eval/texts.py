"""Bits per byte: how many bits the model needs per UTF-8 byte of a text set. It does not depend on the
tokenizer, so models with different tokenizers compare on it.

A text set is documents (text files, one document per file; JSONL or Parquet with a text field; a run
folder's shards) or the val split of a `gristmill pack` folder. A document is scored as training saw one: after
the model's prefix token (a gristmill model's end-of-text), in windows of the model's length, each window
conditioned on the token before it, every token of the text scored once; bits per byte is the summed negative
log-likelihood in bits over the document's UTF-8 bytes. A packed val split is scored exactly as the trainer's
validation does it (every window of the split; end-of-text targets count in the loss but stand for no bytes),
so the figure equals the trainer's `val_bpb` when that one covers the whole split.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gristmill_base.errors import UserError
from train.eval.likelihood import Request
from train.eval.models import ScoringModel
from train.eval.tasks import named_path


@dataclass
class TextSource:
    """A text set as read, before any model: its documents, or a packed folder (read with the model's tokenizer)."""

    name: str
    documents: list[str]
    packed: Path | None = None


@dataclass
class TextSet:
    name: str
    documents: int
    text_bytes: int
    requests: list[Request]
    owners: np.ndarray  # per request, the unit it belongs to: a document, or a window of a packed split
    unit_bytes: np.ndarray  # UTF-8 bytes of each unit
    byte_counts: list[np.ndarray] | None = None  # packed: bytes per scored token of each window


def read_text_source(spec: str, text_field: str = "text", limit: int | None = None) -> TextSource:
    """`NAME=PATH` or `PATH`: a file, a folder of files, a run folder or a packed folder; read and checked
    without the model, so a bad set stops `gristmill eval` before the model loads."""
    name, path = named_path(spec)
    if not path.exists():
        raise UserError(f"--text: {path}: no such file or folder")
    if (path / "manifest.json").is_file() and (path / "val").is_dir():
        return TextSource(name, [], path)
    documents = list(_documents(path, text_field, limit))
    if not documents:
        raise UserError(f"{path}: no documents with text")
    return TextSource(name, documents)


def text_set_for(source: TextSource, model: ScoringModel) -> TextSet:
    """The set's requests for this model: each document after the prefix token, in windows."""
    if source.packed is not None:
        return _packed(source.name, source.packed, model)
    documents = source.documents
    requests, owners = [], []
    for index, text in enumerate(documents):
        for request in windows([model.prefix_id, *model.encode(text)], model):
            requests.append(request)
            owners.append(index)
    sizes = np.array([len(text.encode("utf-8")) for text in documents], np.int64)
    return TextSet(source.name, len(documents), int(sizes.sum()), requests, np.array(owners, np.int64), sizes)


def windows(tokens: list[int], model: ScoringModel) -> Iterator[Request]:
    """Every token after the first, once: windows of `max_length` scored tokens, each after the token before."""
    span = model.max_length
    for start in range(0, len(tokens) - 1, span):
        window = tokens[start : start + span + 1]
        yield Request(tuple(window), len(window) - 1)


def _documents(path: Path, text_field: str, limit: int | None) -> Iterator[str]:
    """The set's documents: each text file whole, each JSONL line or Parquet row (a folder: its files, a run
    folder: its shards)."""
    from pipeline.classifier.sources import read_documents
    from tokenizer.sources import input_files

    try:
        files = input_files([path])
    except ValueError as error:
        raise UserError(f"--text: {error}") from None
    count = 0
    for file in files:
        if file.name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".parquet")):
            texts: Iterator[str] = (text for _, text in read_documents([str(file)], text_field))
        else:
            whole = file.read_text(encoding="utf-8", errors="replace")
            texts = iter([whole] if whole else [])
        for text in texts:
            if limit is not None and count >= limit:
                return
            count += 1
            yield text


def _packed(name: str, folder: Path, model: ScoringModel) -> TextSet:
    from tokenizer.files import same_ids
    from train.data import TokenStream
    from train.evaluate import token_bytes

    manifest = json.loads((folder / "manifest.json").read_text())
    tokenizer_dir = getattr(model, "tokenizer_dir", None)
    if tokenizer_dir is None or not same_ids(tokenizer_dir, manifest.get("tokenizer_sha256", "")):  # or extends it
        raise UserError(f"{folder}: packed with another tokenizer than the model's; give the text instead")
    stream = TokenStream(folder, "val")
    span = model.max_length
    count = (len(stream) - 1) // span
    if count == 0:
        raise UserError(f"{folder}: the val split has fewer than {span + 1} tokens, one window")
    sizes = token_bytes(model.tokenizer)  # type: ignore[attr-defined]
    requests, byte_counts = [], []
    for window in range(count):
        tokens = stream.read(window * span, span + 1)
        requests.append(Request(tuple(int(t) for t in tokens), span))
        byte_counts.append(sizes[tokens[1:]])
    sizes = np.array([int(counts.sum()) for counts in byte_counts], np.int64)
    documents = manifest["val"]["documents"]
    return TextSet(name, documents, int(sizes.sum()), requests, np.arange(count), sizes, byte_counts)


def unit_bits(text_set: TextSet, logprobs: list[np.ndarray]) -> np.ndarray:
    """Bits of each unit (document, or packed window): what bits per byte sums, and what a paired comparison of
    two models on the same set needs."""
    if text_set.byte_counts is None:
        nats = np.array([-float(values.sum()) for values in logprobs])
    else:  # a packed split: targets that stand for no text (end-of-text) are left out, as in training
        nats = np.array([-float(v[c > 0].sum()) for v, c in zip(logprobs, text_set.byte_counts, strict=True)])
    return np.bincount(text_set.owners, weights=nats, minlength=len(text_set.unit_bytes)) / math.log(2)


def bits_per_byte(text_set: TextSet, logprobs: list[np.ndarray]) -> dict[str, float | int]:
    """The set's figures from the log-probabilities of its requests."""
    bits = float(unit_bits(text_set, logprobs).sum())
    tokens = sum(len(values) for values in logprobs)
    return {
        "documents": text_set.documents,
        "tokens": tokens,
        "bytes": text_set.text_bytes,
        "bits_per_byte": bits / text_set.text_bytes,
        "nats_per_token": -sum(float(v.sum()) for v in logprobs) / max(tokens, 1),
    }
