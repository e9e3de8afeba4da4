"""pipeline.readers.warc on real WARC / WARC.gz / WET files written by warcio."""

from __future__ import annotations

import gzip
import os
import re
import tracemalloc
from datetime import datetime
from pathlib import Path

import pytest
from crawl_factory import PARAGRAPHS, WarcEntry, html_page, multilingual_entries, write_warc
from warcio.archiveiterator import ArchiveIterator as WarcioIterator

from pipeline.extract import html_to_text
from pipeline.inputs import InputFile, detect_format
from pipeline.readers import ReaderOptions, Record, read_records
from pipeline.readers.warc import read_warc

MB = 1_000_000


def read(path: Path, **options) -> list[Record]:
    """Every record of `path`, through the same dispatch the pipeline uses."""
    file = InputFile(str(path), detect_format(str(path)) or "warc", path.stat().st_size, "test")
    return list(read_records(file, ReaderOptions(**options)))


def warcio_view(path: Path) -> list[dict]:
    """The same file as an independent reader sees it: offset, id, type, url, date of every record."""
    out = []
    with open(path, "rb") as handle:
        records = WarcioIterator(handle)
        for record in records:
            headers = record.rec_headers
            out.append(
                {
                    "offset": records.get_record_offset(),
                    "id": headers.get_header("WARC-Record-ID").strip("<>"),
                    "type": headers.get_header("WARC-Type"),
                    "url": headers.get_header("WARC-Target-URI"),
                    "date": headers.get_header("WARC-Date"),
                }
            )
    return out


def kept(records: list[Record]) -> list[Record]:
    return [r for r in records if r.document and r.removed_by is None]


def failures(records: list[Record], *rules: str) -> list[Record]:
    return [r for r in records if r.removed_by in rules]


@pytest.mark.parametrize("compressed", [True, False], ids=["warc.gz", "warc"])
def test_html_response_becomes_a_document_with_url_date_id_and_offset(tmp_path: Path, compressed: bool):
    path = write_warc(tmp_path / ("crawl.warc.gz" if compressed else "crawl.warc"), multilingual_entries(5), compressed)
    records = read(path)
    truth = warcio_view(path)

    assert len(records) == len(truth) == 10
    for record, expected in zip(records, truth, strict=True):
        assert record.id == expected["id"]  # WARC-Record-ID without the angle brackets
        assert not record.id.startswith("<")
        assert record.url == expected["url"]
        assert record.position == expected["offset"]
        assert record.source == f"{path}@{expected['offset']}"
    responses = [(r, t) for r, t in zip(records, truth, strict=True) if t["type"] == "response"]
    assert [r.removed_by for r, _ in responses] == [None] * 5
    for record, expected in responses:
        assert record.document
        assert record.date == datetime.fromisoformat(expected["date"].replace("Z", "+00:00"))
        assert record.date.tzinfo is not None
        assert record.charset == "utf-8"
        assert record.html.startswith(b"<!DOCTYPE html>") and record.html.endswith(b"</html>")
    assert len({r.id for r in records}) == len(records)


def test_request_metadata_and_warcinfo_records_are_not_documents(tmp_path: Path):
    entries = [
        WarcEntry(
            "http://example.org/", b"software: test\r\n", kind="warcinfo", content_type="application/warc-fields"
        ),
        WarcEntry("http://example.org/a", kind="request"),
        WarcEntry("http://example.org/a", html_page("A", ["a page"])),
        WarcEntry(
            "http://example.org/a", b"fetchTimeMs: 12\r\n", kind="metadata", content_type="application/warc-fields"
        ),
    ]
    records = read(write_warc(tmp_path / "kinds.warc.gz", entries))
    assert [(r.document, r.removed_by) for r in records] == [
        (False, "warc_warcinfo"),
        (False, "warc_request"),
        (True, None),
        (False, "warc_metadata"),
    ]


@pytest.mark.parametrize("status", [404, 301, 500])
def test_non_200_response_is_removed_with_its_status(tmp_path: Path, status: int):
    entries = [WarcEntry("http://example.org/x", html_page("X", ["not found"]), status=status)]
    (record,) = read(write_warc(tmp_path / "status.warc.gz", entries))
    assert (record.document, record.removed_by, record.removed_detail) == (True, "http_status", str(status))
    assert record.html is None


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4), ("application/pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj")],
)
def test_non_html_content_type_is_removed(tmp_path: Path, content_type: str, body: bytes):
    entries = [WarcEntry("http://example.org/file", body, content_type=content_type)]
    (record,) = read(write_warc(tmp_path / "types.warc.gz", entries))
    assert (record.removed_by, record.removed_detail) == ("non_html", content_type)
    assert record.html is None


