"""End-to-end `gristmill run`: accounting, outputs, resume after kill -9, inputs over HTTP, bad input."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawl_factory import WarcEntry, html_page, multilingual_entries, write_warc
from process_factory import exits
from rich.console import Console

from gristmill_base.errors import UserError
from gristmill_base.lifetime import ProcessIdentity, start_time, stat_fields
from pipeline.prepared import prepare_run
from pipeline.runner import execute, run_dir_lock


def write_recipe(path: Path, inputs: list[str], workers: int = 2, extra: str = "", shard_size: str = "200kB") -> Path:
    listed = ", ".join(json.dumps(str(p)) for p in inputs)
    path.write_text(
        f'[executor]\nworkers = {workers}\n\n[[stage]]\nkind = "ingest"\ninputs = [{listed}]\n{extra}\n'
        f'[[stage]]\nkind = "shard"\nshard_size = "{shard_size}"\nrow_group_size = "40kB"\n'
    )
    return path


def run(recipe: Path, output: Path, **kwargs) -> tuple[object, str]:
    buffer = io.StringIO()
    result = execute(prepare_run(recipe, output=output, **kwargs), Console(file=buffer, width=120))
    return result, buffer.getvalue()


def table(folder: Path, columns: list[str]) -> list[tuple]:
    rows = []
    for path in sorted(folder.glob("part-*.parquet")):
        rows.extend(zip(*(pq.read_table(path, columns=columns).column(c).to_pylist() for c in columns), strict=True))
    return sorted(rows, key=lambda row: tuple("" if v is None else str(v) for v in row))


@pytest.fixture
def mixed_crawl(tmp_path: Path) -> Path:
    """Two WARC.gz files: good pages in five languages plus every kind of record that must be removed."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    write_warc(folder / "a.warc.gz", multilingual_entries(40, "http://a.example/p"))
    junk = [
        WarcEntry("http://b.example/missing", b"<html><body>gone</body></html>", status=404),
        WarcEntry("http://b.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(300), content_type="image/png"),
        WarcEntry("http://b.example/fake.html", b"\x89PNG\r\n\x1a\n" + bytes(300)),
        WarcEntry("http://b.example/empty.html", b"<html><body><script>x()</script></body></html>"),
        WarcEntry("http://b.example/again", kind="revisit"),
    ]
    write_warc(folder / "b.warc.gz", multilingual_entries(10, "http://b.example/p") + junk)
    return folder


def test_run_accounts_for_every_response_record(tmp_path: Path, mixed_crawl: Path):
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    result, screen = run(recipe, tmp_path / "run")
    run_dir = tmp_path / "run"
    assert result.complete
    kept = table(run_dir / "shards", ["id", "url"])
    removed = table(run_dir / "removed" / "ingest", ["url", "removed_by"])
    assert len(kept) == 50
    assert all(id_.startswith("urn:uuid:") for id_, _ in kept)
    assert len({id_ for id_, _ in kept}) == 50
    assert sorted(rule for _, rule in removed) == sorted(
        ["http_status", "non_html", "binary_body", "empty_text", "warc_revisit"]
    )
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert manifest["documents"] == 50 == sum(s["documents"] for s in manifest["shards"])
    assert {i["path"] for i in manifest["inputs"]} == {str(mixed_crawl / "a.warc.gz"), str(mixed_crawl / "b.warc.gz")}
    summary = json.loads((run_dir / "stats" / "summary.json").read_text())
    ingest = summary["stages"][0]
    assert ingest["docs_in"] == 55 == ingest["kept"] + sum(ingest["removed"].values())
    assert ingest["skipped"] == {"warc_request": 50}
    assert "removed, by reason" in screen and "http_status" in screen and "50 documents" in screen
    assert (run_dir / "recipe.toml").read_text().count("[gristmill]") == 1
    assert not list(run_dir.rglob(".*.tmp"))


def test_shards_roll_over_and_keep_schema(tmp_path: Path):
    write_warc(tmp_path / "big.warc.gz", multilingual_entries(600))
    recipe = write_recipe(tmp_path / "r.toml", [str(tmp_path / "big.warc.gz")], workers=1, shard_size="10kB")
    run(recipe, tmp_path / "run")
    shards = sorted((tmp_path / "run" / "shards").glob("part-*.parquet"))
    assert len(shards) >= 2
    first = pq.ParquetFile(shards[0])
    assert first.metadata.num_row_groups >= 2
    assert first.schema_arrow.names == ["id", "text", "url", "source", "date"]
    assert first.metadata.row_group(0).column(1).compression == "ZSTD"


def test_limit_stops_after_n_documents(tmp_path: Path, mixed_crawl: Path):
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    result, _ = run(recipe, tmp_path / "run", limit=7)
    summary = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())
    assert summary["stages"][0]["docs_in"] == 7
    assert result.manifest["documents"] == 7


