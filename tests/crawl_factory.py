"""Small real-format crawl files for tests: WARC/WET written with warcio, JSONL, Parquet, text."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PARAGRAPHS = {
    "en": "The quick brown fox jumps over the lazy dog while the farmer watches from the old mill.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund, während der Müller zusieht.",
    "fr": "Le renard brun rapide saute par-dessus le chien paresseux pendant que le meunier regarde.",
    "ru": "Быстрая бурая лиса прыгает через ленивую собаку, пока мельник смотрит со стороны.",
    "ja": "素早い茶色の狐が怠け者の犬を飛び越え、粉屋はそれを古い水車小屋から眺めている。",
}


def html_page(title: str, paragraphs: list[str], charset: str = "utf-8") -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    page = (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>{title}</title></head>'
        f"<body><nav><a href='/'>Home</a></nav><main><h1>{title}</h1>{body}</main></body></html>"
    )
    return page.encode(charset)


@dataclass
class WarcEntry:
    """One record to write. `kind` is the WARC-Type; HTTP headers are added for request/response."""

    url: str
    body: bytes = b""
    kind: str = "response"
    status: int = 200
    content_type: str | None = "text/html; charset=utf-8"
    extra_http_headers: list[tuple[str, str]] = field(default_factory=list)


def write_warc(path: Path, entries: list[WarcEntry], gzip: bool = True) -> Path:
    """Write a real WARC/1.0 file (per-record gzip members when `gzip`)."""
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        for entry in entries:
            writer.write_record(_record(writer, entry))
    return path


def _record(writer: WARCWriter, entry: WarcEntry):
    if entry.kind in ("response", "request"):
        if entry.kind == "response":
            headers = [("Content-Type", entry.content_type)] if entry.content_type else []
            http = StatusAndHeaders(f"{entry.status} X", headers + entry.extra_http_headers, protocol="HTTP/1.1")
        else:
            http = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
        return writer.create_warc_record(entry.url, entry.kind, payload=io.BytesIO(entry.body), http_headers=http)
    warc_headers = None
    if entry.kind == "revisit":
        return writer.create_revisit_record(
            entry.url, digest="sha1:AAAA", refers_to_uri=entry.url, refers_to_date="2024-01-01T00:00:00Z"
        )
    return writer.create_warc_record(
        entry.url,
        entry.kind,
        payload=io.BytesIO(entry.body),
        warc_content_type=entry.content_type or "",
        warc_headers=warc_headers,
    )


def multilingual_entries(count: int, prefix: str = "http://example.org/page") -> list[WarcEntry]:
    """`count` HTML responses in rotating languages, each preceded by its request record."""
    entries = []
    languages = list(PARAGRAPHS)
    for i in range(count):
        lang = languages[i % len(languages)]
        paragraphs = [f"{PARAGRAPHS[lang]} ({lang} #{i}, part {k})" for k in range(3)]
        url = f"{prefix}/{i}.html"
        entries.append(WarcEntry(url, kind="request"))
        entries.append(WarcEntry(url, html_page(f"Page {i}", paragraphs)))
    return entries