def test_revisit_record_is_removed_as_revisit(tmp_path: Path):
    entries = [
        WarcEntry("http://example.org/r", html_page("R", ["first fetch"])),
        WarcEntry("http://example.org/r", kind="revisit"),
    ]
    first, revisit = read(write_warc(tmp_path / "revisit.warc.gz", entries))
    assert first.removed_by is None
    assert revisit.removed_by == "warc_revisit"
    assert revisit.removed_detail == "http://example.org/r"  # WARC-Refers-To-Target-URI


def test_png_bytes_declared_as_html_are_a_binary_body(tmp_path: Path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)) * 8
    entries = [
        WarcEntry("http://example.org/fake.html", png),
        WarcEntry("http://example.org/ok", html_page("ok", ["ok"])),
    ]
    fake, ok = read(write_warc(tmp_path / "fake.warc.gz", entries))
    assert fake.removed_by == "binary_body"
    assert "image/png" in fake.removed_detail
    assert fake.html is None
    assert ok.removed_by is None


@pytest.mark.parametrize(
    "body",
    [
        b"<HTML>\n<HEAD><TITLE>Old page</TITLE></HEAD>\n<BODY><P>Uppercase tags from 1998.</P></BODY>\n</HTML>\n",
        b'<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><body><p>XHTML</p></body></html>',
        "  <div>Фрагмент без заголовка</div>\n<p>второй абзац</p>\n".encode(),
    ],
    ids=["uppercase-tags", "xml-prolog", "fragment"],
)
def test_real_html_that_does_not_start_like_a_modern_page_is_kept(tmp_path: Path, body: bytes):
    (record,) = read(write_warc(tmp_path / "old.warc.gz", [WarcEntry("http://example.org/old", body)]))
    assert (record.removed_by, record.removed_detail) == (None, None)
    assert record.html == body


@pytest.mark.parametrize("compressed", [False, True], ids=["warc", "warc.gz"])
def test_fifty_megabyte_page_is_too_large_and_never_read_into_memory(tmp_path: Path, compressed: bool):
    body = b"<html><body>" + b"<p>lorem ipsum dolor sit amet</p>\n" * 1_500_000 + b"</body></html>"
    assert len(body) > 50 * MB
    entries = [
        WarcEntry("http://example.org/before", html_page("before", ["before"])),
        WarcEntry("http://example.org/huge", body),
        WarcEntry("http://example.org/after", html_page("after", ["after"])),
        WarcEntry("http://example.org/huge-last", body),
    ]
    path = write_warc(tmp_path / ("huge.warc.gz" if compressed else "huge.warc"), entries, compressed)
    del body, entries

    tracemalloc.start()
    try:
        records = read(path)  # default max_html_bytes: 5 MB
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [(r.url, r.removed_by) for r in records] == [
        ("http://example.org/before", None),
        ("http://example.org/huge", "too_large"),
        ("http://example.org/after", None),
        ("http://example.org/huge-last", "too_large"),
    ]
    assert records[1].removed_detail.endswith("> 5000000")
    assert peak < 5 * MB, f"reader held {peak / MB:.1f} MB at its peak"


