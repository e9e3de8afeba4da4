"""The command line a user typed, to print as exactly what to type again after an interruption: a training
command continues where it stopped when run again the same way."""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path


def typed_again(argv: list[str] | None, leave_out: str = "--restart") -> str:
    """The command as typed (under torchrun, the torchrun command), without `leave_out` or an abbreviation of it:
    run again with `--restart`, a training command would move aside the run it just made. `argv`: what `main`
    was called with; None for the process's own arguments."""
    if argv is not None:  # main() called in-process, as a library
        words = ["gristmill", *argv]
    else:
        launcher = _torchrun_command() if "TORCHELASTIC_RUN_ID" in os.environ else None
        words = as_typed(launcher or sys.orig_argv)
    return shlex.join(w for w in words if not (len(w) > 5 and leave_out.startswith(w)))


def as_typed(argv: list[str]) -> list[str]:
    """A Python process's full argv as one would type it: a script that PATH finds (a console script run through
    its shebang, torchrun) by its name alone, else the interpreter as given or by name where PATH finds it."""
    program, *rest = argv
    if rest and not rest[0].startswith("-") and _on_path(rest[0]) != rest[0]:
        return [_on_path(rest[0]), *rest[1:]]
    return [_on_path(program), *rest]


def _on_path(path: str) -> str:
    """`path` by its bare name where PATH finds that very file, else as given."""
    if "/" not in path:
        return path
    found = shutil.which(Path(path).name)
    try:
        return Path(path).name if found and Path(found).samefile(path) else path
    except OSError:
        return path


def _torchrun_command() -> list[str] | None:
    """The argv of the torchrun process that started this worker (its parent), where /proc shows it and it
    names gristmill (a parent that has already gone leaves the worker to another)."""
    try:
        raw = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
    except OSError:
        return None
    words = [word.decode(errors="replace") for word in raw.split(b"\0") if word]
    return words if any(Path(word).name == "gristmill" for word in words) else None
