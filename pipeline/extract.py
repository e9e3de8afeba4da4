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


BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


def decode_html(payload: bytes, charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML payload; returns (text, encoding used).

    An unknown HTTP charset label is ignored (not taken as UTF-8), and bytes invalid in the chosen
    encoding become U+FFFD: resiliparse's default fallback would decode a whole UTF-8 page with one
    stray byte as cp1252, turning every non-ASCII letter into mojibake.
    """
    encoding = next((name for bom, name in BOMS if payload.startswith(bom)), None)
    if encoding is None and charset:
        encoding = map_encoding_to_html5(charset, fallback_utf8=False)
    if encoding is None:
        encoding = detect_encoding(payload, from_html_meta=True)
    return bytes_to_str(payload, encoding, errors="replace", fallback_encodings=()), encoding


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
    """CRLF and lone CR become LF, as the text column requires (docs/formats.md) for every input format."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def html_to_text(
    payload: bytes, charset: str | None, extractor: str = "resiliparse", main_content: bool = True
) -> tuple[str, str]:
    """Raw HTML bytes -> (main text, encoding used); the unit of work run under a time limit."""
    html, encoding = decode_html(payload, charset)
    return extract_text(html, extractor, main_content), encoding
