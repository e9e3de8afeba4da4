"""Live progress across worker processes: tasks write small JSON files, the driver sums and draws them."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gristmill_base.atomic import write_json_atomic

WRITE_EVERY_S = 1.0


class TaskProgress:
    """Written by a task: input bytes consumed and documents seen so far."""

    def __init__(self, path: Path):
        self.path = path
        self._last_write = 0.0

    def update(self, bytes_done: int, docs: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_write >= WRITE_EVERY_S:
            write_json_atomic(self.path, {"bytes": bytes_done, "docs": docs})
            self._last_write = now


def progress_dir(run_dir: Path, job: str) -> Path:
    return run_dir / job / "progress"


class ProgressWatcher:
    """Draws one rich progress bar (input bytes, documents, tasks) until stopped."""

    def __init__(self, run_dir: Path, job: str, total_bytes: int | None, tasks: int, console: Console):
        self.folder = progress_dir(run_dir, job)
        self.completions = run_dir / job / "completions"
        self.tasks = tasks
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[docs]:,} docs  tasks {task.fields[done]}/{task.fields[tasks]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._bar = self._progress.add_task(job, total=total_bytes, docs=0, done=0, tasks=tasks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> ProgressWatcher:
        self._progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._refresh()
        self._progress.stop()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self._refresh()

    def _refresh(self) -> None:
        done_bytes = docs = 0
        for path in self.folder.glob("task-*.json"):
            try:
                data = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # replaced while we read it; the next refresh sees it
            done_bytes += data.get("bytes", 0)
            docs += data.get("docs", 0)
        done = len(list(self.completions.glob("*"))) if self.completions.is_dir() else 0
        self._progress.update(self._bar, completed=done_bytes, docs=docs, done=done)
