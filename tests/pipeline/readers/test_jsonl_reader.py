"""pipeline.readers.jsonl on real JSON Lines files: plain, gzip and zstd."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import zstandard

from pipeline.inputs import InputFile
from pipeline.readers import ReaderOptions, Record, read_records

COMPRESSORS = {
    "jsonl": lambda data: data,
    "jsonl.gz": gzip.compress,
    "jsonl.zst": lambda data: zstandard.ZstdCompressor().compress(data),
}


def write(path: Path, data: bytes) -> Path:
    suffix = path.name.split(".", 1)[1]
    path.write_bytes(COMPRESSORS[suffix](data))
    return path


def read(path: Path, **options) -> list[Record]:
    return list(read_records(InputFile(str(path), "jsonl", path.stat().st_size, "test"), ReaderOptions(**options)))


def lines(*objects: object) -> bytes:
    return b"".join(json.dumps(o, ensure_ascii=False).encode() + b"\n" for o in objects)


def noisy_lines(count: int) -> bytes:
    """Lines that compress poorly, so a cut in the compressed file lands after many whole lines."""
    rng = random.Random(7)
    return lines(*({"id": f"doc-{i}", "text": "".join(rng.choices("abcdefgh ijklmnop", k=300))} for i in range(count)))


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_documents_come_out_with_text_id_url_and_date(tmp_path: Path, suffix: str):
    data = lines(
        {"id": "a", "text": "first ü", "url": "http://example.org/a", "date": "2024-01-02T03:04:05Z"},
        {"id": 7, "text": "second", "date": 1700000000},
        {"text": "third", "url": 42, "date": "not a date"},
    )
    path = write(tmp_path / f"docs.{suffix}", data)
    records = read(path)
    assert [r.text for r in records] == ["first ü", "second", "third"]
    assert [r.removed_by for r in records] == [None, None, None]
    assert [r.id for r in records[:2]] == ["a", "7"]
    assert [r.url for r in records] == ["http://example.org/a", None, None]
    assert records[0].date == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert records[1].date == datetime.fromtimestamp(1700000000, tz=UTC)
    assert records[2].date is None
    assert [r.source for r in records] == [f"{path}:1", f"{path}:2", f"{path}:3"]


def test_field_names_are_configurable(tmp_path: Path):
    data = lines(
        {
            "content": "the body",
            "doc_id": "x-1",
            "link": "http://example.org/x",
            "crawled": "2023-05-06",
            "text": "ignored",
        },
        {"content": "no id here", "id": "not-this-one"},
    )
    options = {"text_field": "content", "id_field": "doc_id", "url_field": "link", "date_field": "crawled"}
    first, second = read(write(tmp_path / "custom.jsonl", data), **options)
    assert (first.text, first.id, first.url) == ("the body", "x-1", "http://example.org/x")
    assert first.date == datetime(2023, 5, 6, tzinfo=UTC)
    assert second.text == "no id here"
    assert second.id != "not-this-one"  # the default field names are not consulted
    assert len(second.id) == 32


def test_optional_fields_can_be_switched_off(tmp_path: Path):
    data = lines({"text": "t", "id": "given", "url": "http://example.org/", "date": "2024-01-01"})
    (record,) = read(write(tmp_path / "off.jsonl", data), id_field=None, url_field=None, date_field=None)
    assert record.text == "t"
    assert record.id != "given"
    assert (record.url, record.date) == (None, None)


def test_each_bad_line_is_recorded_with_file_and_line(tmp_path: Path):
    data = (
        b'{"text": "good one"}\n'
        b'{"text": broken\n'
        b"\n"
        b'["a", "list"]\n'
        b'"just a string"\n'
        b'{"id": "no text"}\n'
        b'{"text": 12}\n'
        b'{"text": "good two"}\n'
    )
    path = write(tmp_path / "bad.jsonl", data)
    records = read(path)
    assert [(r.source, r.removed_by) for r in records] == [
        (f"{path}:1", None),
        (f"{path}:2", "malformed_json"),
        (f"{path}:4", "malformed_json"),
        (f"{path}:5", "malformed_json"),
        (f"{path}:6", "missing_text"),
        (f"{path}:7", "missing_text"),
        (f"{path}:8", None),
    ]
    assert records[2].removed_detail == "a JSON list, not an object"
    assert records[3].removed_detail == "a JSON str, not an object"
    assert records[4].removed_detail == "field 'text' is absent"
    assert records[5].removed_detail == "field 'text' is int"
    assert [r.text for r in records if r.removed_by is None] == ["good one", "good two"]


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_invalid_utf8_is_skipped_or_replaced(tmp_path: Path, suffix: str):
    data = b'{"text": "caf\xe9 cr\xe8me"}\n{"text": "fine"}\n'
    path = write(tmp_path / f"latin1.{suffix}", data)
    skipped = read(path)
    assert [r.removed_by for r in skipped] == ["invalid_utf8", None]
    assert skipped[0].removed_detail.startswith("invalid UTF-8 at byte 13")
    assert skipped[0].source == f"{path}:1"
    replaced = read(path, invalid_utf8="replace")
    assert [(r.removed_by, r.text) for r in replaced] == [(None, "caf\ufffd cr\ufffdme"), (None, "fine")]


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst"])
def test_truncated_compressed_file_keeps_the_lines_before_the_cut(tmp_path: Path, suffix: str):
    whole = write(tmp_path / f"whole.{suffix}", noisy_lines(2000))
    intact = read(whole)
    data = whole.read_bytes()
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(data[: len(data) // 2])

    records = read(path)
    *good, last = records
    assert last.removed_by == "corrupt_stream"
    assert last.removed_detail.endswith("rest of file skipped")
    assert 100 < len(good) < 2000
    assert [(r.id, r.text) for r in good] == [(r.id, r.text) for r in intact[: len(good)]]
    assert all(r.removed_by is None for r in good)
    assert last.source == f"{path}:{len(good) + 1}"


@pytest.mark.parametrize("suffix", ["jsonl.gz", "jsonl.zst"])
def test_file_cut_inside_the_compression_header_is_not_read_as_empty(tmp_path: Path, suffix: str):
    whole = write(tmp_path / f"whole.{suffix}", noisy_lines(10))
    path = tmp_path / f"cut.{suffix}"
    path.write_bytes(whole.read_bytes()[:6])
    (record,) = read(path)
    assert record.removed_by == "corrupt_stream"
    assert record.source == f"{path}:1"


def test_zstd_file_of_several_frames_is_read_whole(tmp_path: Path):
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "frames.jsonl.zst"
    path.write_bytes(b"".join(compressor.compress(lines({"text": f"frame {i}"})) for i in range(3)))
    assert [r.text for r in read(path)] == ["frame 0", "frame 1", "frame 2"]


def test_gzip_file_of_several_members_is_read_whole(tmp_path: Path):
    path = tmp_path / "members.jsonl.gz"
    path.write_bytes(b"".join(gzip.compress(lines({"text": f"member {i}"})) for i in range(3)))
    assert [r.text for r in read(path)] == ["member 0", "member 1", "member 2"]


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
@pytest.mark.parametrize("content", [b"", b"\n\n  \n"], ids=["no-bytes", "blank-lines"])
def test_empty_file_is_one_empty_file_record(tmp_path: Path, suffix: str, content: bytes):
    path = write(tmp_path / f"empty.{suffix}", content)
    (record,) = read(path)
    assert (record.removed_by, record.source) == ("empty_file", f"{path}:0")


def test_ids_are_stable_across_reads_and_unique_per_line(tmp_path: Path):
    path = write(tmp_path / "ids.jsonl", lines(*({"text": "same text"} for _ in range(50))))
    first = [r.id for r in read(path)]
    second = [r.id for r in read(path)]
    assert first == second
    assert len(set(first)) == 50


def test_same_lines_in_two_files_get_different_ids(tmp_path: Path):
    data = lines({"text": "one"}, {"text": "two"})
    a = [r.id for r in read(write(tmp_path / "a.jsonl", data))]
    b = [r.id for r in read(write(tmp_path / "b.jsonl", data))]
    assert not set(a) & set(b)


def test_crlf_line_endings_are_accepted(tmp_path: Path):
    path = write(tmp_path / "crlf.jsonl", b'{"text": "one"}\r\n{"text": "two"}\r\n')
    assert [(r.removed_by, r.text) for r in read(path)] == [(None, "one"), (None, "two")]


def test_empty_ids_count_as_missing_and_far_dates_as_no_date(tmp_path: Path):
    data = lines(
        {"text": "a", "id": "", "date": "9999-12-31T23:00:00-05:00"},
        {"text": "b", "id": "kept-id", "date": "2024-02-29"},
    )
    path = tmp_path / "ids.jsonl"
    path.write_bytes(data)
    first, second = read(path)
    assert first.id != "" and len(first.id) == 32
    assert first.date is None
    assert second.id == "kept-id"
    assert second.date.isoformat() == "2024-02-29T00:00:00+00:00"