def test_page_that_decodes_past_the_limit_is_too_large(tmp_path: Path):
    """A Content-Encoding'd body is small on disk; its size once decoded is what counts."""
    body = b"<html><body>" + b"<p>lorem ipsum dolor sit amet</p>\n" * 300_000 + b"</body></html>"
    entries = [
        WarcEntry("http://example.org/bomb", gzip.compress(body, 1), extra_http_headers=[("Content-Encoding", "gzip")]),
        WarcEntry("http://example.org/after", html_page("after", ["after"])),
    ]
    path = write_warc(tmp_path / "encoded.warc.gz", entries)
    assert path.stat().st_size < MB

    tracemalloc.start()
    try:
        records = read(path, max_html_bytes=MB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert [(r.url, r.removed_by) for r in records] == [
        ("http://example.org/bomb", "too_large"),
        ("http://example.org/after", None),
    ]
    assert records[0].html is None
    assert peak < 3 * MB


@pytest.mark.parametrize("compressed", [False, True], ids=["warc", "warc.gz"])
@pytest.mark.parametrize("encoded", [False, True], ids=["identity", "content-encoding-gzip"])
def test_page_just_under_the_limit_is_kept_whole(tmp_path: Path, compressed: bool, encoded: bool):
    body = b"<html><body>" + b"<p>lorem ipsum dolor sit amet</p>\n" * 29_000 + b"</body></html>"
    limit = len(body) + 1
    stored, headers = (gzip.compress(body), [("Content-Encoding", "gzip")]) if encoded else (body, [])
    entries = [WarcEntry("http://example.org/big", stored, extra_http_headers=headers)]
    (record,) = read(
        write_warc(tmp_path / ("under.warc.gz" if compressed else "under.warc"), entries, compressed),
        max_html_bytes=limit,
    )
    assert record.removed_by is None
    assert record.html == body


def test_content_encoding_gzip_payload_is_decoded(tmp_path: Path):
    page = html_page("Encoded", ["This body travelled gzip-encoded over HTTP."])
    entries = [
        WarcEntry("http://example.org/gz", gzip.compress(page), extra_http_headers=[("Content-Encoding", "gzip")])
    ]
    (record,) = read(write_warc(tmp_path / "gz.warc.gz", entries))
    assert record.removed_by is None
    assert record.html == page
    text, _ = html_to_text(record.html, record.charset)
    assert "This body travelled gzip-encoded over HTTP." in text


def test_chunked_transfer_encoding_is_decoded(tmp_path: Path):
    page = html_page("Chunked", ["Sent in two chunks."])
    half = len(page) // 2
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, page[:half], len(page) - half, page[half:])
    entries = [WarcEntry("http://example.org/c", chunked, extra_http_headers=[("Transfer-Encoding", "chunked")])]
    (record,) = read(write_warc(tmp_path / "chunked.warc.gz", entries))
    assert record.removed_by is None
    assert record.html == page


def test_record_cut_mid_body_is_a_truncated_record(tmp_path: Path):
    path = write_warc(tmp_path / "cut.warc", multilingual_entries(3), gzip=False)
    data = path.read_bytes()
    last_body = data.rindex(b"<!DOCTYPE html>")
    path.write_bytes(data[: last_body + 100])

    records = read(path)
    assert [r.removed_by for r in records] == [
        "warc_request",
        None,
        "warc_request",
        None,
        "warc_request",
        "truncated_record",
    ]
    cut = records[-1]
    assert cut.url == "http://example.org/page/2.html"
    assert cut.html is None
    assert re.fullmatch(r"body has 100 of \d+ bytes", cut.removed_detail)


def test_record_cut_inside_its_headers_is_a_truncated_record_not_a_status(tmp_path: Path):
    path = write_warc(tmp_path / "cut.warc", multilingual_entries(2), gzip=False)
    data = path.read_bytes()
    status_line = data.rindex(b"HTTP/1.1 200")
    warc_length = data.index(b"Content-Length:", data.rindex(b"WARC-Type: response")) + len("Content-Length:")
    for cut in (warc_length, status_line + len("HTTP/1.1 2"), data.index(b"Content-Type: text/h", status_line) + 20):
        path.write_bytes(data[:cut])
        records = read(path)
        assert [r.removed_by for r in records] == ["warc_request", None, "warc_request", "truncated_record"], cut


def _member_offsets(path: Path) -> list[int]:
    return [r["offset"] for r in warcio_view(path)]


CUTS = {  # where to cut the last gzip member, given its start and the file size
    "gzip-header": lambda start, size: start + 5,
    "first-deflate-bytes": lambda start, size: start + 30,  # fastwarc alone stops here without an error
    "middle": lambda start, size: (start + size) // 2,
    "near-end": lambda start, size: size - 20,
}


@pytest.mark.parametrize("where", list(CUTS))
def test_truncated_warc_gz_tail_is_reported_with_its_offset(tmp_path: Path, where: str):
    whole = write_warc(tmp_path / "whole.warc.gz", multilingual_entries(3))
    data = whole.read_bytes()
    offsets = _member_offsets(whole)
    last_start = offsets[-1]  # the last response's gzip member
    path = tmp_path / "cut.warc.gz"
    path.write_bytes(data[: CUTS[where](last_start, len(data))])

    records = read(path)
    intact = read(whole)
    assert [r.id for r in records[:5]] == [r.id for r in intact[:5]]  # everything before the cut member
    assert all(r.removed_by in (None, "warc_request") for r in records[:5])
    (problem,) = failures(records[5:], "truncated_record", "corrupt_stream")
    assert offsets[-2] <= problem.position <= last_start
    assert problem.source == f"{path}@{problem.position}"
    assert not kept(records[5:]), "nothing of the cut record may be kept as a document"


