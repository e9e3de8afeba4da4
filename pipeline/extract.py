"""HTML -> main text. Charset handling follows the WHATWG order: BOM, HTTP header, <meta>, detection.

resiliparse (C++, lexbor) is the default because it is fast; trafilatura is available for users who
want FineWeb's extractor. Both are plain functions so they can be called from a notebook.
"""

from __future__ import annotations

import codecs

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

EXTRACTORS = ("resiliparse", "trafilatura")


def decode_html(payload: bytes, charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML payload; returns (text, encoding used)."""
    if payload.startswith(codecs.BOM_UTF8):
        encoding = "utf-8"
    else:
        encoding = (map_encoding_to_html5(charset) if charset else None) or detect_encoding(
            payload, from_html_meta=True
        )
    return bytes_to_str(payload, encoding, errors="replace"), encoding


def extract_text(html: str, extractor: str = "resiliparse", main_content: bool = True) -> str:
    """Visible main text of an HTML page, with paragraphs kept as lines and newlines normalised."""
    if extractor == "resiliparse":
        text = extract_plain_text(
            HTMLTree.parse(html),
            preserve_formatting=True,
            main_content=main_content,
            alt_texts=False,
            links=False,
            comments=False,
        )
    elif extractor == "trafilatura":
        import trafilatura  # imported lazily: it is slow to import and optional at run time

        text = trafilatura.extract(html, favor_precision=main_content, include_comments=False, deduplicate=True) or ""
    else:
        raise ValueError(f"unknown extractor {extractor!r}; expected one of {EXTRACTORS}")
    return normalise_newlines(text).strip()


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def html_to_text(
    payload: bytes, charset: str | None, extractor: str = "resiliparse", main_content: bool = True
) -> tuple[str, str]:
    """Raw HTML bytes -> (main text, encoding used); the unit of work run under a time limit."""
    html, encoding = decode_html(payload, charset)
    return extract_text(html, extractor, main_content), encoding
