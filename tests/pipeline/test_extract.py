"""pipeline.extract: charset decoding in WHATWG order, and main-text extraction."""

from __future__ import annotations

import codecs

import pytest
from crawl_factory import PARAGRAPHS

from pipeline.extract import EXTRACTORS, decode_html, extract_text, html_to_text, normalise_newlines

RUSSIAN = PARAGRAPHS["ru"]
JAPANESE = PARAGRAPHS["ja"]
FRENCH = "Le café crème à la française est très élégant, dit le meunier près du moulin."


def page(text: str, encoding: str, meta: str | None = None) -> bytes:
    head = f'<meta charset="{meta}">' if meta else ""
    return f"<html><head>{head}<title>t</title></head><body><p>{text}</p></body></html>".encode(encoding)


def codec(name: str) -> str:
    return codecs.lookup(name).name


def test_utf8_bom_beats_http_charset_and_meta():
    payload = codecs.BOM_UTF8 + page(RUSSIAN, "utf-8", meta="koi8-r")
    text, encoding = decode_html(payload, "windows-1251")
    assert codec(encoding) == "utf-8"
    assert RUSSIAN in text
    assert not text.startswith("\ufeff")


@pytest.mark.parametrize(("bom", "encoding"), [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")])
def test_utf16_bom_beats_http_charset(bom: bytes, encoding: str):
    payload = bom + page(RUSSIAN, encoding)
    text, used = decode_html(payload, "koi8-r")
    assert codec(used) == codec(encoding)
    assert RUSSIAN in text


def test_http_charset_beats_meta():
    payload = page(RUSSIAN, "cp1251", meta="koi8-r")
    text, encoding = decode_html(payload, "windows-1251")
    assert codec(encoding) == "cp1251"
    assert RUSSIAN in text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [(RUSSIAN, "koi8-r"), (JAPANESE, "shift_jis"), (FRENCH, "windows-1252"), (RUSSIAN, "utf-8")],
)
def test_meta_charset_is_used_without_an_http_charset(text: str, encoding: str):
    decoded, used = decode_html(page(text, encoding, meta=encoding), None)
    assert codec(used) == codec(encoding)
    assert text in decoded


@pytest.mark.parametrize(
    ("text", "encoding"), [(RUSSIAN * 3, "koi8-r"), (JAPANESE * 3, "shift_jis"), (FRENCH * 3, "windows-1252")]
)
def test_charset_is_detected_when_nothing_declares_it(text: str, encoding: str):
    decoded, used = decode_html(page(text, encoding), None)
    assert codec(used) == codec(encoding)
    assert text in decoded


def test_unknown_http_charset_falls_back_to_meta_and_detection():
    decoded, used = decode_html(page(RUSSIAN, "koi8-r", meta="koi8-r"), "no-such-charset")
    assert codec(used) == codec("koi8-r")
    assert RUSSIAN in decoded


@pytest.mark.parametrize("charset", ["utf-8", None])
@pytest.mark.parametrize("text", [FRENCH, "Привет, мир! Ещё немного текста."], ids=["french", "russian"])
def test_one_stray_byte_does_not_turn_a_utf8_page_into_mojibake(charset: str | None, text: str):
    payload = page(f"{text} val", "utf-8", meta="utf-8").replace(b" val", b" val\xffid")
    decoded, encoding = decode_html(payload, charset)
    assert codec(encoding) == "utf-8"
    assert f"{text} val\ufffdid" in decoded


ARTICLE = " ".join(
    f"Sentence {i} of the article explains how grist mills ground grain for the village." for i in range(30)
)
NOISY_PAGE = f"""<!DOCTYPE html><html><head><title>Mills</title>
<style>.menu {{ color: red }} /* STYLE_MARK */</style>
<script>var SCRIPT_MARK = "never text";</script></head>
<body>
<nav><ul><li><a href="/">NAV_HOME</a></li><li><a href="/about">NAV_ABOUT</a></li></ul></nav>
<header><div class="menu">MENU_MARK</div></header>
<main><article><h1>Grist mills</h1>
<p>{ARTICLE}</p>\r\n<p>A second paragraph about water wheels, millstones and the miller's daily work.</p>\r
<p>Third paragraph.\r\nIt has a CRLF inside.</p></article></main>
<footer>FOOTER_MARK all rights reserved</footer>
<noscript>NOSCRIPT_MARK</noscript><script>document.write("LATE_SCRIPT_MARK")</script>
</body></html>"""


@pytest.mark.parametrize("extractor", EXTRACTORS)
def test_main_text_is_kept_and_boilerplate_dropped(extractor: str):
    text = extract_text(NOISY_PAGE, extractor)
    assert "Sentence 0 of the article" in text
    assert "Sentence 29 of the article" in text
    assert "A second paragraph about water wheels" in text
    for mark in ("STYLE_MARK", "SCRIPT_MARK", "NAV_HOME", "NAV_ABOUT", "MENU_MARK", "FOOTER_MARK", "NOSCRIPT_MARK"):
        assert mark not in text, mark


@pytest.mark.parametrize("extractor", EXTRACTORS)
def test_newlines_are_normalised_and_paragraphs_are_lines(extractor: str):
    text = extract_text(NOISY_PAGE, extractor)
    assert "\r" not in text
    lines = [line for line in text.split("\n") if line.strip()]
    assert any(line.startswith("Sentence 0") for line in lines)
    assert any(line.startswith("A second paragraph") for line in lines)
    assert text == text.strip()


def test_without_main_content_the_whole_visible_page_is_kept():
    text = extract_text(NOISY_PAGE, "resiliparse", main_content=False)
    assert "NAV_HOME" in text and "FOOTER_MARK" in text and "Sentence 0" in text
    assert "SCRIPT_MARK" not in text and "STYLE_MARK" not in text


@pytest.mark.parametrize("extractor", EXTRACTORS)
def test_empty_page_gives_empty_text(extractor: str):
    assert extract_text("", extractor) == ""
    assert extract_text("<html><body><script>x()</script></body></html>", extractor) == ""


def test_unknown_extractor_is_a_value_error():
    with pytest.raises(ValueError, match="unknown extractor 'foo'"):
        extract_text("<p>x</p>", "foo")


def test_normalise_newlines():
    assert normalise_newlines("a\r\nb\rc\n\nd\r\n") == "a\nb\nc\n\nd\n"


@pytest.mark.parametrize("extractor", EXTRACTORS)
def test_html_to_text_decodes_then_extracts(extractor: str):
    body = f"<h1>Мельница</h1><p>{RUSSIAN}</p><p>{RUSSIAN} И ещё одно предложение про жернова.</p>"
    payload = f'<html><head><meta charset="koi8-r"></head><body><article>{body}</article></body></html>'
    text, encoding = html_to_text(payload.encode("koi8-r"), None, extractor)
    assert codec(encoding) == codec("koi8-r")
    assert RUSSIAN in text
    assert "\ufffd" not in text
