"""Opening an input file: local paths once, URLs with retries, because a download that fails now often works
a moment later, and the repeat scan and ingest must read a remote file alike (see pipeline.steps.repeats)."""

from __future__ import annotations

import time
from typing import IO

import fsspec

from pipeline.inputs import is_url

RETRY_DELAYS = (1.0, 4.0)  # seconds before the second and third attempt at a URL


def open_input(path: str) -> IO[bytes]:
    """An open binary handle; raises the last error once every attempt failed."""
    delays = RETRY_DELAYS if is_url(path) else ()
    for delay in delays:
        try:
            return fsspec.open(path, "rb").open()
        except Exception:  # any fsspec backend error: try again after a pause
            time.sleep(delay)
    return fsspec.open(path, "rb").open()
