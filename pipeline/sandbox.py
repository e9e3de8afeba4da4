"""Run a function in a child process with a per-call time limit.

One pathological page must not stall a worker: C extensions (lexbor, lxml) cannot be interrupted by
signals, so the only reliable limit is a separate process that is killed and replaced when a call
overruns. The child is long-lived; only a timeout or a crash costs a restart.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from gristmill_base.lifetime import die_with_parent


class CallTimedOut(Exception):
    """The call ran past the time limit; the child was killed."""


class CallFailed(Exception):
    """The call raised in the child, or the child died (e.g. killed for memory)."""


def _serve(conn: Connection, fn: Callable[..., Any], parent_pid: int) -> None:
    die_with_parent(parent_pid)  # `daemon` covers a parent that exits; this, one that is killed
    while True:
        try:
            args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, fn(*args)))
        except Exception as error:  # report any failure of fn to the parent instead of dying
            conn.send((False, f"{type(error).__name__}: {error}"))


class TimeLimitedWorker:
    """`worker(*args)` returns `fn(*args)` computed in a child, or raises CallTimedOut / CallFailed."""

    def __init__(self, fn: Callable[..., Any], timeout: float):
        self.fn = fn
        self.timeout = timeout
        self.starts = 0
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def __call__(self, *args: Any) -> Any:
        conn = self._ensure_child()
        try:
            conn.send(args)
            if not conn.poll(self.timeout):
                self._stop_child()
                raise CallTimedOut(f"no result within {self.timeout:g} s")
            ok, value = conn.recv()
        except (EOFError, OSError, BrokenPipeError) as error:
            self._stop_child()
            raise CallFailed(f"worker process died ({type(error).__name__})") from None
        if not ok:
            raise CallFailed(value)
        return value

    def _ensure_child(self) -> Connection:
        if self._process is None or not self._process.is_alive():
            self._stop_child()
            context = multiprocessing.get_context("fork")
            parent, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self.fn, os.getpid()), daemon=True)
            self._process.start()
            child.close()
            self._conn = parent
            self.starts += 1
        assert self._conn is not None
        return self._conn

    def _stop_child(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(timeout=5)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        self._stop_child()

    def __enter__(self) -> TimeLimitedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
