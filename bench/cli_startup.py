"""How long a user waits for `gristmill --help` and each command's `--help`: the cost of what the CLI imports
before it parses a word. Each figure is the median wall time of fresh processes (the first run, which fills the
page cache and numba's cache, is dropped), with the modules that cost most in one `python -X importtime` pass.

    python bench/cli_startup.py --output bench/results/cli-startup.txt
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import Report, cpu_model

COMMANDS = [[], ["run"], ["pack"], ["train"], ["tokenizer", "train"], ["classifier", "train"], ["eval"], ["chat"]]
TARGET_SECONDS = 0.5
GRISTMILL = str(Path(sys.executable).with_name("gristmill"))  # the console script beside this interpreter
ROOT = Path(__file__).resolve().parents[1]


def wall_seconds(argv: list[str], repeats: int) -> float:
    """The median wall time of `repeats` fresh `gristmill ARGV --help` processes (the installed command, as a
    user types it), after one warm-up."""
    times = []
    for attempt in range(repeats + 1):
        began = time.perf_counter()
        subprocess.run([GRISTMILL, *argv, "--help"], check=True, capture_output=True)
        if attempt:
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def heaviest_imports(count: int) -> list[tuple[int, str]]:
    """The modules with the largest cumulative import time (microseconds) when the parser is built."""
    code = "import gristmill.cli as c; c.build_parser()"
    printed = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                             cwd=ROOT).stderr  # fmt: skip
    rows = []
    for line in printed.splitlines():
        fields = line.split("|")
        if len(fields) == 3 and fields[1].strip().isdigit():
            name = fields[2].rstrip()
            rows.append((int(fields[1]), name.strip(), len(name) - len(name.lstrip())))
    top_level = [(micro, name) for micro, name, indent in rows if indent <= 3]  # imported by the CLI's own modules
    return sorted(top_level, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command (default 5)")
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    report = Report()
    report.say(f"gristmill CLI start-up: median of {args.repeats} fresh processes each; {cpu_model()}")
    report.say(f"{'command':<36} {'wall s':>7}  under {TARGET_SECONDS} s")
    for argv in COMMANDS:
        seconds = wall_seconds(argv, args.repeats)
        shown = " ".join(["gristmill", *argv, "--help"])
        report.say(f"{shown:<36} {seconds:>7.3f}  {'yes' if seconds < TARGET_SECONDS else 'NO'}")
    report.say("")
    report.say("heaviest imports when the parser is built (cumulative ms):")
    for micro, name in heaviest_imports(8):
        report.say(f"  {micro / 1000:8.1f}  {name.strip()}")
    report.save(args.output)


if __name__ == "__main__":
    main()
