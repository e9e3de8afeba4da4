"""Plain-text reader: one document per .txt file."""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.readers.opening import open_input
from pipeline.readers.record import ReaderOptions, Record, decode_utf8, failure, stable_id
from pipeline.readers.sniff import binary_kind


def read_text_file(path: str, options: ReaderOptions) -> Iterator[Record]:
    source = f"{path}@0"
    try:
        with open_input(path) as handle:
            data = handle.read()
    except Exception as error:  # any fsspec backend error: the file is unreadable, not the run
        yield failure(source, 0, "read_error", f"cannot read: {type(error).__name__}: {error}")
        return
    if not data:  # as in the other readers: reported as an empty file, not passed on as an empty document
        yield failure(source, 0, "empty_file", "the file is empty")
        return
    record = Record(id=stable_id(path), source=source, position=len(data), raw_bytes=len(data))
    binary = binary_kind(data)
    if binary:
        record.removed_by, record.removed_detail = "binary_body", f"content looks like {binary}"
    else:
        record.text, error = decode_utf8(data, options.invalid_utf8)
        if error:
            record.removed_by, record.removed_detail = "invalid_utf8", error
    yield record
