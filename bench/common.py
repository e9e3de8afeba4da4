"""What every bench script shares: one thread per process for numeric libraries, a report that is printed
and saved, and a description of the machine. Import it before numpy so the thread limits take effect."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"  # per-core figures: a bench process uses one core unless it says otherwise


SAMPLE_SECONDS = 0.1


class Report:
    """Lines printed as they come and, with `output`, written to that file at the end."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self, output: Path | None) -> None:
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text("\n".join(self.lines) + "\n")


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(*packages: str) -> str:
    """`name version, ...` of the packages a bench compares, then Python's."""
    return ", ".join([*(f"{name} {version(name)}" for name in packages), f"python {platform.python_version()}"])


def table(say: Callable[[str], None], headers: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> None:
    """A plain-text table: the first `left` columns left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    say(line(cells[0]))
    say("  ".join("-" * width for width in widths))
    for row in cells[1:]:
        say(line(row))


@dataclass(slots=True)
class Measured:
    """A child process: wall seconds, largest VmHWM of its processes, peak of the summed VmRSS of its tree."""

    wall_s: float
    max_rss: int
    tree_rss: int


def tree_memory(root: int) -> tuple[int, int]:
    """(sum of VmRSS, largest VmHWM) in bytes over `root` and its descendants, from /proc. VmHWM is the
    peak of a process's own address space since its exec; shared pages count in every process's VmRSS."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                children[int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])].append(int(entry.name))
            except (OSError, IndexError):
                continue  # gone while listing
    rss = hwm = 0
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        frontier.extend(children.get(pid, ()))
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        kib = {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith(("VmRSS", "VmHWM"))}
        rss += kib.get("VmRSS", 0)
        hwm = max(hwm, kib.get("VmHWM", 0))
    return rss * 1024, hwm * 1024


def run_child(command: list[str], log: Path) -> Measured:
    """Run a command (output to `log`) while sampling its process tree's memory every SAMPLE_SECONDS."""
    tree_peak = hwm_peak = 0
    done = threading.Event()
    started = time.perf_counter()
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            nonlocal tree_peak, hwm_peak
            while not done.wait(SAMPLE_SECONDS):
                rss, hwm = tree_memory(process.pid)
                tree_peak, hwm_peak = max(tree_peak, rss), max(hwm_peak, hwm)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        returncode = process.wait()
        done.set()
        sampler.join()
    if returncode != 0:
        raise SystemExit(f"{shlex.join(command)} exited with {returncode}; see {log}")
    return Measured(time.perf_counter() - started, hwm_peak, tree_peak)
