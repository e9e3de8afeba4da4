"""pipeline.sandbox.TimeLimitedWorker: calls in a child process with a time limit, surviving crashes."""

from __future__ import annotations

import os
import time

import pytest

from pipeline.sandbox import CallFailed, CallTimedOut, TimeLimitedWorker


def job(kind: str, value: int = 0):
    """Module-level so that the forked child can run it; each kind is one way a call can go."""
    if kind == "double":
        return value * 2
    if kind == "pid":
        return os.getpid()
    if kind == "raise":
        raise ValueError(f"bad value {value}")
    if kind == "hang":
        time.sleep(value)
        return "woke up"
    if kind == "die":
        os._exit(value)
    if kind == "unpicklable":
        return lambda: None
    if kind == "big":
        return b"x" * value
    raise AssertionError(kind)


@pytest.fixture
def worker():
    with TimeLimitedWorker(job, timeout=1.0) as w:
        yield w


def test_results_come_back_from_one_long_lived_child(worker: TimeLimitedWorker):
    assert worker("double", 21) == 42
    child = worker("pid")
    assert child != os.getpid()
    assert [worker("double", i) for i in range(20)] == [2 * i for i in range(20)]
    assert worker("pid") == child
    assert worker.starts == 1


def test_large_results_arrive_whole(worker: TimeLimitedWorker):
    assert worker("big", 20_000_000) == b"x" * 20_000_000


def test_exception_in_the_call_is_call_failed_and_the_child_stays(worker: TimeLimitedWorker):
    child = worker("pid")
    with pytest.raises(CallFailed, match="ValueError: bad value 7"):
        worker("raise", 7)
    assert worker("pid") == child
    assert worker.starts == 1


def test_unpicklable_result_is_call_failed(worker: TimeLimitedWorker):
    with pytest.raises(CallFailed):
        worker("unpicklable")
    assert worker("double", 4) == 8


def test_overrun_is_call_timed_out_and_the_next_call_works():
    with TimeLimitedWorker(job, timeout=0.5) as worker:
        first_child = worker("pid")
        with pytest.raises(CallTimedOut, match=r"no result within 0\.5 s"):
            worker("hang", 60)
        assert worker("double", 5) == 10
        assert worker("pid") != first_child
        assert worker.starts == 2


def test_the_hung_child_is_killed():
    with TimeLimitedWorker(job, timeout=0.5) as worker:
        child = worker("pid")
        with pytest.raises(CallTimedOut):
            worker("hang", 60)
        with pytest.raises(ProcessLookupError):
            os.kill(child, 0)


@pytest.mark.parametrize("status", [0, 1, 137])
def test_child_that_dies_is_call_failed_and_a_new_child_takes_over(worker: TimeLimitedWorker, status: int):
    first_child = worker("pid")
    with pytest.raises(CallFailed, match="worker process died"):
        worker("die", status)
    assert worker("double", 3) == 6
    assert worker("pid") != first_child
    assert worker.starts == 2


def test_repeated_deaths_each_recover(worker: TimeLimitedWorker):
    for _ in range(3):
        with pytest.raises(CallFailed):
            worker("die", 1)
        assert worker("double", 1) == 2
    assert worker.starts == 4


def test_close_stops_the_child_and_a_later_call_starts_a_new_one():
    worker = TimeLimitedWorker(job, timeout=1.0)
    child = worker("pid")
    worker.close()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert worker("double", 2) == 4
    assert worker.starts == 2
    worker.close()
