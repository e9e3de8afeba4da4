"""Real processes for the tests that kill a command and check what it leaves behind: started ones are ended
whatever a test asserts, and a process that must die is waited for through a pidfd, with no timing."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap

from gristmill_base.lifetime import ProcessIdentity, start_time

HANG = 120  # seconds: only a hang takes this long


class Processes:
    """Starts `python -c CODE` children; `adopt` takes on a process they started, which may outlive them. As a
    context manager, it kills those still alive on leaving."""

    def __init__(self) -> None:
        self.started: list[ProcessIdentity] = []

    def python(self, code: str, **options) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True, **options
        )
        self.adopt(process.pid)
        return process

    def adopt(self, pid: int) -> int:
        self.started.append(ProcessIdentity(pid, start_time(pid)))
        return pid

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.started:
            if process.started is not None and process.alive():
                os.kill(process.pid, signal.SIGKILL)


def exits(process: ProcessIdentity) -> bool:
    """Whether the process (not necessarily a child of this one) is gone or exits within HANG seconds; its pid
    taken by another process since counts as gone."""
    try:
        pidfd = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return True
    try:  # opened first, then checked: the pidfd is of the process meant, or it is gone
        waiting = select.poll()
        waiting.register(pidfd, select.POLLIN)  # readable once the process exits
        return not process.alive() or bool(waiting.poll(HANG * 1000))
    finally:
        os.close(pidfd)
