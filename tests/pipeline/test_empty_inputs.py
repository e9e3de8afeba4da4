"""An input file that yields no document at all (a file of another format, an empty or unreadable one) is named
at the end of `gristmill run`, and the command exits 3 unless --allow-empty-inputs (or [run]
allow_empty_inputs) says that is expected. Through the real command line, on real files."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawl_factory import WarcEntry, multilingual_entries, write_warc

from gristmill.cli import main


def png() -> bytes:
    """A real 1x1 PNG image (signature, IHDR, IDAT, IEND), built from the format's definition."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def recipe(folder: Path, extra: str = "") -> Path:
    path = folder / "r.toml"
    path.write_text(f'{extra}[executor]\nworkers = 1\n\n[[stage]]\nkind = "ingest"\n\n[[stage]]\nkind = "shard"\n')
    return path


def gristmill_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = main(["run", *argv])
    return status, " ".join(capsys.readouterr().out.split())  # rich wraps lines at the terminal width


def removed_rules(run_dir: Path) -> list[str]:
    return sorted(pq.read_table(run_dir / "removed" / "ingest").column("removed_by").to_pylist())


def test_a_file_that_is_not_a_warc_is_named_and_the_run_exits_3(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    image = tmp_path / "photo.warc.gz"
    image.write_bytes(png())
    status, screen = gristmill_run(
        capsys, str(recipe(tmp_path)), "--input", str(image), "--output", str(tmp_path / "run")
    )
    assert status == 3
    assert "1 input file yielded no document at all:" in screen
    assert f"{image} (corrupt_stream 1)" in screen
    assert "not a success (exit status 3)" in screen
    assert "--allow-empty-inputs" in screen and "allow_empty_inputs = true under [run]" in screen
    assert removed_rules(tmp_path / "run") == ["corrupt_stream"]  # recorded as before
    summary = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())
    assert summary["stages"][0]["empty_inputs"] == {str(image): "corrupt_stream 1"}


def test_a_valid_warc_without_a_document_counts_as_empty_and_the_flag_allows_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    warc = write_warc(
        tmp_path / "no-pages.warc.gz",
        [
            WarcEntry("urn:info", b"software: test\r\n", kind="warcinfo", content_type="application/warc-fields"),
            WarcEntry("http://example.org/", kind="request"),
        ],
    )
    argv = [str(recipe(tmp_path)), "--input", str(warc), "--output", str(tmp_path / "run")]
    status, screen = gristmill_run(capsys, *argv)
    assert status == 3
    assert f"{warc} (warc_warcinfo 1, warc_request 1)" in screen
    # the same run, allowed: nothing left to do, the same files named, without the error (the flag is no recipe change)
    status, screen = gristmill_run(capsys, *argv, "--allow-empty-inputs")
    assert status == 0
    assert "1 input file yielded no document (allowed by allow_empty_inputs):" in screen
    assert str(warc) in screen and "not a success" not in screen


def test_the_recipe_key_allows_empty_inputs(tmp_path: Path, capsys):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    allowed = recipe(tmp_path, extra="[run]\nallow_empty_inputs = true\n\n")
    status, screen = gristmill_run(
        capsys, str(allowed), "--input", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "run")
    )
    assert status == 0
    assert "allowed by allow_empty_inputs" in screen


def test_of_the_files_a_glob_matches_only_the_one_without_documents_is_named(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    crawl = tmp_path / "crawl"
    crawl.mkdir()
    write_warc(crawl / "a.warc.gz", multilingual_entries(5, "http://a.example/p"))
    write_warc(crawl / "b.warc.gz", multilingual_entries(5, "http://b.example/p"))
    (crawl / "c.warc.gz").write_bytes(b"")
    argv = [str(recipe(tmp_path)), "--input", str(crawl / "*.warc.gz"), "--output", str(tmp_path / "run")]
    status, screen = gristmill_run(capsys, *argv)
    assert status == 3
    assert "1 input file yielded no document at all:" in screen
    assert f"{crawl / 'c.warc.gz'} (empty_file 1)" in screen
    assert "a.warc.gz" not in screen.split("no document at all:")[1]
    assert "10 documents in " in screen  # the other files' documents are all there
