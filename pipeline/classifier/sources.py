"""Labelled documents for training: text files (one document per non-blank line, as fastText's own training
files hold one example per line), JSONL and Parquet (a text field, and for `--input` a label field), or run
folders (their kept shards), given as files or folders."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from gristmill_base.errors import UserError
from gristmill_base.jsonl import json_object
from tokenizer.sources import input_files


def read_documents(
    paths: list[str], text_field: str = "text", label_field: str | None = None, flag: str = "--input"
) -> Iterator[tuple[str | None, str]]:
    """(label or None, text) of every document with text, in the order given; an error names `flag`, the
    option that gave `paths`."""
    for path in paths:
        if not Path(path).exists():
            raise UserError(f"{flag} {path}: no such file or folder")
    try:
        files = input_files(paths)
    except ValueError:  # only folders without readable files remain
        raise UserError(f"{flag} {', '.join(paths)}: no text, JSONL or Parquet files found") from None
    for path in files:
        if path.name.endswith(".parquet"):
            yield from _parquet(path, text_field, label_field)
        elif path.name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
            yield from _jsonl(path, text_field, label_field)
        elif label_field:
            raise UserError(f"{path}: a text file has no --label-field {label_field!r}; give JSONL or Parquet")
        else:
            yield from ((None, line) for line in _lines(path) if line.strip())


def _parquet(path: Path, text_field: str, label_field: str | None) -> Iterator[tuple[str | None, str]]:
    parquet = pq.ParquetFile(path)
    wanted = [text_field, *([label_field] if label_field else [])]
    missing = [name for name in wanted if name not in parquet.schema_arrow.names]
    if missing:
        flag = "--text-field" if missing[0] == text_field else "--label-field"
        raise UserError(f"{path}: no {flag} column {missing[0]!r} (columns: {', '.join(parquet.schema_arrow.names)})")
    for batch in parquet.iter_batches(batch_size=1024, columns=wanted):
        texts = batch.column(0).to_pylist()
        labels = batch.column(1).to_pylist() if label_field else [None] * len(texts)
        yield from ((_label(label), text) for label, text in zip(labels, texts, strict=True) if text)


def _jsonl(path: Path, text_field: str, label_field: str | None) -> Iterator[tuple[str | None, str]]:
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        row = json_object(line, f"{path}:{number}")
        if text_field not in row:
            raise UserError(f"{path}:{number}: no --text-field {text_field!r}")
        if label_field and label_field not in row:
            raise UserError(f"{path}:{number}: no --label-field {label_field!r}")
        text = row[text_field]
        if isinstance(text, str) and text:
            yield (_label(row[label_field]) if label_field else None), text


def _label(value: object) -> str:
    """A label as fastText can hold it: one token."""
    return "_".join(str(value).split()) or "none"


def _lines(path: Path) -> Iterator[str]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            yield from handle
    else:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from handle
