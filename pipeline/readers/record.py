"""What every reader yields: one raw record, either ready text or an HTML payload to extract."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime


@dataclass(frozen=True)
class ReaderOptions:
    """Reader settings taken from the recipe's ingest stage."""

    text_field: str = "text"
    id_field: str | None = "id"
    url_field: str | None = "url"
    date_field: str | None = "date"
    max_html_bytes: int = 5_000_000
    invalid_utf8: str = "skip"  # or "replace"


@dataclass(slots=True)
class Record:
    """One record read from an input file.

    `document` is False for records that are not documents at all (WARC request, metadata,
    warcinfo): they are counted by type but never written anywhere. `unreadable` is True for a record
    that stands for data that could not be read (see `failure`), not for a document found in the file.
    """

    id: str
    source: str
    position: int
    url: str | None = None
    date: datetime | None = None
    text: str | None = None
    html: bytes | None = None
    charset: str | None = None
    raw_bytes: int = 0
    removed_by: str | None = None
    removed_detail: str | None = None
    document: bool = True
    unreadable: bool = False


def stable_id(source: str) -> str:
    """An id for records that carry none: a hash of where the record came from (file + offset/line)."""
    return hashlib.blake2b(source.encode("utf-8"), digest_size=16).hexdigest()


def failure(source: str, position: int, rule: str, detail: str) -> Record:
    """A record standing for data that could not be read (corrupt stream, unreadable file)."""
    return Record(
        id=stable_id(source), source=source, position=position, removed_by=rule, removed_detail=detail, unreadable=True
    )


def parse_date(value: object) -> datetime | None:
    """Accept datetimes, dates, ISO-8601 strings and Unix seconds; anything else is no date."""
    parsed = _to_datetime(value)
    if parsed is None:
        return None
    try:  # stored as UTC: a local time near year 9999 may not exist there, and would break readers
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def _to_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def decode_utf8(data: bytes, invalid_utf8: str) -> tuple[str | None, str | None]:
    """Strict UTF-8 -> (text, None); invalid bytes -> (None, why) under "skip", replacement chars otherwise."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        if invalid_utf8 == "replace":
            return data.decode("utf-8", errors="replace"), None
        return None, f"invalid UTF-8 at byte {error.start}: {error.reason}"


def fill_from_fields(record: Record, row: dict, options: ReaderOptions) -> Record:
    """Take text, id, url and date from a row by the configured field names (JSONL and Parquet). The id and
    url are taken first, so a row removed for its text is still found by its own id."""
    if options.id_field and row.get(options.id_field) not in (None, ""):  # an empty id is no id
        record.id = str(row[options.id_field])
    if options.url_field and isinstance(row.get(options.url_field), str):
        record.url = row[options.url_field]
    text = row.get(options.text_field)
    if not isinstance(text, str):
        record.removed_by = "missing_text"
        record.removed_detail = (
            f"field {options.text_field!r} is {type(text).__name__ if text is not None else 'absent'}"
        )
        return record
    record.text = text
    if options.date_field:
        record.date = parse_date(row.get(options.date_field))
    return record
