"""Training text, streamed from files: plain text, JSONL (a text field) and Parquet (a text column), given
as files, folders or a gristmill run folder (its shards). Nothing is read whole: text files come in chunks
cut at line ends, JSONL line by line, Parquet by record batch."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

from tokenizer.errors import SettingError

TEXT_CHUNK = 1 << 20
SUFFIXES = (".txt", ".text", ".md", ".jsonl", ".jsonl.gz", ".json.gz", ".parquet")


def input_files(paths: list[str | Path]) -> list[Path]:
    """Files in the order given; a folder gives its readable files in name order (a run folder: its shards).
    A ValueError names the path, not a flag: each command puts its own flag before it."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if (path / "shards").is_dir():
            path = path / "shards"
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"{raw}: no such file or folder")
    if not found:
        raise ValueError(f"{', '.join(map(str, paths))}: no text, JSONL or Parquet files found")
    return found


def is_structured(path: Path) -> bool:
    """Whether the file's documents are in a field (JSONL) or column (Parquet): `text_column` names it."""
    return path.name.endswith((".parquet", ".jsonl", ".jsonl.gz", ".json.gz"))


def read_texts(path: Path, text_column: str = "text") -> Iterator[str]:
    """The documents of one file; a damaged file is a ValueError naming it, a missing column a SettingError."""
    try:
        yield from _texts(path, text_column)
    except (OSError, EOFError) as error:  # a damaged gzip stream, a file that went away
        raise ValueError(f"{path}: cannot read ({error})") from None


def _texts(path: Path, text_column: str) -> Iterator[str]:
    name = path.name
    if name.endswith(".parquet"):
        import pyarrow as pa  # here: 30 MB of memory that text and JSONL training does not need
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except pa.ArrowException as error:
            raise ValueError(f"{path}: not a Parquet file ({error})") from None
        columns = parquet.schema_arrow.names
        if text_column not in columns:
            raise SettingError("text_column", text_column, f"{path} has no such column (columns: {', '.join(columns)})")
        for batch in parquet.iter_batches(batch_size=1024, columns=[text_column]):
            yield from (text for text in batch.column(0).to_pylist() if text)
    elif name.endswith((".jsonl", ".jsonl.gz", ".json.gz")):
        with _open_text(path) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield _json_text(line, text_column, path, number)
    else:
        with _open_text(path) as handle:
            while chunk := handle.read(TEXT_CHUNK):
                yield chunk + handle.readline()


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _json_text(line: str, field: str, path: Path, number: int) -> str:
    try:
        value = json.loads(line).get(field)
    except (json.JSONDecodeError, AttributeError):
        raise ValueError(f"{path}:{number}: not a JSON object") from None
    return value if isinstance(value, str) else ""
