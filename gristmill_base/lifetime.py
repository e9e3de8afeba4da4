"""No process of a command outlives it: its children and its workers die when it dies, however it dies.

A command killed with SIGKILL (by the OOM killer, by `kill -9` on its pid alone) runs no clean-up code, so
the binding has to be in place before: the kernel must do the killing. Linux only (prctl, and pidfd from Linux
5.3); elsewhere these calls do nothing.

- A child gets PR_SET_PDEATHSIG = SIGKILL. The kernel sends it when the thread that forked the child exits,
  not the process, so only children forked by the main thread are bound (the main thread of a Python process
  lives as long as the process). The setting is cleared in the child's own children, so each process binds
  its own, and it is reset by the execve of a setuid program. The parent may already be dead when the child
  sets it: the child then kills itself.
  - `with children_die_with_this_process():` binds the children the main thread forks, by any library (a
    multiprocessing Manager, a fork Pool, a sandbox), while the block runs, and no others: a command run
    in-process (an API call, a test calling main([...])) leaves no binding behind for the caller's later
    children. The fork hooks it relies on are registered once, at import, and bind nothing outside such a
    block; each thread keeps its own note of what it forks, so threads forking at once do not mix them up.
  - subprocess.Popen runs no fork hook: `child_dies_with_this_process()` is its `preexec_fn`.
- A process started by an intermediary (a worker forked by multiprocessing's fork server, whose parent is
  the fork server, not the command) watches the command itself through a pidfd (`die_with`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_LINUX = sys.platform.startswith("linux")
# resolved now, not in a child between fork and exec: dlsym takes the loader's lock, which another thread of
# the parent may have held at the fork
_prctl = ctypes.CDLL(None, use_errno=True).prctl if _LINUX else None
_watching: set[tuple[int, int]] = set()  # (watching pid, watched pid): a forked child inherits no thread


class _ForkingThread(threading.local):
    """Per thread, since threads fork at once: a child goes on in the thread that forked it and reads what
    that thread noted before the fork."""

    scopes = 0  # children_die_with_this_process blocks this thread is in
    bind_to = 0  # noted before a fork: the pid the child must die with, 0 for none


_thread = _ForkingThread()


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid and the process's start time: a pid alone may name a new process once the old one is gone."""

    pid: int
    started: int | None

    @classmethod
    def current(cls) -> ProcessIdentity:
        return cls(os.getpid(), start_time(os.getpid()))

    def alive(self) -> bool:
        started = start_time(self.pid)
        return started is not None and started == self.started


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field (the state) on; None when the process is gone (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()  # the command name before it may hold spaces and parentheses


def start_time(pid: int) -> int | None:
    """When a live process started, in clock ticks after boot (field 22); None when it is gone or a zombie
    (which holds no file and does no work)."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields and fields[0] != "Z" else None


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies; die now if the parent (`parent_pid`, read
    by the parent before forking) is already gone and this process was handed to another one."""
    if _prctl is None:
        return
    if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)


def _note_forker() -> None:
    by_main_thread = threading.current_thread() is threading.main_thread()
    _thread.bind_to = os.getpid() if _thread.scopes and by_main_thread else 0


def _bind_forked_child() -> None:
    parent, _thread.bind_to = _thread.bind_to, 0
    if parent:
        die_with_parent(parent)


if _LINUX:
    os.register_at_fork(before=_note_forker, after_in_child=_bind_forked_child)


@contextlib.contextmanager
def children_die_with_this_process() -> Iterator[None]:
    """Every child forked by this process's main thread while the block runs dies with this process. Blocks
    nest; a child forked inside goes on inside, so the children it forks die with it."""
    _thread.scopes += 1
    try:
        yield
    finally:
        _thread.scopes -= 1


def child_dies_with_this_process() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen, called in this process's main thread: the child dies with this
    process. A preexec_fn runs in the child between fork and exec, where a lock that another thread of this
    process held at the fork stays locked forever. This one takes none: the at-fork hooks Popen then runs take
    none, prctl was resolved at import, and the rest are a prctl, a getppid and perhaps a kill (system
    calls), and small allocations under the GIL, which the child holds (glibc's fork leaves malloc usable)."""
    return functools.partial(die_with_parent, os.getpid())


def die_with(process: ProcessIdentity) -> None:
    """This process dies when `process` dies, also when `process` is not its parent (and the children it
    bound die with it). A daemon thread waits on a pidfd of `process`; nothing polls. Idempotent per process."""
    key = (os.getpid(), process.pid)
    if not _LINUX or process.pid == os.getpid() or key in _watching:
        return
    try:
        pidfd = os.pidfd_open(process.pid)
    except OSError as error:
        if error.errno != errno.ESRCH:
            return  # no pidfd before Linux 5.3: not bound
        pidfd = -1
    if pidfd < 0 or not process.alive():  # gone before the pidfd was opened: the pid may be another's now
        os.kill(os.getpid(), signal.SIGKILL)
    _watching.add(key)
    threading.Thread(target=_kill_self_when_readable, args=(pidfd,), name="die-with", daemon=True).start()


def _kill_self_when_readable(pidfd: int) -> None:
    waiting = select.poll()  # not select.select, which refuses a descriptor of 1024 or more
    waiting.register(pidfd, select.POLLIN)
    waiting.poll()  # a pidfd turns readable when its process exits
    os.kill(os.getpid(), signal.SIGKILL)
