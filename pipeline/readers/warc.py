"""WARC / WARC.gz / Common Crawl WET reader on fastwarc (measured 3x faster than warcio, see bench/ingest.py).

HTTP `response` (and `resource`) records with HTML become documents to extract; WET `conversion`
records are text documents. Everything else is classified: request / metadata / warcinfo records
are not documents (counted only); revisits, non-200 statuses, non-HTML, binary, oversized and
truncated records are removed with their rule. A corrupt gzip member does not end the file: the
reader records the damage with its offset and resynchronises at the next gzip member.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import IO

from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from pipeline.readers.opening import open_input
from pipeline.readers.record import ReaderOptions, Record, decode_utf8, failure, stable_id
from pipeline.readers.sniff import SNIFF_BYTES, binary_kind

HTML_TYPES = ("text/html", "application/xhtml+xml")
NOT_DOCUMENTS = {  # keyed by int: fastwarc's record types are not hashable
    int(WarcRecordType.request): "warc_request",
    int(WarcRecordType.metadata): "warc_metadata",
    int(WarcRecordType.warcinfo): "warc_warcinfo",
    int(WarcRecordType.continuation): "warc_continuation",
}
GZIP_MAGIC = b"\x1f\x8b\x08"
WARC_MAGIC = b"WARC/1."
SCAN_CHUNK = 1 << 20


def read_warc(path: str, options: ReaderOptions) -> Iterator[Record]:
    try:
        handle = open_input(path)
    except Exception as error:  # any fsspec backend error: the file is unreadable, not the run
        yield failure(f"{path}@0", 0, "read_error", f"cannot open: {type(error).__name__}: {error}")
        return
    with handle:
        head = handle.read(len(GZIP_MAGIC))
        if not head:
            yield failure(f"{path}@0", 0, "empty_file", "the file is empty")
            return
        gzipped = head == GZIP_MAGIC or (not WARC_MAGIC.startswith(head) and path.lower().endswith(".gz"))
        magic = GZIP_MAGIC if gzipped else WARC_MAGIC  # by name when the first bytes are damaged
        yield from _read_resyncing(handle, path, magic, options)


def _read_resyncing(handle: IO[bytes], path: str, magic: bytes, options: ReaderOptions) -> Iterator[Record]:
    """Every record of the file in order, reading on past damage; nothing fastwarc drops goes unreported.

    Each record is held back until the next one (or a clean end of file) shows it was complete, so a
    record cut by the end of the file is removed as truncated, not kept and reported a second time.
    """
    start: int | None = 0
    damage: tuple[int, str] | None = None  # where unreadable bytes began, and why
    while start is not None:
        handle.seek(start)
        last: int | None = None
        pending: Record | None = None
        try:
            for warc_record in ArchiveIterator(handle, parse_http=True, auto_decode="all"):
                if pending is not None:
                    yield pending
                if damage:
                    yield _damage_record(path, damage, f"skipped to offset {warc_record.stream_pos}")
                    damage = None
                last = warc_record.stream_pos
                pending = _classify(warc_record, path, options)
        except OSError as error:  # fastwarc reports decompression and parse damage as OSError
            if pending is not None:
                yield pending
            at = start if last is None else (_find_next(handle, last + 1, magic) or last + 1)
            damage = damage or (at, str(error))
            start = _find_next(handle, at + 1, magic)
            continue
        base = start if last is None else last
        tail = _unread_record_start(handle, base, magic)
        if pending is not None:
            yield _cut(pending) if tail == base else pending
        if tail is not None and tail > base:
            start = tail  # fastwarc stopped early (e.g. a Content-Length that ran past the next records)
            continue
        if last is None and (tail == base or start > 0):
            damage = damage or (base, "no readable record here (file cut short, or garbage)")
        start = None
    if damage:
        yield _damage_record(path, damage, "rest of file skipped")


def _cut(record: Record) -> Record:
    """The file ends inside this record: whatever was read of it is not the whole document."""
    if record.removed_by == "truncated_record":
        return record
    record.text = record.html = None
    return _removed(record, "truncated_record", "the file ends inside this record")


def _damage_record(path: str, damage: tuple[int, str], outcome: str) -> Record:
    offset, error = damage
    return failure(f"{path}@{offset}", offset, "corrupt_stream", f"{error} at offset {offset}; {outcome}")


def _unread_record_start(handle: IO[bytes], last_start: int, magic: bytes) -> int | None:
    """Where unread bytes begin after the record at `last_start`: `last_start` itself when that record is
    cut off by the end of the file, a later offset when bytes follow that fastwarc did not read, None
    when the file ends cleanly (or cannot be checked: one gzip stream for the whole file).

    For per-record gzip the last member is decompressed to find its end (exact); for plain WARC the
    rest of the file, after the last record's declared end, is searched for another record header.
    """
    if magic == WARC_MAGIC:
        end = _plain_record_end(handle, last_start)  # a payload may quote "WARC/1.0" at a line start
        if end is not None and end <= handle.seek(0, 2):
            return _find_next(handle, end, WARC_MAGIC)
        # declared end past the end of the file: the record is cut, or its Content-Length swallowed the
        # records after it; a following record header tells which
        following = _find_next(handle, last_start + 1, b"\r\nWARC/1.")
        return last_start if following is None else following + 2
    handle.seek(last_start)
    if handle.read(len(GZIP_MAGIC)) != GZIP_MAGIC:
        return None  # one gzip stream for the whole file: no member boundaries to check against
    handle.seek(last_start)
    decompressor = zlib.decompressobj(wbits=31)
    consumed = last_start
    while not decompressor.eof:
        chunk = handle.read(SCAN_CHUNK)
        if not chunk:
            return last_start
        consumed += len(chunk)
        try:
            while chunk and not decompressor.eof:  # output bounded: the member may hold a huge record
                decompressor.decompress(chunk, SCAN_CHUNK)
                chunk = decompressor.unconsumed_tail
        except zlib.error:
            return last_start
    end = consumed - len(decompressor.unused_data)
    handle.seek(end)
    return end if handle.read(1) else None


def _plain_record_end(handle: IO[bytes], start: int) -> int | None:
    """End offset of the uncompressed record at `start`: header block, Content-Length bytes, CRLF CRLF."""
    handle.seek(start)
    head = handle.read(SCAN_CHUNK)
    header_end = head.find(b"\r\n\r\n")
    length = re.search(rb"\ncontent-length:[ \t]*(\d+)", head[:header_end].lower()) if header_end > 0 else None
    return start + header_end + 4 + int(length.group(1)) + 4 if length else None


def _find_next(handle: IO[bytes], offset: int, magic: bytes) -> int | None:
    """Offset of the next `magic` at or after `offset`, scanning the raw (compressed) file."""
    handle.seek(offset)
    carry = b""
    base = offset
    while chunk := handle.read(SCAN_CHUNK):
        data = carry + chunk
        found = data.find(magic)
        if found >= 0:
            return base + found
        carry = data[-(len(magic) - 1) :]
        base += len(data) - len(carry)
    return None


def _classify(record: WarcRecord, path: str, options: ReaderOptions) -> Record:
    source = f"{path}@{record.stream_pos}"
    headers = record.headers
    out = Record(
        id=(record.record_id or "").strip("<>") or stable_id(source),
        source=source,
        position=record.stream_pos,
        url=(headers.get("WARC-Target-URI") or "").strip("<>") or None,  # wget writes <uri>
        raw_bytes=record.content_length,
    )
    kind = record.record_type
    if int(kind) in NOT_DOCUMENTS:
        out.document, out.removed_by = False, NOT_DOCUMENTS[int(kind)]
        return out
    if "WARC-Date" not in headers or not (headers.get("Content-Length") or "").strip():  # cut after "Content-Length:"
        return _removed(out, "truncated_record", "WARC header block incomplete (file cut short?)")
    out.date = record.record_date
    if kind == WarcRecordType.revisit:
        return _removed(out, "warc_revisit", headers.get("WARC-Refers-To-Target-URI") or "revisit record")
    if kind == WarcRecordType.conversion:
        return _text_payload(out, record, options)
    if kind not in (WarcRecordType.response, WarcRecordType.resource):
        return _removed(out, "warc_unknown_type", str(headers.get("WARC-Type")))
    return _html_payload(out, record, options)


def _text_payload(out: Record, record: WarcRecord, options: ReaderOptions) -> Record:
    payload = record.reader.read()
    if len(payload) < record.content_length:
        return _removed(out, "truncated_record", f"body has {len(payload)} of {record.content_length} bytes")
    out.text, error = decode_utf8(payload, options.invalid_utf8)
    return _removed(out, "invalid_utf8", error) if error else out


def _html_payload(out: Record, record: WarcRecord, options: ReaderOptions) -> Record:
    if record.record_type == WarcRecordType.response:
        if not record.is_http:
            return _removed(out, "non_http", str(record.headers.get("Content-Type")))
        status = record.http_headers.status_code
        if status != 200:
            return _removed(out, "http_status", str(status))
        content_type = (record.http_content_type or "").lower()
        out.charset = record.http_charset
    else:
        content_type = (record.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type and content_type not in HTML_TYPES:
        return _removed(out, "non_html", content_type)
    if record.content_length > options.max_html_bytes:
        return _removed(out, "too_large", f"{record.content_length} bytes > {options.max_html_bytes}")
    payload = record.reader.read(options.max_html_bytes + 1)  # a Content-Encoding'd body grows when decoded
    if len(payload) > options.max_html_bytes:
        return _removed(out, "too_large", f"more than {options.max_html_bytes} bytes once decoded")
    encoded = record.is_http and (
        record.http_headers.get("Content-Encoding") or record.http_headers.get("Transfer-Encoding")
    )
    if not encoded and len(payload) < record.content_length:
        return _removed(out, "truncated_record", f"body has {len(payload)} of {record.content_length} bytes")
    binary = binary_kind(payload)
    if binary:
        return _removed(out, "binary_body", f"declared {content_type or 'nothing'}, content looks like {binary}")
    if not content_type and b"<html" not in payload[:SNIFF_BYTES].lower():
        return _removed(out, "non_html", "no Content-Type and no <html> tag in the first bytes")
    out.html = payload
    return out


def _removed(out: Record, rule: str, detail: str) -> Record:
    out.removed_by, out.removed_detail = rule, detail
    return out
