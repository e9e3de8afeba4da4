"""What every bench script shares: one thread per process for numeric libraries, a report that is printed
and saved, and a description of the machine. Import it before numpy so the thread limits take effect."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

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
