"""Streaming readers, one module per input format; each yields `Record`s and never raises on bad data.

A problem with one record (or with the rest of a file) becomes a `Record` with `removed_by` set and
the file and offset in `source`, so the run completes and nothing disappears silently.
"""

from collections.abc import Iterator

from pipeline.inputs import InputFile
from pipeline.readers.jsonl import read_jsonl
from pipeline.readers.parquet import read_parquet
from pipeline.readers.record import ReaderOptions, Record
from pipeline.readers.text import read_text_file
from pipeline.readers.warc import read_warc

READERS = {"warc": read_warc, "jsonl": read_jsonl, "parquet": read_parquet, "txt": read_text_file}


def read_records(file: InputFile, options: ReaderOptions) -> Iterator[Record]:
    """All records of one input file, in file order."""
    yield from READERS[file.format](file.path, options)


__all__ = ["ReaderOptions", "Record", "read_records"]
