"""One task's share of the input: its files in plan order, read until the task's document limit.

Ingest and the repeat scan both read through this, so they see the same records with the same positions.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeline.inputs import InputFile
from pipeline.readers import ReaderOptions, Record, read_records


class TaskInput:
    """Records of `files[i]` for i in `indices`, stopping after `limit` documents (no limit: every record)."""

    def __init__(self, files: list[InputFile], indices: list[int], options: ReaderOptions, limit: int | None):
        self._files = files
        self._indices = indices
        self._options = options
        self._limit = limit
        self.documents = 0

    @property
    def full(self) -> bool:
        return self._limit is not None and self.documents >= self._limit

    def files(self) -> Iterator[tuple[int, InputFile]]:
        """(index in the run's input list, file), until the limit is reached."""
        for index in self._indices:
            if self.full:
                return
            yield index, self._files[index]

    def records(self, file: InputFile) -> Iterator[tuple[int | None, Record]]:
        """(ordinal among the file's document records, record); None for records that are no documents."""
        ordinal = 0
        for record in read_records(file, self._options):
            if not record.document:
                yield None, record
                continue
            yield ordinal, record
            ordinal += 1
            self.documents += 1
            if self.full:
                return
