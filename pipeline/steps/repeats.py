"""Records read twice: the same WARC-Record-ID (or id field of JSONL / Parquet) in two places of a run's input,
as when a segment was downloaded twice or a truncated copy lies beside the full file. A document id is
unique across a run (shards/ and removed/), so two phases run before ingest when the inputs carry ids:

  repeats/scan     one task per ingest task: the id (and, for JSONL / Parquet, a hash of the text) of every
                   document record, file by file, read as ingest will read it
  repeats/resolve  one task, after every scan task: which occurrence keeps each id

A WARC-Record-ID is globally unique by the WARC standard, so two records with one id are one record read
twice. An id field of JSONL or Parquet is whatever the exporter wrote (per-file row numbers, say), so there
a repeat is the same id with the same text; the same id with another text is another document.

Among the occurrences of one record, the first complete one (not removed while reading) in run order keeps
it, else the first; ingest removes every other with the rule `repeated_record`, under an id of its own (the
hash of its file and position, the id a record without one gets) and a detail naming the id and where it
was kept. A distinct JSONL / Parquet document whose id an earlier document already has stays in the run
under `<id>~<16 hex digits of the hash of its source>`. Run order is input files by path, then position in
the file, whatever the number of tasks or workers, so any executor keeps the same copies.

Ingest checks that it reads each file as the scan did (same ids, same count), and fails the task otherwise:
a remote file that failed to download in one of the two reads (each tries three times) would shift the
decisions.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from gristmill_base.atomic import write_json_atomic
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
        ("content", pa.uint64()),
        ("complete", pa.bool_()),
        ("source", pa.string()),
    ]
)
RECORD_COLUMNS = {
    "hi": pl.UInt64,
    "lo": pl.UInt64,
    "content": pl.UInt64,
    "complete": pl.Boolean,
    "file": pl.Int64,
    "ordinal": pl.Int64,
}


def carries_ids(files: list[InputFile], options: ReaderOptions) -> bool:
    """Whether any input can repeat an id: WARC records have theirs, JSONL and Parquet an id field; other
    ids are hashes of the record's own file and position, unique by construction."""
    return any(f.format == "warc" or (f.format in ("jsonl", "parquet") and options.id_field) for f in files)


def id_keys(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """128-bit BLAKE2b keys of ids as two uint64 arrays: a false repeat among 10^12 records has odds 10^-15."""
    digests = b"".join(hashlib.blake2b(i.encode("utf-8", "surrogatepass"), digest_size=16).digest() for i in ids)
    pairs = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)
    return pairs[:, 0].copy(), pairs[:, 1].copy()