def test_rerun_of_finished_run_changes_nothing_and_other_recipe_is_refused(tmp_path: Path, mixed_crawl: Path):
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    run(recipe, tmp_path / "run")
    before = table(tmp_path / "run" / "shards", ["id", "text"])
    run(recipe, tmp_path / "run", workers=1)  # a different worker count is the same run
    assert table(tmp_path / "run" / "shards", ["id", "text"]) == before
    other = write_recipe(tmp_path / "other.toml", [str(mixed_crawl)], extra='extractor = "trafilatura"')
    with pytest.raises(UserError, match=r"different recipe.*extractor"):
        run(other, tmp_path / "run")


@pytest.fixture
def http_server(tmp_path: Path):
    """Serve tmp_path on 127.0.0.1 for fsspec's HTTP filesystem."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_inputs_over_http_and_paths_file_match_local(tmp_path: Path, mixed_crawl: Path, http_server: str):
    local = write_recipe(tmp_path / "local.toml", [str(mixed_crawl)])
    run(local, tmp_path / "local")
    paths_file = tmp_path / "warc.paths.gz"
    paths_file.write_bytes(gzip.compress(b"crawl/a.warc.gz\ncrawl/b.warc.gz\n"))
    remote = write_recipe(
        tmp_path / "remote.toml", [f"{http_server}/warc.paths.gz"], extra=f'paths_prefix = "{http_server}/"'
    )
    run(remote, tmp_path / "remote")
    direct = write_recipe(
        tmp_path / "direct.toml", [f"{http_server}/crawl/a.warc.gz", f"{http_server}/crawl/b.warc.gz"]
    )
    run(direct, tmp_path / "direct")
    columns = ["id", "text", "url"]
    assert table(tmp_path / "remote" / "shards", columns) == table(tmp_path / "local" / "shards", columns)
    assert table(tmp_path / "direct" / "shards", columns) == table(tmp_path / "local" / "shards", columns)
    inputs = json.loads((tmp_path / "direct" / "inputs.json").read_text())["files"]
    assert [f["size"] for f in inputs] == [(mixed_crawl / n).stat().st_size for n in ("a.warc.gz", "b.warc.gz")]
    sources = [s for (s,) in table(tmp_path / "remote" / "shards", ["source"])]
    assert all(s.startswith(f"{http_server}/crawl/") for s in sources)


def test_bad_inputs_are_recorded_and_the_run_completes(tmp_path: Path):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = write_warc(folder / "good.warc.gz", multilingual_entries(6)).read_bytes()
    (folder / "truncated.warc.gz").write_bytes(good[: len(good) * 2 // 3])
    corrupt = bytearray(good)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 8] = b"\xff" * 8
    (folder / "corrupt.warc.gz").write_bytes(bytes(corrupt))
    (folder / "empty.warc.gz").write_bytes(b"")
    (folder / "lines.jsonl").write_bytes(b'{"text": "fine line"}\n{"text": broken\n\xff\xfe\n{"id": 3}\n')
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02\x89PNG" * 50)
    huge = WarcEntry("http://example.org/huge.html", html_page("huge", ["x" * 1000] * 52_000))
    write_warc(folder / "huge.warc", [huge], gzip=False)
    recipe = write_recipe(tmp_path / "r.toml", [str(folder)])
    result, _ = run(recipe, tmp_path / "run")
    assert result.complete
    # of the damaged files only the empty one yields no document at all: the run says so and is no success
    assert result.empty_inputs == {str(folder / "empty.warc.gz"): "empty_file 1"}
    assert result.exit_status == 3
    removed = table(tmp_path / "run" / "removed" / "ingest", ["source", "removed_by"])
    rules = {}
    for source, rule in removed:
        rules.setdefault(Path(source.split("@")[0].split(":")[0]).name, set()).add(rule)
    assert rules["empty.warc.gz"] == {"empty_file"}
    assert rules["corrupt.warc.gz"] == {"corrupt_stream"}
    assert rules["truncated.warc.gz"] <= {"truncated_record", "corrupt_stream", "repeated_record"}
    # corrupt.warc.gz comes first in path order: its readable records keep their ids (see test_repeats.py)
    assert rules["good.warc.gz"] == {"repeated_record"}
    assert rules["lines.jsonl"] == {"malformed_json", "invalid_utf8", "missing_text"}
    assert rules["binary.txt"] == {"binary_body"}
    assert rules["huge.warc"] == {"too_large"}
    assert all(("@" in s or ":" in s.rsplit("/", 1)[-1]) for s, _ in removed)
    summary = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())["stages"][0]
    assert summary["docs_in"] == summary["kept"] + sum(summary["removed"].values())
    kept_urls = {u for (u,) in table(tmp_path / "run" / "shards", ["url"]) if u}
    assert len(kept_urls) == 6  # every page of good.warc.gz, the rest of the damaged copies are duplicates by URL


def _spawn(recipe: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "gristmill", "run", str(recipe), "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _docs_seen(run_dir: Path) -> int:
    total = 0
    for path in (run_dir / "ingest" / "progress").glob("task-*.json"):
        with contextlib.suppress(OSError, ValueError):  # replaced while being read
            total += json.loads(path.read_text())["docs"]
    return total


def _kill_when(process: subprocess.Popen, condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.slow
def test_resume_after_kill_9_gives_exactly_the_uninterrupted_documents(tmp_path: Path):
    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in "abcd":
        write_warc(folder / f"{name}.warc.gz", multilingual_entries(1500, f"http://{name}.example/p"))
    recipe = write_recipe(tmp_path / "r.toml", [str(folder)])
    run(recipe, tmp_path / "reference")
    expected_kept = table(tmp_path / "reference" / "shards", ["id", "text", "url", "source"])
    assert len(expected_kept) == 6000

    run_dir = tmp_path / "killed"
    _kill_when(_spawn(recipe, run_dir), lambda: _docs_seen(run_dir) > 500)
    completions = run_dir / "ingest" / "completions"
    _kill_when(_spawn(recipe, run_dir), lambda: completions.is_dir() and any(completions.iterdir()))
    assert _docs_seen(run_dir) > 0
    assert not (run_dir / "shards" / "manifest.json").exists(), "the run was not interrupted while working"
    process = subprocess.run(
        [sys.executable, "-m", "gristmill", "run", str(recipe), "--output", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr
    assert table(run_dir / "shards", ["id", "text", "url", "source"]) == expected_kept
    manifest = json.loads((run_dir / "shards" / "manifest.json").read_text())
    assert manifest["documents"] == 6000
    assert not list(run_dir.rglob(".*.tmp"))


def _descendants(pid: int) -> dict[int, int | None]:
    """pid -> start time of every live process below `pid`."""
    parents = {}
    for name in filter(str.isdigit, os.listdir("/proc")):
        if fields := stat_fields(int(name)):
            parents[int(name)] = int(fields[1])
    found: dict[int, int | None] = {}
    for child in parents:
        ancestor = parents.get(child)
        while ancestor is not None and ancestor != pid:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            found[child] = start_time(child)
    return found


@contextlib.contextmanager
def _cpu_load() -> Iterator[None]:
    """One busy process per core, as on a loaded machine."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three runs killed and resumed on a loaded machine
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="processes are bound to the run on Linux")
def test_a_run_whose_main_process_alone_is_killed_resumes_at_once_and_leaves_no_process(tmp_path: Path):
    """kill -9 on the main pid alone (as the OOM killer does), at several points, under CPU load: the run's
    workers, Manager, fork server and sandboxes die with it, and the same command run right away resumes."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    for name in "abcd":
        write_warc(folder / f"{name}.warc.gz", multilingual_entries(100, f"http://{name}.example/p"))
    recipe = write_recipe(tmp_path / "r.toml", [str(folder)])
    run(recipe, tmp_path / "reference")
    expected = table(tmp_path / "reference" / "shards", ["id", "text", "url"])
    kill_points = {  # each is a file a task writes, in the order the run writes them
        "a task of the repeat scan started": lambda run_dir: any((run_dir / "repeats/scan/progress").glob("*")),
        "a task of ingest started": lambda run_dir: any((run_dir / "ingest" / "progress").glob("*")),
        "a task of ingest finished": lambda run_dir: any((run_dir / "ingest" / "completions").glob("*")),
    }
    with _cpu_load():
        for number, (point, reached) in enumerate(kill_points.items()):
            run_dir = tmp_path / f"killed-{number}"
            main = _spawn(recipe, run_dir)
            deadline = time.monotonic() + 600  # against a hang only
            while not reached(run_dir) and main.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert main.poll() is None, f"the run ended before {point}"
            processes = _descendants(main.pid)
            assert len(processes) >= 3, processes  # at least a Manager, a fork server and a worker
            main.kill()  # the main process alone
            main.wait()
            rerun = subprocess.run(
                [sys.executable, "-m", "gristmill", "run", str(recipe), "--output", str(run_dir)],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert rerun.returncode == 0, f"killed when {point}: {rerun.stderr}"
            assert table(run_dir / "shards", ["id", "text", "url"]) == expected, point
            assert all(exits(ProcessIdentity(pid, started)) for pid, started in processes.items()), point


def test_pages_over_the_extraction_time_limit_are_removed_and_the_run_goes_on(tmp_path: Path):
    # pages big enough that extracting each takes far longer than the 1 ms limit, even on a busy machine
    pages = [WarcEntry(f"http://example.org/{i}", html_page(f"p{i}", ["<b>word</b> " * 20] * 4000)) for i in range(4)]
    write_warc(tmp_path / "a.warc.gz", pages)
    recipe = write_recipe(tmp_path / "r.toml", [str(tmp_path / "a.warc.gz")], extra="extract_timeout = 0.001")
    result, _ = run(recipe, tmp_path / "run")
    assert result.complete
    removed = table(tmp_path / "run" / "removed" / "ingest", ["removed_by", "removed_detail"])
    assert [rule for rule, _ in removed] == ["extract_timeout"] * 4
    assert all("no result within" in detail for _, detail in removed)


def test_text_inputs_get_normalised_newlines_and_dates(tmp_path: Path):
    lines = [
        {"id": "a", "text": "first line\r\nsecond line\rthird", "date": "2024-05-06T07:08:09Z"},
        {"id": "b", "text": "plain\nunix", "date": 1700000000},
    ]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    recipe = write_recipe(tmp_path / "r.toml", [str(tmp_path / "docs.jsonl")])
    run(recipe, tmp_path / "run")
    rows = table(tmp_path / "run" / "shards", ["id", "text", "date"])
    assert [(i, t) for i, t, _ in rows] == [("a", "first line\nsecond line\nthird"), ("b", "plain\nunix")]
    assert rows[0][2].isoformat() == "2024-05-06T07:08:09+00:00"
    assert rows[1][2].year == 2023


def test_a_run_folder_in_use_by_another_run_is_refused(tmp_path: Path, mixed_crawl: Path):
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    with run_dir_lock(tmp_path / "run"), pytest.raises(UserError, match="in use by another gristmill run"):
        run(recipe, tmp_path / "run")
    result, _ = run(recipe, tmp_path / "run")  # free again once the other run is gone
    assert result.complete


def test_output_that_is_a_file_is_a_clear_error(tmp_path: Path, mixed_crawl: Path):
    (tmp_path / "afile").write_text("x")
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    with pytest.raises(UserError, match="exists and is not a folder"):
        run(recipe, tmp_path / "afile")


def test_resumed_run_reports_the_wall_time_of_the_work(tmp_path: Path, mixed_crawl: Path):
    recipe = write_recipe(tmp_path / "r.toml", [str(mixed_crawl)])
    run(recipe, tmp_path / "run")
    first = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())["wall_seconds"]
    run(recipe, tmp_path / "run")  # nothing left to do
    again = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())["wall_seconds"]
    assert again == first > 0.1