@pytest.mark.parametrize(
    ("damaged", "first", "last"),
    [(3, 20, 60), (0, 20, 60), (0, 0, 3), (6, 100, 101)],
    ids=["middle-member", "first-member", "gzip-magic", "one-byte"],
)
def test_corrupt_gzip_member_is_skipped_and_reading_resumes(tmp_path: Path, damaged: int, first: int, last: int):
    whole = write_warc(tmp_path / "whole.warc.gz", multilingual_entries(4))
    offsets = _member_offsets(whole)
    data = bytearray(whole.read_bytes())
    for i in range(offsets[damaged] + first, offsets[damaged] + last):
        data[i] ^= 0xFF
    path = tmp_path / "corrupt.warc.gz"
    path.write_bytes(bytes(data))

    records = read(path)
    intact = read(whole)
    (damage,) = failures(records, "corrupt_stream")
    assert f"skipped to offset {offsets[damaged + 1]}" in damage.removed_detail
    assert damage.source == f"{path}@{damage.position}"
    assert damage.position <= offsets[damaged]
    # every record outside the damaged member is read, in order, with its own id
    readable = [r for r in records if r.removed_by != "corrupt_stream"]
    assert [r.id for r in readable] == [r.id for i, r in enumerate(intact) if i != damaged]
    assert len(kept(readable)) == len(kept(intact)) - (damaged % 2)  # odd members are the responses


@pytest.mark.parametrize("compressed", [False, True], ids=["warc", "warc.gz"])
def test_intact_file_whose_last_page_quotes_a_warc_header_has_no_damage(tmp_path: Path, compressed: bool):
    quoting = b"<html><body><pre>An example record:\nWARC/1.0\r\nWARC-Type: response\r\n\r\n</pre></body></html>"
    entries = [WarcEntry("http://example.org/a", html_page("a", ["a"])), WarcEntry("http://example.org/doc", quoting)]
    records = read(write_warc(tmp_path / ("quote.warc.gz" if compressed else "quote.warc"), entries, compressed))
    assert [(r.url, r.removed_by) for r in records] == [
        ("http://example.org/a", None),
        ("http://example.org/doc", None),
    ]
    assert records[1].html == quoting


@pytest.mark.parametrize("name", ["empty.warc", "empty.warc.gz", "empty.wet.gz"])
def test_empty_file_is_one_empty_file_record(tmp_path: Path, name: str):
    path = tmp_path / name
    path.write_bytes(b"")
    (record,) = read(path)
    assert (record.removed_by, record.source, record.position) == ("empty_file", f"{path}@0", 0)


def _wet(path: Path, texts: list[bytes]) -> Path:
    entries = [WarcEntry("", b"software: test\r\n", kind="warcinfo", content_type="application/warc-fields")]
    entries += [
        WarcEntry(f"http://example.org/{i}", text, kind="conversion", content_type="text/plain")
        for i, text in enumerate(texts)
    ]
    return write_warc(path, entries)


def test_wet_conversion_records_are_text_documents(tmp_path: Path):
    texts = [PARAGRAPHS["en"].encode(), f"{PARAGRAPHS['ru']}\n{PARAGRAPHS['ja']}".encode()]
    records = read(_wet(tmp_path / "CC-MAIN-x.warc.wet.gz", texts))
    assert (records[0].document, records[0].removed_by) == (False, "warc_warcinfo")
    docs = records[1:]
    assert [r.text for r in docs] == [t.decode() for t in texts]
    assert [r.url for r in docs] == ["http://example.org/0", "http://example.org/1"]
    assert all(r.document and r.removed_by is None and r.html is None and r.date is not None for r in docs)


def test_wet_record_with_invalid_utf8_follows_the_invalid_utf8_option(tmp_path: Path):
    path = _wet(tmp_path / "bad.wet.gz", [b"caf\xe9 au lait", b"fine"])
    skipped = read(path)[1:]
    assert [r.removed_by for r in skipped] == ["invalid_utf8", None]
    assert "byte 3" in skipped[0].removed_detail
    replaced = read(path, invalid_utf8="replace")[1:]
    assert [r.text for r in replaced] == ["caf\ufffd au lait", "fine"]


@pytest.mark.parametrize(
    ("charset", "lang", "python_codec"),
    [("koi8-r", "ru", "koi8_r"), ("shift_jis", "ja", "shift_jis"), ("windows-1252", "fr", "cp1252")],
)
def test_legacy_charset_named_only_in_meta_decodes_after_extraction(
    tmp_path: Path, charset: str, lang: str, python_codec: str
):
    page = html_page(f"{lang} page", [PARAGRAPHS[lang]] * 3, charset=charset)
    entries = [WarcEntry(f"http://example.org/{lang}", page, content_type="text/html")]  # no charset in HTTP
    (record,) = read(write_warc(tmp_path / "legacy.warc.gz", entries))
    assert record.removed_by is None
    assert record.charset is None
    text, encoding = html_to_text(record.html, record.charset)
    assert PARAGRAPHS[lang] in text
    assert "\ufffd" not in text
    assert encoding.replace("-", "_").lower() in (charset.replace("-", "_"), python_codec)


