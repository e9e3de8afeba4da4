"""gristmill_base.folder_lock with real processes: a live holder is named, a dead one blocks nothing (not even
through the children it forked), and processes that outlived their command and still write are named."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from gristmill_base.errors import UserError
from gristmill_base.folder_lock import LOCK_FILE, hold_folder
from gristmill_base.lifetime import start_time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and struct flock are Linux's")
HINT = "choose another --output"


def orphan(folder: Path, mode: str, processes, **apart) -> int:
    """A process that is no descendant of this one (its parent exits), holding folder/file open in `mode`;
    `apart`: Popen's options that put it in a process group or session of its own."""
    (folder / "file").touch()
    parent = processes.python(
        f"""
        import os, time
        if os.fork() == 0:
            handle = open({str(folder / "file")!r}, {mode!r})
            print(os.getpid(), flush=True)
            time.sleep(600)
        else:
            os._exit(0)
    """,
        **apart,
    )
    pid = processes.adopt(int(parent.stdout.readline()))
    parent.wait()
    return pid


def test_a_folder_held_by_a_live_process_is_refused_with_its_pid_and_command(tmp_path: Path, processes):
    holder = processes.python(f"""
        import time
        from pathlib import Path
        from gristmill_base.folder_lock import hold_folder
        with hold_folder(Path({str(tmp_path)!r}), "gristmill run", {HINT!r}):
            print("held", flush=True)
            time.sleep(600)
    """)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UserError) as refused, hold_folder(tmp_path, "gristmill run", HINT):
        pass
    # its command line, which starts with the interpreter's path (shortened, if long, after 157 characters)
    said = f"{tmp_path} is in use by another gristmill run (pid {holder.pid}: {sys.executable[:100]}"
    assert str(refused.value).startswith(said)
    assert str(refused.value).endswith(f"; wait for it or {HINT}")
    holder.kill()
    holder.wait()
    with hold_folder(tmp_path, "gristmill run", HINT, grace=0):  # free at once
        pass


def test_the_lock_stays_with_its_process_not_with_the_children_it_forked(tmp_path: Path, processes):
    holder = processes.python(
        f"""
        import os, time
        from pathlib import Path
        from gristmill_base.folder_lock import hold_folder
        with hold_folder(Path({str(tmp_path)!r}), "gristmill run", {HINT!r}):
            child = os.fork()  # inherits the open lock file, unbound
            if child == 0:
                time.sleep(600)
                os._exit(0)
            print(child, flush=True)
            time.sleep(600)
    """,
        process_group=0,  # as a command started from a shell: the next one is in another process group
    )
    child = processes.adopt(int(holder.stdout.readline()))
    holder.kill()  # the holder alone: its child lives on with the lock file open
    holder.wait()
    assert start_time(child) is not None
    with open(tmp_path / LOCK_FILE, "r+") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an flock would still be held by the child
    with pytest.raises(UserError, match=rf"other processes still write files there: pid {child} \(.*\)"):
        hold_folder(tmp_path, "gristmill run", HINT, grace=0).__enter__()


@pytest.mark.parametrize("apart", [{"process_group": 0}, {"start_new_session": True}], ids=["group", "session"])
def test_processes_left_writing_in_the_folder_are_named(tmp_path: Path, processes, apart: dict):
    """Left by a command run before this one from the same terminal (another process group of the same session),
    or from elsewhere (another session)."""
    writer = orphan(tmp_path, "w", processes, **apart)
    with pytest.raises(UserError) as refused, hold_folder(tmp_path, "gristmill pack", HINT, grace=0):
        pass
    assert f"pid {writer} (" in str(refused.value)
    assert f"Left behind by an earlier gristmill pack that was killed? Stop them (kill {writer})" in str(refused.value)
    os.kill(writer, 9)
    with hold_folder(tmp_path, "gristmill pack", HINT):  # waits for it to be gone
        pass


def test_readers_and_this_process_s_own_children_do_not_count(tmp_path: Path, processes):
    orphan(tmp_path, "r", processes)
    child = processes.python(
        f"import time; f = open({str(tmp_path / 'own')!r}, 'w'); print(1, flush=True); time.sleep(600)"
    )
    assert child.stdout.readline().strip() == "1"
    with hold_folder(tmp_path, "gristmill run", HINT, grace=0):
        pass


def test_a_writer_in_this_process_s_group_does_not_count(tmp_path: Path, processes):
    """`gristmill run ... | tee RUN/console.log`: tee is no descendant of the command, but of its pipeline."""
    tee = processes.python(
        f"import time; f = open({str(tmp_path / 'console.log')!r}, 'w'); print(1, flush=True); time.sleep(600)"
    )
    assert tee.stdout.readline().strip() == "1"
    command = processes.python(f"""
        from pathlib import Path
        from gristmill_base.folder_lock import hold_folder
        with hold_folder(Path({str(tmp_path)!r}), "gristmill run", "x", grace=0):
            print("held", flush=True)
    """)
    output, _ = command.communicate()
    assert output == "held\n"


def test_a_writer_that_started_this_process_does_not_count(tmp_path: Path, processes):
    """`script RUN/console.log` or `screen -L`: the logger is the command's ancestor, in another session."""
    with open(tmp_path / "console.log", "w"):
        command = processes.python(
            f"""
            from pathlib import Path
            from gristmill_base.folder_lock import hold_folder
            with hold_folder(Path({str(tmp_path)!r}), "gristmill run", "x", grace=0):
                print("held", flush=True)
            """,
            start_new_session=True,
        )
        output, _ = command.communicate()
    assert output == "held\n"


def test_a_second_hold_in_the_same_process_is_refused_and_keeps_the_first(tmp_path: Path, processes):
    with hold_folder(tmp_path, "gristmill run", HINT):
        with pytest.raises(UserError, match=rf"in use by another gristmill run in this process \(pid {os.getpid()}\)"):
            hold_folder(tmp_path, "gristmill run", HINT).__enter__()
        probe = processes.python(f"""
            from pathlib import Path
            from gristmill_base.errors import UserError
            from gristmill_base.folder_lock import hold_folder
            try:
                hold_folder(Path({str(tmp_path)!r}), "gristmill run", "x").__enter__()
            except UserError as error:
                print(error)
        """)
        output, _ = probe.communicate()
    assert f"(pid {os.getpid()}: " in output  # still held by this process
