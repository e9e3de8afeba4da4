"""What every bench script shares: one thread per process for numeric libraries, a report that is printed
and saved, and a description of the machine. Import it before numpy so the thread limits take effect."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"  # per-core figures: a bench process uses one core unless it says otherwise


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
