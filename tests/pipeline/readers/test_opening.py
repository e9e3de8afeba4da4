"""URL inputs are opened with retries: a server that fails the first requests still gives every record, and
one that keeps failing gives one `read_error` record after the last attempt."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from text_factory import write_jsonl

import pipeline.readers.opening as opening
from pipeline.inputs import InputFile
from pipeline.readers import ReaderOptions, read_records


class FlakyHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files, but answers 503 to the first `failures` requests."""

    state: dict[str, int]

    def do_GET(self) -> None:
        self._maybe_fail() or super().do_GET()

    def do_HEAD(self) -> None:
        self._maybe_fail() or super().do_HEAD()

    def _maybe_fail(self) -> bool:
        self.state["requests"] += 1
        if self.state["requests"] > self.state["failures"]:
            return False
        self.send_error(503, "busy")
        return True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, int]]]:
    monkeypatch.setattr(opening, "RETRY_DELAYS", (0.0, 0.0))
    state = {"requests": 0, "failures": 0}
    handler = type("Handler", (FlakyHandler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


def read(url: str) -> list:
    return list(read_records(InputFile(url, "jsonl", None, ""), ReaderOptions()))


def test_a_url_that_fails_at_first_is_read_in_full(tmp_path: Path, flaky_server, monkeypatch: pytest.MonkeyPatch):
    address, state = flaky_server
    write_jsonl(tmp_path / "a.jsonl", [("1", "one"), ("2", "two")])
    state["failures"] = 2
    with monkeypatch.context() as once:
        once.setattr(opening, "RETRY_DELAYS", ())
        assert [r.removed_by for r in read(f"{address}/a.jsonl")] == ["read_error"]  # one attempt is not enough
    state["requests"] = 0
    records = read(f"{address}/a.jsonl")
    assert [(r.id, r.text, r.removed_by) for r in records] == [("1", "one", None), ("2", "two", None)]


def test_a_url_that_keeps_failing_is_one_read_error(tmp_path: Path, flaky_server):
    address, state = flaky_server
    write_jsonl(tmp_path / "a.jsonl", [("1", "one")])
    state["failures"] = 1000
    (record,) = read(f"{address}/a.jsonl")
    assert record.removed_by == "read_error" and "cannot open" in (record.removed_detail or "")
    assert state["requests"] >= 3  # three attempts


def test_a_local_file_is_opened_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    calls = []
    monkeypatch.setattr(opening.time, "sleep", calls.append)
    (record,) = list(read_records(InputFile(str(tmp_path / "missing.jsonl"), "jsonl", None, ""), ReaderOptions()))
    assert record.removed_by == "read_error" and calls == []
