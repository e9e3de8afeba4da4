"""Per-stage, per-task counters, saved as `RUN/stats/<stage>/task-NNNNN.json` when the task ends."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from gristmill_base.atomic import write_json_atomic


@dataclass
class StageCounters:
    """docs_in == kept + sum(removed.values()) always holds; `removed_bytes` is the UTF-8 text of the removed
    documents by rule, so a report's funnel has bytes per rule; `skipped` counts non-document records;
    `empty_inputs` (ingest) names each input file that yielded no document at all, with what it held."""

    stage: str
    task: int
    docs_in: int = 0
    kept: int = 0
    removed: Counter[str] = field(default_factory=Counter)
    removed_bytes: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    files: int = 0
    empty_inputs: dict[str, str] = field(default_factory=dict)

    def count_kept(self, text_bytes: int) -> None:
        self.docs_in += 1
        self.kept += 1
        self.bytes_out += text_bytes

    def count_removed(self, rule: str, text_bytes: int) -> None:
        self.docs_in += 1
        self.removed[rule] += 1
        self.removed_bytes[rule] += text_bytes

    def save(self, run_dir: Path) -> None:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["removed"] = dict(sorted(self.removed.items()))
        data["removed_bytes"] = dict(sorted(self.removed_bytes.items()))
        data["skipped"] = dict(sorted(self.skipped.items()))
        write_json_atomic(stats_path(run_dir, self.stage, self.task), data)


def stats_path(run_dir: Path, stage: str, task: int) -> Path:
    return run_dir / "stats" / stage / f"task-{task:05d}.json"


class Stopwatch:
    """Accumulates time spent inside a generator stage, excluding time spent by its consumers."""

    def __init__(self, counters: StageCounters):
        self.counters = counters
        self._started = time.perf_counter()

    def pause(self) -> None:
        self.counters.seconds += time.perf_counter() - self._started

    def resume(self) -> None:
        self._started = time.perf_counter()
