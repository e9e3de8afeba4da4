"""A scoring stage (`classifier`, `hf_classifier`) with `keep_top_fraction`: keep the best-scored share of
the whole run. The rank needs
every score first, so like a dedup stage it ends a job and adds its own phases:

  <stage>/scores      one task per document file: each document's score, top label and id hash
  <stage>/cutoff      one task: the exact cutoff over the run, `stats/<stage>/rank.json`
  <stage>/apply       (the next job's source) documents in the top share kept, the others removed as `<stage>_rank`

The count kept is round(fraction x documents), halves up. Documents are ordered by score, highest first,
ties by a 64-bit hash of the id, then by the id itself: the order depends on nothing but the documents, so
any number of workers or tasks keeps the same set.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from gristmill_base.atomic import write_json_atomic
from pipeline.dedup.dataset import document_files, row_batches, write_table_atomic
from pipeline.filters.scoring import ScoringStage, load_scorer
from pipeline.progress import TaskProgress
from pipeline.steps.counters import StageCounters
from pipeline.steps.decisions_source import DecisionsSource

SCORES_SCHEMA = pa.schema(
    [("score", pa.float64()), ("label", pa.string()), ("id_hash", pa.uint64()), ("id", pa.string())]
)


def id_hash(document_id: str) -> int:
    return int.from_bytes(
        hashlib.blake2b(document_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def kept_count(fraction: float, documents: int) -> int:
    """round(fraction x documents), halves up: 10% of 15 documents keeps 2, of 25 keeps 3."""
    return min(documents, math.floor(fraction * documents + 0.5))


@dataclass(frozen=True)
class Cutoff:
    """The last kept document's place in the order; `keep` 0 keeps nothing."""

    documents: int
    keep: int
    score: float
    id_hash: int
    id: str

    def keeps(self, score: float, hashed: int, document_id: str) -> bool:
        if not self.keep:
            return False
        return (-score, hashed, document_id) <= (-self.score, self.id_hash, self.id)


class RankFolder:
    """RUN/<stage>/work: a scores table per document file, and the cutoff."""

    def __init__(self, root: Path):
        self.root = root

    def scores(self, index: int) -> Path:
        return self.root / "scores" / f"{index:05d}.parquet"

    @property
    def cutoff(self) -> Path:
        return self.root / "cutoff.json"

    def read_cutoff(self) -> Cutoff:
        return Cutoff(**json.loads(self.cutoff.read_text(encoding="utf-8")))


class RankScoresStep(PipelineStep):
    name = "classifier scores"
    type = "gristmill"

    def __init__(self, stage: ScoringStage, docs_dir: Path, work_dir: Path, progress_folder: Path):
        super().__init__()
        self.stage = stage
        self.docs_dir = docs_dir
        self.folder = RankFolder(work_dir)
        self.progress_folder = progress_folder

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            files = document_files(self.docs_dir)
            if rank < len(files):
                self._score(files[rank], rank)
        yield from ()

    def _score(self, path: Path, index: int) -> None:
        model = load_scorer(self.stage)
        progress = TaskProgress(self.progress_folder / f"task-{index:05d}.json")
        rows_total, size = max(pq.ParquetFile(path).metadata.num_rows, 1), path.stat().st_size
        scores, labels, ids = [], [], []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024, columns=["id", "text"]):
            texts = batch.column("text").to_pylist()
            for label, score in model.scores(texts, self.stage.keep_label):
                scores.append(score)
                labels.append(label)
            ids += batch.column("id").to_pylist()
            progress.update(size * len(ids) // rows_total, len(ids))
        hashes = np.array([id_hash(i) for i in ids], dtype=np.uint64)
        table = pa.table([pa.array(scores, pa.float64()), labels, hashes, ids], schema=SCORES_SCHEMA)
        write_table_atomic(self.folder.scores(index), table)
        progress.update(size, len(ids), force=True)


class RankCutoffStep(PipelineStep):
    name = "classifier cutoff"
    type = "gristmill"

    def __init__(self, stage: ScoringStage, docs_dir: Path, work_dir: Path, stats_path: Path):
        super().__init__()
        self.stage = stage
        self.docs_dir = docs_dir
        self.folder = RankFolder(work_dir)
        self.stats_path = stats_path

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):
            files = document_files(self.docs_dir)
            columns = {"score": pl.Float64, "id_hash": pl.UInt64, "id": pl.String}
            tables = [pl.read_parquet(self.folder.scores(i), columns=list(columns)) for i in range(len(files))]
            scores = pl.concat([pl.DataFrame(schema=columns), *tables])
            fraction = self.stage.keep_top_fraction or 0.0
            keep = kept_count(fraction, scores.height)
            cutoff = Cutoff(scores.height, 0, math.inf, 0, "")
            if keep:
                order = scores.sort(["score", "id_hash", "id"], descending=[True, False, False])
                last = order.row(keep - 1, named=True)
                cutoff = Cutoff(scores.height, keep, last["score"], last["id_hash"], last["id"])
            write_json_atomic(self.folder.cutoff, cutoff.__dict__)
            figures = {"documents": cutoff.documents, "kept": keep, "fraction": fraction}
            write_json_atomic(self.stats_path, figures | {"cutoff_score": cutoff.score if keep else None})
        yield from ()


class RankApplyStep(DecisionsSource):
    """The first step of the job after the cutoff: each document of one file, kept or removed by rank."""

    name = "classifier apply"

    def __init__(self, run_dir: Path, stage: ScoringStage, docs_dir: Path, work_dir: Path, progress_folder: Path):
        super().__init__(run_dir, stage.kind, docs_dir, progress_folder)
        self.stage = stage
        self.folder = RankFolder(work_dir)

    def decided(self, path: Path, index: int, counters: StageCounters) -> Iterator[Document]:
        stage, cutoff = self.stage, self.folder.read_cutoff()
        scores = pq.read_table(self.folder.scores(index)).to_pydict()
        progress = TaskProgress(self.progress_folder / f"task-{index:05d}.json")
        size, total, row = path.stat().st_size, max(pq.ParquetFile(path).metadata.num_rows, 1), 0
        for batch in row_batches(path):
            for values in batch.to_pylist():
                text = values.pop("text")
                document = Document(text=text, id=values.pop("id"), metadata=values)
                score, label, hashed = scores["score"][row], scores["label"][row], scores["id_hash"][row]
                meta = document.metadata
                meta.update({f"{stage.name}_label": label, f"{stage.name}_score": score})
                text_bytes = len(text.encode("utf-8"))
                counters.bytes_in += text_bytes
                if cutoff.keeps(score, hashed, document.id):
                    counters.count_kept(text_bytes)
                else:
                    rule = f"{stage.kind}_rank"
                    meta.update(removed_by=rule, removed_detail=_detail(stage, score, cutoff), removed_stage=stage.kind)
                    counters.count_removed(rule, text_bytes)
                row += 1
                yield document
            progress.update(size * row // total, row)
        progress.update(size, row, force=True)


def _detail(stage: ScoringStage, score: float, cutoff: Cutoff) -> str:
    place = f"the top {stage.keep_top_fraction:g} keeps {cutoff.keep:,} of {cutoff.documents:,}"
    scored = f"{stage.name}: score({stage.keep_label or 'output'})={score:.4g}"
    if not cutoff.keep:
        return f"{scored}; {place}"
    return f"{scored} ranks below the cutoff {cutoff.score:.4g}; {place}"
