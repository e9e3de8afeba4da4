"""JSON Lines reader (.jsonl, .gz, .zst), streamed line by line with configurable field names."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from typing import IO, Any

import orjson
import zstandard

from pipeline.readers.opening import open_input
from pipeline.readers.record import ReaderOptions, Record, decode_utf8, failure, fill_from_fields, stable_id

ZSTD_CHUNK = 1 << 16


class _ZstdFrames(io.RawIOBase):
    """The decompressed bytes of every frame of a .zst file; EOFError when the file ends inside a frame.

    zstandard's `stream_reader` ends quietly at a cut-off frame, so a truncated file would read as
    a whole one with its tail silently missing; gzip raises EOFError there, and so does this.
    """

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._decompressor = zstandard.ZstdDecompressor().decompressobj()
        self._in_frame = False
        self._pending = b""
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._offset == len(self._pending):
            data = self._raw.read(ZSTD_CHUNK)
            if not data:
                if self._in_frame:
                    raise EOFError("zstd file ended inside a frame (file cut short?)")
                return 0
            self._pending, self._offset = b"", 0
            while data:
                self._in_frame = True
                self._pending += self._decompressor.decompress(data)
                data = b""
                if self._decompressor.eof:  # next frame, if any, starts in unused_data
                    data = self._decompressor.unused_data
                    self._decompressor = zstandard.ZstdDecompressor().decompressobj()
                    self._in_frame = False
        size = min(len(buffer), len(self._pending) - self._offset)
        buffer[:size] = self._pending[self._offset : self._offset + size]
        self._offset += size
        return size


def _decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    name = path.lower()
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if name.endswith(".zst"):
        return io.BufferedReader(_ZstdFrames(raw))
    return raw


def read_jsonl(path: str, options: ReaderOptions) -> Iterator[Record]:
    try:
        raw = open_input(path)
    except Exception as error:  # any fsspec backend error: the file is unreadable, not the run
        yield failure(f"{path}:0", 0, "read_error", f"cannot open: {type(error).__name__}: {error}")
        return
    with raw:
        stream = _decompressed(raw, path)
        line_number = 0
        any_line = False
        try:
            for line_number, line in enumerate(stream, start=1):
                if line.strip():
                    any_line = True
                    yield _parse_line(line, f"{path}:{line_number}", raw.tell(), options)
        except (OSError, EOFError, zlib.error, zstandard.ZstdError) as error:
            source = f"{path}:{line_number + 1}"
            yield failure(
                source, raw.tell(), "corrupt_stream", f"{type(error).__name__}: {error}; rest of file skipped"
            )
            return
        if not any_line:  # blank lines only count as empty too: the file yields nothing else
            yield failure(f"{path}:0", 0, "empty_file", "the file holds no lines")


def _parse_line(line: bytes, source: str, position: int, options: ReaderOptions) -> Record:
    record = Record(id=stable_id(source), source=source, position=position, raw_bytes=len(line))
    text, error = decode_utf8(line, options.invalid_utf8)
    if error:
        record.removed_by, record.removed_detail = "invalid_utf8", error
        return record
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as decode_error:
        record.removed_by, record.removed_detail = "malformed_json", str(decode_error)
        return record
    if not isinstance(obj, dict):
        record.removed_by, record.removed_detail = "malformed_json", f"a JSON {type(obj).__name__}, not an object"
        return record
    return fill_from_fields(record, obj, options)
