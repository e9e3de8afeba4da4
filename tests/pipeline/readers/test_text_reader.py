"""pipeline.readers.text: one document per .txt file."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest
from crawl_factory import PARAGRAPHS

from pipeline.inputs import InputFile
from pipeline.readers import ReaderOptions, Record, read_records


def read(path: Path, **options) -> list[Record]:
    return list(read_records(InputFile(str(path), "txt", path.stat().st_size, "test"), ReaderOptions(**options)))


@pytest.mark.parametrize("lang", list(PARAGRAPHS))
def test_a_text_file_is_one_document(tmp_path: Path, lang: str):
    text = f"{PARAGRAPHS[lang]}\n\n{PARAGRAPHS[lang]}\nlast line\n"
    path = tmp_path / f"{lang}.txt"
    path.write_text(text, encoding="utf-8")
    (record,) = read(path)
    assert (record.removed_by, record.text) == (None, text)
    assert record.source == f"{path}@0"
    assert record.raw_bytes == len(text.encode())


@pytest.mark.parametrize("text", ["hello world\n", "One line.\nAnother line.\r\n", "tab\tand form feed\f page two\n"])
def test_short_plain_text_is_not_mistaken_for_binary(tmp_path: Path, text: str):
    path = tmp_path / "short.txt"
    path.write_bytes(text.encode())
    (record,) = read(path)
    assert (record.removed_by, record.text) == (None, text)


def test_ids_are_stable_and_differ_between_files(tmp_path: Path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("same content\n")
    b.write_text("same content\n")
    assert read(a)[0].id == read(a)[0].id
    assert read(a)[0].id != read(b)[0].id


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        gzip.compress(b"compressed text, not text" * 50),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        os.urandom(2048),
    ],
    ids=["png", "gzip", "pdf", "random"],
)
def test_binary_file_is_a_binary_body(tmp_path: Path, data: bytes):
    path = tmp_path / "blob.txt"
    path.write_bytes(data)
    (record,) = read(path)
    assert record.removed_by == "binary_body"
    assert record.text is None
    assert record.removed_detail.startswith("content looks like ")


def test_invalid_utf8_is_skipped_or_replaced(tmp_path: Path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Le café crème\nest très bon.\n".encode("latin-1"))
    (skipped,) = read(path)
    assert skipped.removed_by == "invalid_utf8"
    assert skipped.removed_detail.startswith("invalid UTF-8 at byte 6")
    (replaced,) = read(path, invalid_utf8="replace")
    assert (replaced.removed_by, replaced.text) == (None, "Le caf\ufffd cr\ufffdme\nest tr\ufffds bon.\n")


def test_empty_file_is_an_empty_file_record(tmp_path: Path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    (record,) = read(path)
    assert (record.removed_by, record.text, record.source) == ("empty_file", None, f"{path}@0")


def test_missing_file_is_a_read_error_not_an_exception(tmp_path: Path):
    path = tmp_path / "gone.txt"
    records = list(read_records(InputFile(str(path), "txt", None, "test"), ReaderOptions()))
    assert [r.removed_by for r in records] == ["read_error"]
    assert "gone.txt" in records[0].source
