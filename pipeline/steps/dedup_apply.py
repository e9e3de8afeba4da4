"""The last phase of a dedup stage, as the first datatrove step of the job that follows it: one document
file's documents with the stage's decisions attached (see `pipeline.steps.decisions_source`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from datatrove.data import Document

from pipeline.dedup.dataset import load_array, row_batches
from pipeline.dedup.lines import cut_lines
from pipeline.dedup.stages import DedupStage, LineDedupStage
from pipeline.progress import TaskProgress
from pipeline.steps.counters import StageCounters
from pipeline.steps.decisions_source import DecisionsSource
from pipeline.steps.dedup import WorkFolder, key_partitions

REMOVED_RULE = {"exact_dedup": "exact_duplicate", "minhash_dedup": "near_duplicate"}


class DedupApplyStep(DecisionsSource):
    name = "dedup apply"

    def __init__(self, run_dir: Path, stage: DedupStage, docs_dir: Path, work_dir: Path, progress_folder: Path):
        super().__init__(run_dir, stage.kind, docs_dir, progress_folder)
        self.stage = stage
        self.work = WorkFolder(work_dir)

    def decided(self, path: Path, index: int, counters: StageCounters) -> Iterator[Document]:
        progress = TaskProgress(self.progress_folder / f"task-{index:05d}.json")
        decide = self._line_decider() if isinstance(self.stage, LineDedupStage) else self._cluster_decider(index)
        total_rows = max(pq.ParquetFile(path).metadata.num_rows, 1)
        size, row = path.stat().st_size, 0
        for batch in row_batches(path):
            for values in batch.to_pylist():
                text = values.pop("text")
                document = Document(text=text, id=values.pop("id"), metadata=values)
                text_bytes = len(text.encode("utf-8"))
                counters.bytes_in += text_bytes
                decide(document, row)
                if document.metadata.get("removed_stage") == self.stage.kind:
                    counters.count_removed(document.metadata["removed_by"], text_bytes)
                else:  # only line dedup rewrites text; the others keep the size measured above
                    counters.count_kept(text_bytes if document.text is text else len(document.text.encode("utf-8")))
                row += 1
                yield document
            progress.update(size * row // total_rows, row)
        progress.update(size, row, force=True)

    def _cluster_decider(self, index: int) -> Any:
        kind = self.stage.kind
        table = pq.read_table(self.work.decisions(index))
        decisions = {
            row: (cluster, size, kept_id)
            for row, cluster, size, kept_id in zip(
                *(table.column(name).to_pylist() for name in ("row", "cluster", "cluster_size", "kept_id")),
                strict=True,
            )
        }

        def decide(document: Document, row: int) -> None:
            cluster, size, kept_id = decisions.get(row, (None, 1, None))
            meta = document.metadata
            meta.update({f"{kind}_cluster": cluster, f"{kind}_cluster_size": size, f"{kind}_kept_id": kept_id})
            if kept_id is not None:
                meta.update(
                    removed_by=REMOVED_RULE[kind],
                    removed_detail=f"duplicate of {kept_id} (cluster {cluster}, {size} documents)",
                    removed_stage=kind,
                )

        return decide

    def _line_decider(self) -> Any:
        stage = self.stage
        assert isinstance(stage, LineDedupStage)
        parts = [load_array(self.work.frequent(part)) for part in range(key_partitions(stage)[1])]
        frequent = np.sort(np.concatenate([np.empty(0, np.uint64), *parts]))

        def decide(document: Document, row: int) -> None:
            text, cut = cut_lines(document.text, frequent, stage.min_line_chars, stage.normalize)
            document.metadata["line_dedup_lines_removed"] = cut
            if cut and not text.strip():
                document.metadata.update(
                    removed_by="all_lines_repeated",
                    removed_detail=f"{cut} lines each in more than {stage.max_documents} documents",
                    removed_stage=stage.kind,
                )
            else:
                document.text = text

        return decide
