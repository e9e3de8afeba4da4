"""A `gristmill` command stopped at an exact point of training, as a Ctrl-C or a kill -9 would stop it there.

As a script (`python interrupted_run.py metrics|checkpoint|stopping STEP MARKER ARGS...`) it runs the CLI in this
process exactly as `python -m gristmill ARGS` would, but holds still right after metrics.jsonl gets the record of
step STEP (`metrics`, `stopping`) or right after checkpoint STEP is complete (`checkpoint`), once, creating MARKER;
the test then sends SIGINT or SIGKILL. Holding only waits: nothing of the run is replaced. The command line the
CLI sees is `python -m gristmill ARGS`, so what an interrupt tells the user to type runs the plain CLI.
`stopping` also holds twice while the interrupted command stops, for a second Ctrl-C to arrive there: when the
trainer closes its metrics (MARKER.closing) and when the CLI words what to type (MARKER.typing); each goes on once
the test creates that marker's `-go` file (`go_on`).

Under torchrun the same holds reach every worker through `torchrun_holding`'s environment (a sitecustomize on
PYTHONPATH): worker RANK creates MARKER.rank<RANK>.

The tests use `start` and `stop` for that, `typed_command` for what the interrupt said to type, `hashes` to show
that a rerun leaves a checkpoint's bytes alone and `figures` to compare metrics with an uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
ENV = os.environ | {"COLUMNS": "400"}  # rich wraps a console narrower than its lines
TIMING = {"tokens_per_s", "eta_s", "mfu"}  # wall-clock figures: the only ones a rerun may change
HOLD_VARIABLE = "GRISTMILL_TEST_HOLD"  # "HOLD STEP MARKER", for every torchrun worker
# this file loaded by its path: the tests folder on sys.path would put its packages (tests/pipeline ...) first
SITECUSTOMIZE = """import importlib.util

spec = importlib.util.spec_from_file_location("interrupted_run", {script!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
module.hold_from_environment()
"""


def start(args: list[str], hold: str, step: int, marker: Path, cwd: Path) -> subprocess.Popen:
    """The command `gristmill ARGS` in a new process that holds at `hold` ("metrics", "checkpoint" or "stopping")
    `step`; its output goes to files beside `marker` (a pipe nobody reads could fill and stall it)."""
    command = [sys.executable, str(SCRIPT), hold, str(step), str(marker), *args]
    with open(marker.with_suffix(".out"), "w") as out, open(marker.with_suffix(".err"), "w") as err:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, env=ENV | {"PYTHONPATH": str(ROOT)})


def await_marker(process: subprocess.Popen, *markers: Path) -> None:
    """Wait until `process` holds (every marker exists); AssertionError if it ended first."""
    assert _holds(process, markers), f"ended (exit {process.returncode}) before holding at {markers}"


def stop(process: subprocess.Popen, marker: Path, sig: signal.Signals) -> tuple[str, str]:
    """Wait until `process` holds (its marker exists), send `sig`, wait for it to end; its (stdout, stderr)."""
    held = _holds(process, [marker])
    if held:
        process.send_signal(sig)
        process.wait(timeout=600)
    out, err = marker.with_suffix(".out").read_text(), marker.with_suffix(".err").read_text()
    assert held, f"ended (exit {process.returncode}) before holding:\n{out[-2000:]}\n{err[-3000:]}"
    return out, err


def _holds(process: subprocess.Popen, markers: tuple[Path, ...] | list[Path]) -> bool:
    while not all(marker.exists() for marker in markers) and process.poll() is None:
        time.sleep(0.05)
    return process.poll() is None


def go_on(marker: Path) -> None:
    """Let a process held at `marker` (a `stopping` hold) go on."""
    marker.with_name(f"{marker.name}-go").write_text("")


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900, env=ENV)


def torchrun_holding(hold: str, step: int, marker: Path, site: Path) -> dict[str, str]:
    """The environment for a torchrun command whose every worker holds as `start`'s process would; `site`: an
    empty folder for the sitecustomize that installs the hold."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.format(script=str(SCRIPT)))
    return ENV | {"PYTHONPATH": str(site), HOLD_VARIABLE: f"{hold} {step} {marker}"}


def typed_command(stderr: str) -> list[str]:
    """The command an interrupt told the user to type, as words."""
    lines = [line for line in stderr.splitlines() if line.startswith("to continue, type: ")]
    assert len(lines) == 1, stderr[-3000:]
    return shlex.split(lines[0].removeprefix("to continue, type: "))


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def metrics(output: Path) -> list[dict]:
    return [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]


def figures(output: Path) -> list[dict]:
    """metrics.jsonl's records without the wall-clock figures."""
    return [{k: v for k, v in record.items() if k not in TIMING} for record in metrics(output)]


def said(text: str) -> str:
    """`text` with its whitespace (rich's line wrapping included) as single spaces."""
    return " ".join(text.split())


def hold_from_environment() -> None:
    """In a torchrun worker (RANK set) of a command given `torchrun_holding`'s environment: install its hold."""
    if "RANK" in os.environ and HOLD_VARIABLE in os.environ:
        hold, step, marker = os.environ[HOLD_VARIABLE].split(" ", 2)
        _hold_after(hold, int(step), Path(f"{marker}.rank{os.environ['RANK']}"))


def _hold(marker: Path) -> None:
    marker.write_text("")
    signal.pause()  # until a signal: SIGINT raises KeyboardInterrupt here, as Ctrl-C would at this point


def _wait_at(marker: Path) -> None:
    """Hold until the test says go (`go_on`), whatever signals arrive meanwhile: they take effect as they would
    at this point of the code."""
    marker.write_text("")
    while not marker.with_name(f"{marker.name}-go").exists():
        time.sleep(0.02)


def _hold_after(hold: str, step: int, marker: Path) -> None:
    held: list[int] = []

    def wrap(original, step_of):
        def held_after(*args, **kwargs):
            result = original(*args, **kwargs)
            if step_of(*args) == step and not held:
                held.append(step)
                _hold(marker)
            return result

        return held_after

    if hold in ("metrics", "stopping"):
        from train.tracking import MetricSinks

        MetricSinks.write = wrap(MetricSinks.write, lambda sinks, record: record["step"])
    else:
        from train import checkpoint

        checkpoint.save = wrap(checkpoint.save, lambda root, number, *rest: number)
    if hold == "stopping":
        _wait_while_stopping(marker)


def _wait_while_stopping(marker: Path) -> None:
    from gristmill import command_line
    from train.tracking import MetricSinks

    def waiting_first(original, name):
        def waited(*args, **kwargs):
            _wait_at(marker.with_name(f"{marker.name}.{name}"))
            return original(*args, **kwargs)

        return waited

    MetricSinks.close = waiting_first(MetricSinks.close, "closing")
    command_line.typed_again = waiting_first(command_line.typed_again, "typing")


if __name__ == "__main__":
    hold, step, marker, *arguments = sys.argv[1:]
    _hold_after(hold, int(step), Path(marker))
    import gristmill
    from gristmill.cli import main

    sys.argv = [str(Path(gristmill.__file__).parent / "__main__.py"), *arguments]  # as `python -m gristmill` sets
    sys.orig_argv = [sys.executable, "-m", "gristmill", *arguments]
    raise SystemExit(main())