def test_resource_record_with_html_is_a_document(tmp_path: Path):
    page = html_page("Resource", ["Stored as a resource record."])
    entries = [WarcEntry("file:///site/index.html", page, kind="resource", content_type="text/html")]
    (record,) = read(write_warc(tmp_path / "resource.warc.gz", entries))
    assert (record.removed_by, record.html, record.url) == (None, page, "file:///site/index.html")


def test_reading_twice_gives_the_same_records(tmp_path: Path):
    path = write_warc(tmp_path / "again.warc.gz", multilingual_entries(3))
    first = [(r.id, r.source, r.removed_by, r.html) for r in read_warc(str(path), ReaderOptions())]
    second = [(r.id, r.source, r.removed_by, r.html) for r in read_warc(str(path), ReaderOptions())]
    assert first == second


def _accounted(records: list[Record]) -> list[tuple[str | None, str | None]]:
    """(url, rule) of every document record: what a run would count as docs in."""
    return [(r.url, r.removed_by) for r in records if r.document]


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_wet_record_cut_by_the_end_of_the_file_is_removed_once(tmp_path: Path, compressed: bool):
    texts = [os.urandom(3000).hex().encode() for _ in range(3)]  # incompressible: the cut lands in the last
    whole = _wet(tmp_path / ("w.warc.wet.gz" if compressed else "w.warc.wet"), texts)
    if not compressed:
        whole = write_warc(
            tmp_path / "w.warc.wet",
            [
                WarcEntry(f"http://example.org/{i}", t, kind="conversion", content_type="text/plain")
                for i, t in enumerate(texts)
            ],
            gzip=False,
        )
    cut = tmp_path / ("cut.warc.wet.gz" if compressed else "cut.warc.wet")
    cut.write_bytes(whole.read_bytes()[:-400])
    accounted = _accounted(read(cut))
    assert accounted[:2] == [("http://example.org/0", None), ("http://example.org/1", None)]
    assert accounted[2:] == [("http://example.org/2", "truncated_record")]


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_gzip_encoded_page_cut_by_the_end_of_the_file_is_removed_not_kept(tmp_path: Path, compressed: bool):
    page = gzip.compress(html_page("Encoded", [f"paragraph {i} " * 40 for i in range(60)]), mtime=0)
    entries = [
        WarcEntry(f"http://example.org/{i}", page, extra_http_headers=[("Content-Encoding", "gzip")]) for i in range(2)
    ]
    whole = write_warc(tmp_path / ("e.warc.gz" if compressed else "e.warc"), entries, gzip=compressed)
    cut = tmp_path / ("cut.warc.gz" if compressed else "cut.warc")
    cut.write_bytes(whole.read_bytes()[:-200])
    assert _accounted(read(cut)) == [("http://example.org/0", None), ("http://example.org/1", "truncated_record")]


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_oversized_content_length_does_not_swallow_the_records_after_it(tmp_path: Path, compressed: bool):
    entries = [WarcEntry(f"http://x/{i}", html_page(f"x{i}", [f"page {i}"])) for i in range(4)]
    path = write_warc(tmp_path / ("o.warc.gz" if compressed else "o.warc"), entries, gzip=compressed)
    members = _member_offsets(path) if compressed else None
    data = path.read_bytes()
    if compressed:  # rewrite record 1's member with a Content-Length 3000 bytes too large
        record = gzip.decompress(data[members[1] : members[2]])
        declared = int(re.search(rb"Content-Length: (\d+)", record).group(1))
        record = record.replace(b"Content-Length: %d" % declared, b"Content-Length: %d" % (declared + 3000), 1)
        data = data[: members[1]] + gzip.compress(record) + data[members[2] :]
    else:
        first = data.index(b"Content-Length:", data.index(b"http://x/1"))
        declared = int(re.match(rb"Content-Length: (\d+)", data[first:]).group(1))
        data = (
            data[:first]
            + b"Content-Length: %d" % (declared + 2000)
            + data[first + len(b"Content-Length: %d" % declared) :]
        )
    path.write_bytes(data)
    accounted = _accounted(read(path))
    assert ("http://x/0", None) in accounted and ("http://x/1", "truncated_record") in accounted
    assert {u for u, rule in accounted if rule is None} >= {"http://x/0", "http://x/2", "http://x/3"}
