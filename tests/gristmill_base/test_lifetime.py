"""Processes bound with gristmill_base.lifetime die with the process they are bound to, killed with SIGKILL alone,
and no others are bound.

Each test starts real processes and kills one with SIGKILL; nothing is timed: a process that must die is
waited for through a pidfd (with a generous bound against a hang), one that must live is checked while it
sleeps for minutes, and whether a child is bound is asked of the kernel, by the child (PR_GET_PDEATHSIG).
"""

from __future__ import annotations

import os
import signal
import sys

import pytest
from process_factory import HANG, exits

from gristmill_base.lifetime import ProcessIdentity, start_time

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and pidfd are Linux's")
# a child's own question to the kernel: which signal it gets when its parent dies (0: none)
DEATH_SIGNAL = """
import ctypes
def death_signal():
    value = ctypes.c_int()
    assert ctypes.CDLL(None).prctl(2, ctypes.byref(value), 0, 0, 0) == 0  # PR_GET_PDEATHSIG
    return value.value

def fork_and_report(who):  # a child that writes who forked it and its death signal, waited for
    import os
    child = os.fork()
    if child == 0:
        os.write(1, f"{who} {death_signal()}\\n".encode())  # one write: children write at once
        os._exit(0)
    os.waitpid(child, 0)
"""


def identity(pid: int) -> ProcessIdentity:
    return ProcessIdentity(pid, start_time(pid))


@pytest.mark.parametrize("bound", [True, False])
def test_a_forked_child_dies_when_its_parent_alone_is_killed(bound: bool, processes):
    parent = processes.python(f"""
        import contextlib, os, time
        from gristmill_base.lifetime import children_die_with_this_process
        with children_die_with_this_process() if {bound} else contextlib.nullcontext():
            child = os.fork()
        if child == 0:
            time.sleep(600)
            os._exit(0)
        print(child, flush=True)
        time.sleep(600)
    """)
    child = identity(processes.adopt(int(parent.stdout.readline())))
    parent.kill()  # SIGKILL to the parent alone, as the OOM killer sends it
    parent.wait()
    if bound:
        assert exits(child)
    else:  # without the binding the child lives on, an orphan (so this test can fail)
        assert child.alive()


def test_only_children_forked_inside_the_block_are_bound(processes):
    """A command run in-process (an API call, a test calling main) binds nothing the caller forks later."""
    parent = processes.python(
        DEATH_SIGNAL
        + """
import os
from gristmill_base.lifetime import children_die_with_this_process

fork_and_report("before")
with children_die_with_this_process():
    with children_die_with_this_process():
        fork_and_report("nested")
    fork_and_report("inside")
fork_and_report("after")
"""
    )
    output, _ = parent.communicate(timeout=HANG)
    kill = int(signal.SIGKILL)
    assert output.split("\n") == ["before 0", f"nested {kill}", f"inside {kill}", "after 0", ""]


def test_a_thread_forking_at_the_same_time_does_not_unbind_the_main_thread_s_child(processes):
    """The main thread is stopped between its before-fork note and its fork while another thread forks: the
    main thread's child is bound all the same, the other thread's is not (it would die with that thread)."""
    parent = processes.python(
        DEATH_SIGNAL
        + """
import os, threading
# registered before lifetime's hooks, so it runs after lifetime's note in the main thread (before-fork hooks
# run last registered first): there the main thread lets the other thread fork, and waits for its note
other_noted, other_may_fork = threading.Event(), threading.Event()

def in_between():
    if threading.current_thread() is threading.main_thread():
        other_may_fork.set()
        assert other_noted.wait(60)
    else:
        other_noted.set()

os.register_at_fork(before=in_between)
from gristmill_base.lifetime import children_die_with_this_process

def other():
    assert other_may_fork.wait(60)
    fork_and_report("other")

with children_die_with_this_process():
    thread = threading.Thread(target=other)
    thread.start()
    fork_and_report("main")
    thread.join()
"""
    )
    output, _ = parent.communicate(timeout=HANG)
    assert sorted(output.splitlines()) == [f"main {int(signal.SIGKILL)}", "other 0"]


def test_a_child_whose_parent_is_gone_when_it_binds_itself_kills_itself(processes):
    go_read, go_write = os.pipe()
    parent = processes.python(
        f"""
        import os, sys
        from gristmill_base.lifetime import die_with_parent
        parent = os.getpid()
        if os.fork() == 0:
            os.read({go_read}, 1)  # the test writes once this process's parent has been reaped
            die_with_parent(parent)
            print("survived", flush=True)
            sys.exit(0)
        print("forked", flush=True)
        """,
        pass_fds=(go_read,),
    )
    os.close(go_read)
    assert parent.stdout.readline().strip() == "forked"
    parent.wait()
    os.write(go_write, b"x")
    os.close(go_write)
    output, _ = parent.communicate(timeout=HANG)  # the rest, up to the child's end
    assert output == ""


def test_a_popen_child_dies_with_the_process_that_started_it_while_other_threads_run(processes):
    """subprocess.Popen runs no fork hook: `child_dies_with_this_process` is its preexec_fn (with a thread busy
    in the parent, as a training's are)."""
    parent = processes.python("""
        import subprocess, sys, threading, time
        from gristmill_base.lifetime import child_dies_with_this_process
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=True).start()
        child = subprocess.Popen(
            [sys.executable, "-c", "print(1, flush=True); import time; time.sleep(600)"],
            preexec_fn=child_dies_with_this_process(),
        )
        print(child.pid, flush=True)
        time.sleep(600)
    """)
    child = identity(processes.adopt(int(parent.stdout.readline())))
    assert parent.stdout.readline().strip() == "1"  # the child runs, exec'd
    parent.kill()
    parent.wait()
    assert exits(child)


def test_a_process_dies_with_a_process_that_is_not_its_parent(processes):
    command = processes.python("import time; time.sleep(600)")
    worker = processes.python(f"""
        import time
        from gristmill_base.lifetime import ProcessIdentity, die_with
        die_with(ProcessIdentity({command.pid}, {start_time(command.pid)}))
        print("watching", flush=True)
        time.sleep(600)
    """)
    assert worker.stdout.readline().strip() == "watching"
    assert worker.poll() is None
    command.kill()
    command.wait()
    assert worker.wait(timeout=HANG) == -signal.SIGKILL


def test_a_watch_on_a_descriptor_past_1023_still_kills(processes):
    """select() refuses descriptors of 1024 and more; a process holding many files gets a pidfd there."""
    command = processes.python("import time; time.sleep(600)")
    worker = processes.python(f"""
        import os, time
        from gristmill_base.lifetime import ProcessIdentity, die_with
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        die_with(ProcessIdentity({command.pid}, {start_time(command.pid)}))
        print(max(held), flush=True)
        time.sleep(600)
    """)
    assert int(worker.stdout.readline()) >= 1024
    command.kill()
    command.wait()
    assert worker.wait(timeout=HANG) == -signal.SIGKILL


def test_a_process_bound_to_one_already_gone_dies_at_once(processes):
    # the pid of this test runner with another start time: the process this identity named is gone
    worker = processes.python(f"""
        from gristmill_base.lifetime import ProcessIdentity, die_with
        die_with(ProcessIdentity({os.getpid()}, {start_time(os.getpid())} - 1))
        print("survived", flush=True)
    """)
    output, _ = worker.communicate(timeout=HANG)
    assert worker.returncode == -signal.SIGKILL
    assert output == ""
