"""The folder a training command writes (`run.output`, ablate's `--output`), held by one command at a time and
moved aside, never deleted, when a run starts over there.

The hold is `gristmill_base.folder_lock`'s lock, taken by rank 0 before it decides anything about the folder and
kept until the command ends: a second command on the same folder (another terminal) is refused, naming the
first, instead of continuing from the same checkpoint or moving the folder away under a live run. The lock file
lies inside the folder, so it moves with it: after moving the folder aside the new folder's lock is taken, and a
command that got the lock of a folder just moved away (its name now another folder) lets it go and tries again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gristmill_base.errors import UserError
from gristmill_base.folder_lock import LOCK_FILE, hold_folder

TRIES = 3  # to take the lock of a folder that another command keeps moving aside


class HeldFolder:
    """`with HeldFolder(folder, command, place):` holds `folder` (created if missing) for `command`, e.g.
    "gristmill train"; `place` is the setting that names it, for the refusals ("run.output")."""

    def __init__(self, folder: Path, command: str, place: str):
        self.folder, self.command, self.place = folder, command, place
        self.hint = f"choose another {place}"
        self._hold = ExitStack()

    def __enter__(self) -> HeldFolder:
        self._take()
        return self

    def __exit__(self, *_: Any) -> None:
        self._hold.close()

    def holds_files(self) -> bool:
        """Whether the folder holds anything but its lock file."""
        return any(entry.name != LOCK_FILE for entry in self.folder.iterdir())

    def move_aside(self, inputs: Iterable[tuple[str, str | None]], why: str) -> Path:
        """Rename the folder to an unused sibling `<name>.replaced-<UTC time>` and hold a new empty one; the
        moved folder's name. `why` ("--restart") starts the refusals: an input (setting, path) lies inside the
        folder, or the folder cannot be renamed."""
        inside = f"{self.folder.resolve()}{os.sep}"
        for key, path in inputs:
            if path and f"{Path(path).resolve()}{os.sep}".startswith(inside):
                raise UserError(f"{why} would move {self.folder} aside, and {key} {path} lies inside it: move that "
                                f"out first, or {self.hint}")  # fmt: skip
        try:
            moved = move_aside(self.folder)
        except OSError as error:
            raise UserError(f"{why}: {self.folder} cannot be moved aside: {error}") from None
        self._hold.close()  # the moved folder's lock (one process holds a folder's name once: folder_lock)
        self._take()
        return moved

    def _take(self) -> None:
        for _ in range(TRIES):
            self.folder.mkdir(parents=True, exist_ok=True)
            before = _identity(self.folder)
            hold = ExitStack()
            hold.enter_context(hold_folder(self.folder, self.command, self.hint))
            if _identity(self.folder) == before:
                self._hold = hold
                return
            hold.close()  # the folder locked was moved aside meanwhile; its name is another folder's now
        raise UserError(f"{self.folder} keeps being moved aside by other commands; {self.hint}")


def move_aside(folder: Path) -> Path:
    """Rename `folder` to an unused sibling `<name>.replaced-<UTC time>`; that name."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target, number = folder.with_name(f"{folder.name}.replaced-{stamp}"), 1
    while target.exists():
        number += 1
        target = folder.with_name(f"{folder.name}.replaced-{stamp}-{number}")
    folder.rename(target)
    return target


def _identity(folder: Path) -> tuple[int, int] | None:
    try:
        found = folder.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino
