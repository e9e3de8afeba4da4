"""Is a payload binary? Decided from its first bytes, without trusting the declared type."""

from __future__ import annotations

import codecs

from resiliparse.parse.encoding import detect_mime

SNIFF_BYTES = 4096
# bytes that plain text uses: everything but the C0 controls, except tab, newlines, form feed, escape
_TEXT_BYTES = bytes(b for b in range(256) if b >= 32 or b in (9, 10, 12, 13, 27))
MAX_CONTROL_SHARE = 0.05
TEXT_MIME_SUFFIXES = ("xml", "json", "javascript")  # application/xhtml+xml etc. are text


def binary_kind(payload: bytes) -> str | None:
    """A MIME type when `payload` is binary (an image, an archive, ...), None when it is text.

    resiliparse's magic-byte check names known binary formats; for the rest, a share of C0 control
    bytes decides, which (unlike a share of non-ASCII bytes) keeps UTF-8 text in any script.
    """
    head = payload[:SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    mime = detect_mime(head)
    if mime.startswith("text/") or mime.endswith(TEXT_MIME_SUFFIXES):
        return None
    if mime != "application/octet-stream":
        return mime
    controls = len(head.translate(None, _TEXT_BYTES))
    return mime if controls > len(head) * MAX_CONTROL_SHARE else None
