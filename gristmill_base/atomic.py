"""Atomic writes: write a temp file (or folder) beside the target, then rename over it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def temp_path(path: Path) -> Path:
    """The hidden temp name used while `path` is being written; readers never see half a file."""
    return path.with_name(f".{path.name}.tmp")


def publish(path: Path) -> None:
    """Make the finished temp file of `path` durable, then visible under its name: a reader (or a rerun after
    a lost node) sees the whole file or none of it."""
    tmp = temp_path(path)
    with open(tmp, "rb") as written:
        os.fsync(written.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def folder_atomic(path: Path) -> Iterator[Path]:
    """Yield an empty hidden folder beside `path` to fill; on success its files are made durable and it
    replaces `path` whole, so a reader sees the old folder or the new one, never a mix."""
    work = temp_path(path)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    yield work
    for file in work.rglob("*"):
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())
    shutil.rmtree(path, ignore_errors=True)
    os.replace(work, path)