def content_key(record: Record, file: InputFile) -> int:
    """0 for WARC (its id names the record); for JSONL / Parquet a 64-bit hash of the text (0: no text)."""
    if file.format == "warc" or record.text is None:
        return 0
    digest = hashlib.blake2b(record.text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclass(frozen=True)
class Decision:
    """What ingest does with one occurrence: remove it as a repeat of the copy kept at `kept_source`, or
    (`renamed`) keep it under an id of its own because another document has its id."""

    renamed: bool
    kept_source: str | None
    kept_complete: bool


class RepeatsFolder:
    """RUN/repeats: the scan and resolve jobs' folders (datatrove's completion markers) and work/, with a scan
    table per input file and a table of decisions per file that has any."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"

    def scan(self, file_index: int) -> Path:
        return self.work / "scan" / f"{file_index:06d}.parquet"

    def decisions(self, file_index: int) -> Path:
        return self.work / "repeats" / f"{file_index:06d}.parquet"

    def scan_done(self, task: int) -> Path:
        return self.root / "scan" / "completions" / f"{task:05d}"

    @property
    def resolve_done(self) -> Path:
        return self.root / "resolve" / "completions" / "00000"

    @property
    def stats(self) -> Path:
        return self.root.parent / "stats" / "repeats.json"

    def forget_if_work_lost(self) -> None:
        """A complete run deletes work/ with the other intermediate data; if ingest must run again later (a
        task's output lost), the scan and the decisions are redone rather than read from nothing."""
        if not self.work.exists():
            for job in ("scan", "resolve"):
                shutil.rmtree(self.root / job / "completions", ignore_errors=True)

    def for_file(self, file_index: int) -> dict[int, Decision]:
        """ordinal of a document record -> what ingest does with it (absent: nothing)."""
        path = self.decisions(file_index)
        if not path.exists():
            return {}
        table = pq.read_table(path).to_pydict()
        rows = zip(table["ordinal"], table["renamed"], table["kept_source"], table["kept_complete"], strict=True)
        return {ordinal: Decision(renamed, source, complete) for ordinal, renamed, source, complete in rows}

    def scanned_ids(self, file_index: int) -> tuple[np.ndarray, np.ndarray]:
        """The id keys the scan read from a file, in order (none: the scan stopped before it, at the limit)."""
        path = self.scan(file_index)
        if not path.exists():
            return np.zeros(0, np.uint64), np.zeros(0, np.uint64)
        table = pq.read_table(path, columns=["hi", "lo"])
        return table["hi"].to_numpy(), table["lo"].to_numpy()


class FileRepeats:
    """Ingest's view of one file: it checks each record's id against the scan's, then applies the decision."""

    def __init__(self, folder: RepeatsFolder, file_index: int, file: InputFile):
        self.file = file
        self.hi, self.lo = folder.scanned_ids(file_index)
        self.decisions = folder.for_file(file_index)
        self.read = 0

    def apply(self, ordinal: int, record: Record) -> None:
        hi, lo = id_keys([record.id])
        if ordinal >= len(self.hi) or (self.hi[ordinal], self.lo[ordinal]) != (hi[0], lo[0]):
            self._differs(f"document record {ordinal + 1} ({record.source}) is not the one the scan read there")
        self.read = ordinal + 1
        decision = self.decisions.get(ordinal)
        if decision is None:
            return
        if decision.renamed:
            record.id = f"{record.id}~{stable_id(record.source)[:16]}"
        else:
            mark_repeat(record, decision.kept_source or "", decision.kept_complete)

    def finish(self) -> None:
        if self.read != len(self.hi):
            self._differs(f"it ended after {self.read} document records, the scan read {len(self.hi)}")

    def _differs(self, what: str) -> None:
        raise RuntimeError(
            f"{self.file.path} reads differently now than in the repeat scan: {what}. A remote file may have "
            "failed to download in one of the two reads; delete RUN/repeats and RUN/ingest and run again"
        )


def renamed_note(run_dir: Path) -> str | None:
    """A line for the run's summary when distinct documents shared an id (some were renamed), else None."""
    stats = RepeatsFolder(run_dir / "repeats").stats
    if not stats.exists():
        return None
    renamed = json.loads(stats.read_text(encoding="utf-8"))["renamed"]
    if not renamed:
        return None
    return (
        f"{renamed:,} documents have an id that another document (with another text) has: kept as "
        "<id>~<hash of their source>; see docs/formats.md, Ids and sources"
    )


def mark_repeat(record: Record, kept_source: str, kept_complete: bool) -> None:
    """Remove a repeated record under an id of its own, saying whose copy it is and where that was kept."""
    where = f"kept at {kept_source}" if kept_complete else f"first read at {kept_source}, removed there too"
    detail = f"repeat of id {record.id}, {where}"
    if record.removed_by:
        detail += f"; this copy was also {record.removed_by}: {record.removed_detail}"
    record.id = stable_id(record.source)
    record.removed_by, record.removed_detail = RULE, detail


def decide(records: pl.DataFrame) -> pl.DataFrame:
    """(hi, lo, content, complete, file, ordinal) of document records -> a row per record that is a repeat or
    renamed: (file, ordinal, renamed, kept_file, kept_ordinal, kept_complete); the kept columns name the
    copy a repeat repeats."""
    ordered = records.sort("complete", "file", "ordinal", descending=[True, False, False], maintain_order=True)
    keepers = ordered.unique(["hi", "lo", "content"], keep="first", maintain_order=True)
    holders = keepers.unique(["hi", "lo"], keep="first", maintain_order=True)
    kept = keepers.select("hi", "lo", "content", kept_file="file", kept_ordinal="ordinal", kept_complete="complete")
    repeats = (
        records.join(kept, on=["hi", "lo", "content"])
        .filter((pl.col("file") != pl.col("kept_file")) | (pl.col("ordinal") != pl.col("kept_ordinal")))
        .select("file", "ordinal", "kept_file", "kept_ordinal", "kept_complete", renamed=pl.lit(False))
    )
    holder = holders.select("hi", "lo", holder_file="file", holder_ordinal="ordinal")
    renamed = (
        keepers.join(holder, on=["hi", "lo"])
        .filter((pl.col("file") != pl.col("holder_file")) | (pl.col("ordinal") != pl.col("holder_ordinal")))
        .select(
            "file",
            "ordinal",
            kept_file=pl.lit(None, pl.Int64),
            kept_ordinal=pl.lit(None, pl.Int64),
            kept_complete=pl.lit(None, pl.Boolean),
            renamed=pl.lit(True),
        )
    )
    return pl.concat([repeats, renamed])


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
        folder: Path,
        progress_folder: Path,
    ):
        super().__init__()
        self.files = files
        self.plan = plan
        self.limits = limits
        self.options = options
        self.folder = RepeatsFolder(folder)
        self.progress_folder = progress_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            self.folder.resolve_done.unlink(missing_ok=True)  # decisions made before this scan are stale
            progress = TaskProgress(self.progress_folder / f"task-{rank:05d}.json")
            task = TaskInput(self.files, self.plan[rank], self.options, self.limits[rank])
            finished_bytes = 0
            for file_index, file in task.files():
                ids, contents, complete, sources = [], [], [], []
                for ordinal, record in task.records(file):
                    if ordinal is None:
                        continue
                    ids.append(record.id)
                    contents.append(content_key(record, file))
                    complete.append(record.removed_by is None)
                    sources.append(record.source)
                    progress.update(finished_bytes + record.position, task.documents)
                hi, lo = id_keys(ids)
                content = np.array(contents, dtype=np.uint64)
                table = pa.table([hi, lo, content, complete, sources], schema=SCAN_SCHEMA)
                write_table_atomic(self.folder.scan(file_index), table)
                finished_bytes += file.size or 0
            progress.update(finished_bytes, task.documents, force=True)
        yield from ()


class RepeatResolveStep(PipelineStep):
    """One task: the decisions over the whole run, a table for each file that has any.

    Only records whose id key shares its first 64 bits with another are held in full: the rest of the run
    costs the first 8 bytes of its keys."""

    name = "repeat resolve"
    type = "gristmill"

    def __init__(self, file_count: int, scan_tasks: int, folder: Path):
        super().__init__()
        self.file_count = file_count
        self.scan_tasks = scan_tasks
        self.folder = RepeatsFolder(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            missing = [t for t in range(self.scan_tasks) if not self.folder.scan_done(t).exists()]
            if missing:  # with Slurm arrays split in chunks, afterok waits for the last chunk only
                raise RuntimeError(f"repeat resolve: scan tasks {missing[:10]} have not finished; run again")
            shutil.rmtree(self.folder.work / "repeats", ignore_errors=True)
            candidates, documents = self._records_sharing_ids()
            decisions = decide(candidates)
            decisions = decisions.join(self._kept_sources(decisions), on=["kept_file", "kept_ordinal"], how="left")
            for (file_index,), rows in decisions.group_by("file"):
                columns = rows.sort("ordinal").select("ordinal", "renamed", "kept_source", "kept_complete")
                write_table_atomic(self.folder.decisions(int(file_index)), columns.to_arrow())
            renamed = int(decisions["renamed"].sum())
            figures = {"documents": documents, "repeats": decisions.height - renamed, "renamed": renamed}
            write_json_atomic(self.folder.stats, figures)
        yield from ()

    def _scan_paths(self) -> list[tuple[int, Path]]:
        """(file index, scan table) of scanned files: a file past the run's limit has none."""
        return [(index, path) for index in range(self.file_count) if (path := self.folder.scan(index)).exists()]

    def _records_sharing_ids(self) -> tuple[pl.DataFrame, int]:
        """Every column of the records whose first 64 key bits another record shares, and the count of all.
        The first bits of all keys are sorted in one array, in place: 8 bytes per record, plus one."""
        scans = self._scan_paths()
        counts = [pq.ParquetFile(path).metadata.num_rows for _, path in scans]
        firsts = np.empty(sum(counts), dtype=np.uint64)
        for (_, path), start in zip(scans, np.cumsum([0, *counts[:-1]]), strict=True):
            column = pq.read_table(path, columns=["hi"])["hi"].to_numpy()
            firsts[start : start + len(column)] = column
        firsts.sort()
        shared = pl.Series("hi", np.unique(firsts[1:][firsts[1:] == firsts[:-1]]), pl.UInt64)
        del firsts
        frames = [pl.DataFrame(schema=RECORD_COLUMNS)]
        for index, path in scans:
            table = pl.from_arrow(pq.read_table(path, columns=["hi", "lo", "content", "complete"]))
            assert isinstance(table, pl.DataFrame)
            table = table.with_columns(file=pl.lit(index, pl.Int64), ordinal=pl.int_range(pl.len(), dtype=pl.Int64))
            frames.append(table.filter(pl.col("hi").is_in(shared)).select(list(RECORD_COLUMNS)))
        return pl.concat(frames), sum(counts)

    def _kept_sources(self, decisions: pl.DataFrame) -> pl.DataFrame:
        """(kept_file, kept_ordinal, kept_source) of the kept copies of repeats: sources are read only here,
        from the files that hold such a copy."""
        frames = [pl.DataFrame(schema={"kept_file": pl.Int64, "kept_ordinal": pl.Int64, "kept_source": pl.String})]
        kept = decisions.filter(~pl.col("renamed")).select("kept_file", "kept_ordinal").unique()
        for (file_index,), rows in kept.group_by("kept_file"):
            sources = pq.read_table(self.folder.scan(int(file_index)), columns=["source"])["source"]
            taken = sources.take(pa.array(rows["kept_ordinal"].to_list(), pa.int64())).to_pylist()
            frames.append(rows.with_columns(kept_source=pl.Series(taken, dtype=pl.String)))
        return pl.concat(frames)
