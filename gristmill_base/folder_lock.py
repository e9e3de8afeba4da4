"""One command at a time writes an output folder (a run folder, a packed folder); a second is refused,
told which process holds it.

The lock is a POSIX record lock (fcntl's F_SETLK, what `fcntl.lockf` takes), not flock:
- an flock belongs to the open file description, which fork shares: every child forked while it is held (a
  multiprocessing Manager, a sandbox) holds it too, for as long as it lives. A run killed with SIGKILL left
  its lock to such orphans, and every rerun was refused until someone found and killed them;
- a POSIX lock belongs to the process: no child holds it, and the kernel drops it while the holder exits,
  before the holder can be reaped, so a rerun started once the killed command is gone gets it at once.
  F_GETLK also says which process holds it. Its pitfall: a process drops the lock when it closes any
  descriptor of the file, so only this module opens the lock file, and a process that holds a folder's lock
  is refused a second one (as flock would refuse it) before the file is opened again.
The lock alone does not keep a killed command's processes out: if one outlived it (gristmill_base.lifetime
binds gristmill's own to it), it would write beside the new command. So the new holder waits a while for
other processes that hold files in the folder open for writing (those of a command killed a moment ago are
dying), and if some stay, it refuses, naming them. Readers (`tail -f` of a log, a report) do not count, nor
do the processes that run with this one rather than after it: its descendants, its ancestors (`script` or
`screen -L` logging there) and its process group (`gristmill run ... | tee RUN/console.log`: a shell gives each
pipeline a group of its own, so the leftovers of an earlier, killed command are in another group). Not the
whole session: in a terminal those leftovers share the session of the next command typed there.
Linux only for the names and the check of writers (/proc); elsewhere the lock alone.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gristmill_base.errors import UserError
from gristmill_base.lifetime import stat_fields

LOCK_FILE = ".lock"
WRITERS_GRACE_S = 30.0  # how long a killed command's processes get to die before they are named
_FLOCK = "hhqqi4x"  # Linux's struct flock: l_type, l_whence, l_start, l_len, l_pid (and padding)
_held: set[Path] = set()
_held_guard = threading.Lock()


@contextlib.contextmanager
def hold_folder(folder: Path, command: str, hint: str, grace: float = WRITERS_GRACE_S) -> Iterator[None]:
    """Hold `folder` for `command` (e.g. "gristmill run"); `hint` ends the refusal (e.g. "choose another
    --output"). The folder must exist."""
    folder = folder.resolve()
    with _held_guard:
        if folder in _held:
            raise UserError(f"{folder} is in use by another {command} in this process (pid {os.getpid()})")
        _held.add(folder)
    try:
        descriptor = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _lock_or_refuse(descriptor, folder, command, hint)
            _wait_for_other_writers(folder, command, grace)
            yield
        finally:
            os.close(descriptor)  # drops the lock
    finally:
        with _held_guard:
            _held.discard(folder)


def _lock_or_refuse(descriptor: int, folder: Path, command: str, hint: str) -> None:
    for _ in range(3):  # the holder may let go between the refusal and the question who it is
        try:
            fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise
        holder = _lock_holder(descriptor)
        if holder != 0:
            break
    who = f" (pid {holder}: {command_line(holder)})" if holder else ""
    raise UserError(f"{folder} is in use by another {command}{who}; wait for it or {hint}")


def _lock_holder(descriptor: int) -> int | None:
    """The pid holding the lock, 0 when it is free now, None when this system's struct flock is not known."""
    if not sys.platform.startswith("linux"):
        return None
    query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(descriptor, fcntl.F_GETLK, query))
    return 0 if kind == fcntl.F_UNLCK else pid


def _wait_for_other_writers(folder: Path, command: str, grace: float) -> None:
    deadline = time.monotonic() + grace
    pause = 0.05  # doubled up to 1 s: a look reads every process's descriptors
    while writers := other_writers(folder):
        left = deadline - time.monotonic()
        if left <= 0:
            listed = ", ".join(f"pid {pid} ({text})" for pid, text in writers.items())
            raise UserError(
                f"{folder}: other processes still write files there: {listed}. Left behind by an earlier {command} "
                f"that was killed? Stop them (kill {' '.join(map(str, writers))}), then run the same command again"
            )
        time.sleep(min(pause, left))
        pause = min(2 * pause, 1.0)


def other_writers(folder: Path) -> dict[int, str]:
    """pid -> command line of the processes that hold a file under `folder` open for writing, other than this
    one, its descendants, its ancestors and the members of its process group."""
    inside = f"{folder.resolve()}{os.sep}"
    ancestors = _ancestors(os.getpid())
    group = os.getpgid(0)
    found: dict[int, str] = {}
    for pid in _pids():
        if pid == os.getpid() or pid in ancestors or not _writes_under(pid, inside):
            continue
        if _process_group(pid) != group and os.getpid() not in _ancestors(pid):
            found[pid] = command_line(pid)
    return found


def _pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _writes_under(pid: int, inside: str) -> bool:
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # gone, or another user's
        return False
    for descriptor in descriptors:
        try:
            if not os.readlink(f"/proc/{pid}/fd/{descriptor}").startswith(inside):
                continue
            info = Path(f"/proc/{pid}/fdinfo/{descriptor}").read_text()
        except OSError:
            continue
        flags = re.search(r"^flags:\s*([0-7]+)", info, re.MULTILINE)
        if flags and int(flags[1], 8) & os.O_ACCMODE != os.O_RDONLY:
            return True
    return False


def _ancestors(pid: int) -> set[int]:
    found = set()
    while pid > 1 and (fields := stat_fields(pid)):
        pid = int(fields[1])  # the parent
        found.add(pid)
    return found


def _process_group(pid: int) -> int | None:
    fields = stat_fields(pid)
    return int(fields[2]) if fields else None


def command_line(pid: int) -> str:
    """A process's command line, shortened; '?' when it cannot be read."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    except OSError:
        return "?"
    text = " ".join(b" ".join(words).decode("utf-8", "replace").split()) or "?"  # on one line
    return text if len(text) <= 160 else f"{text[:157]}..."
