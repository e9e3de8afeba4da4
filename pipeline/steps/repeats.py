"""Records read twice: the same WARC-Record-ID (or id field of JSONL / Parquet) in two places of a run's input,
as when a segment was downloaded twice or a truncated copy lies beside the full file. A document id is
unique across a run (shards/ and removed/), so two phases run before ingest when the inputs carry ids:

  repeats/scan     one task per ingest task: the id of every document record, file by file
  repeats/resolve  one task: for each id the occurrence that keeps it, the first complete one (not removed
                   while reading) in run order, else the first; every other occurrence is a repeat

Ingest then removes each repeat with the rule `repeated_record`, under an id of its own (the hash of its
file and position, the id a record without one gets) and a detail naming the id and where it was kept.
Run order is input files by path, then position in the file, whatever the number of tasks or workers, so
the same copy is kept by any executor.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from pipeline.dedup.dataset import write_table_atomic
from pipeline.inputs import InputFile
from pipeline.progress import TaskProgress
from pipeline.readers import ReaderOptions, Record
from pipeline.readers.record import stable_id
from pipeline.readers.task import TaskInput

RULE = "repeated_record"
SCAN_SCHEMA = pa.schema(
    [
        ("hi", pa.uint64()),
        ("lo", pa.uint64()),
        ("complete", pa.bool_()),
        ("source", pa.string()),
    ]
)


def carries_ids(files: list[InputFile], options: ReaderOptions) -> bool:
    """Whether any input can repeat an id: WARC records have theirs, JSONL and Parquet an id field; other
    ids are hashes of the record's own file and position, unique by construction."""
    return any(f.format == "warc" or (f.format in ("jsonl", "parquet") and options.id_field) for f in files)


def id_keys(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """128-bit BLAKE2b keys of ids as two uint64 arrays: a false repeat among 10^12 records has odds 10^-15."""
    digests = b"".join(hashlib.blake2b(i.encode("utf-8", "surrogatepass"), digest_size=16).digest() for i in ids)
    pairs = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


class RepeatsFolder:
    """RUN/repeats/work: a scan table per input file, and a table of repeats per file that has any."""

    def __init__(self, root: Path):
        self.root = root

    def scan(self, file_index: int) -> Path:
        return self.root / "scan" / f"{file_index:06d}.parquet"

    def repeats(self, file_index: int) -> Path:
        return self.root / "repeats" / f"{file_index:06d}.parquet"

    def for_file(self, file_index: int) -> dict[int, tuple[str, bool]]:
        """ordinal of a repeated document record -> (source of the kept occurrence, whether it is complete)."""
        path = self.repeats(file_index)
        if not path.exists():
            return {}
        table = pq.read_table(path).to_pydict()
        return {
            ordinal: (source, complete)
            for ordinal, source, complete in zip(
                table["ordinal"], table["kept_source"], table["kept_complete"], strict=True
            )
        }


def mark_repeat(record: Record, kept_source: str, kept_complete: bool) -> None:
    """Remove a repeated record under an id of its own, saying whose copy it is and where that was kept."""
    where = f"kept at {kept_source}" if kept_complete else f"first read at {kept_source}, removed there too"
    detail = f"repeat of id {record.id}, {where}"
    if record.removed_by:
        detail += f"; this copy was also {record.removed_by}: {record.removed_detail}"
    record.id = stable_id(record.source)
    record.removed_by, record.removed_detail = RULE, detail


class RepeatScanStep(PipelineStep):
    """Task t reads the files of ingest task t as ingest will (same plan, same limit) and keys their ids."""

    name = "repeat scan"
    type = "gristmill"

    def __init__(
        self,
        files: list[InputFile],
        plan: list[list[int]],
        limits: list[int | None],
        options: ReaderOptions,
        work_dir: Path,
        progress_folder: Path,
    ):
        super().__init__()
        self.files = files
        self.plan = plan
        self.limits = limits
        self.options = options
        self.work = RepeatsFolder(work_dir)
        self.progress_folder = progress_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            progress = TaskProgress(self.progress_folder / f"task-{rank:05d}.json")
            task = TaskInput(self.files, self.plan[rank], self.options, self.limits[rank])
            finished_bytes = 0
            for file_index, file in task.files():
                ids, complete, sources = [], [], []
                for ordinal, record in task.records(file):
                    if ordinal is not None:
                        ids.append(record.id)
                        complete.append(record.removed_by is None)
                        sources.append(record.source)
                        progress.update(finished_bytes + record.position, task.documents)
                hi, lo = id_keys(ids)
                table = pa.table([hi, lo, complete, sources], schema=SCAN_SCHEMA)
                write_table_atomic(self.work.scan(file_index), table)
                finished_bytes += file.size or 0
            progress.update(finished_bytes, task.documents, force=True)
        yield from ()


class RepeatResolveStep(PipelineStep):
    """One task: every id's keeper over the whole run, and a repeats table for each file that has repeats."""

    name = "repeat resolve"
    type = "gristmill"

    def __init__(self, file_count: int, work_dir: Path):
        super().__init__()
        self.file_count = file_count
        self.work = RepeatsFolder(work_dir)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            records = self._records()
            keepers = (
                records.sort("hi", "lo", "complete", "file", "ordinal", descending=[False, False, True, False, False])
                .unique(["hi", "lo"], keep="first", maintain_order=True)
                .select("hi", "lo", kept_file="file", kept_ordinal="ordinal", kept_complete="complete")
            )
            repeats = records.join(keepers, on=["hi", "lo"]).filter(
                (pl.col("file") != pl.col("kept_file")) | (pl.col("ordinal") != pl.col("kept_ordinal"))
            )
            repeats = repeats.join(self._keeper_sources(repeats), on=["kept_file", "kept_ordinal"])
            for (file_index,), rows in repeats.group_by("file"):
                table = rows.sort("ordinal").select("ordinal", "kept_source", "kept_complete").to_arrow()
                write_table_atomic(self.work.repeats(int(file_index)), table)
        yield from ()

    def _records(self) -> pl.DataFrame:
        """(hi, lo, complete, file, ordinal) of every scanned document record (a file past the limit has none)."""
        frames = [
            pl.from_arrow(pq.read_table(path, columns=["hi", "lo", "complete"])).with_columns(
                file=pl.lit(index, pl.Int64), ordinal=pl.int_range(pl.len(), dtype=pl.Int64)
            )
            for index in range(self.file_count)
            if (path := self.work.scan(index)).exists()
        ]
        schema = {"hi": pl.UInt64, "lo": pl.UInt64, "complete": pl.Boolean, "file": pl.Int64, "ordinal": pl.Int64}
        return pl.concat(frames) if frames else pl.DataFrame(schema=schema)

    def _keeper_sources(self, repeats: pl.DataFrame) -> pl.DataFrame:
        """(kept_file, kept_ordinal, kept_source) of the keepers of repeated ids: sources are read only here,
        from the files that hold such a keeper."""
        frames = [pl.DataFrame(schema={"kept_file": pl.Int64, "kept_ordinal": pl.Int64, "kept_source": pl.String})]
        for (file_index,), keepers in repeats.select("kept_file", "kept_ordinal").unique().group_by("kept_file"):
            sources = pq.read_table(self.work.scan(int(file_index)), columns=["source"])["source"]
            taken = sources.take(pa.array(keepers["kept_ordinal"].to_list(), pa.int64())).to_pylist()
            frames.append(keepers.with_columns(kept_source=pl.Series(taken, dtype=pl.String)))
        return pl.concat(frames)
