"""The global phases of a dedup stage as datatrove steps; each task reads and writes files under the
stage's work folder, so every phase is resumable on its own and runs on any executor.

  keys     one task per document file: exact text keys, MinHash signatures and band keys, or line keys
  buckets  one task per (band, part): documents sharing a key become candidate pairs (star edges)
  lines    one task per part of the line-key space: keys found in too many documents
  cluster  one task: candidate pairs (verified against signatures) -> connected components -> a
           decision file per document file
The apply phase (`pipeline.steps.dedup_apply`) then writes kept and removed documents.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from gristmill_base.atomic import write_json_atomic
from pipeline.dedup.dataset import (
    document_files,
    file_offsets,
    load_array,
    save_array,
    text_batches,
    write_table_atomic,
)
from pipeline.dedup.graph import bucket_edges, cluster_sizes, component_minimum, unique_edges
from pipeline.dedup.lines import document_line_keys
from pipeline.dedup.minhash import EMPTY, MinHasher, band_keys
from pipeline.dedup.shingles import Normalization, char_shingles, compared_text, text_key, word_shingles
from pipeline.dedup.stages import DedupStage, LineDedupStage, MinhashDedupStage
from pipeline.memory import PeakMemory
from pipeline.progress import TaskProgress

VERIFY_CHUNK = 1 << 18
VERIFIED_ANCHORS = 8  # pairs to verify: each bucket member with up to 8 smallest members of its bucket


class WorkFolder:
    """Where a dedup stage keeps its intermediate arrays: RUN/<stage>/work/."""

    def __init__(self, root: Path):
        self.root = root

    def keys(self, index: int) -> Path:
        return self.root / "keys" / f"{index:05d}.npy"

    def rows(self, index: int) -> Path:
        return self.root / "rows" / f"{index:05d}.npy"

    def signatures(self, index: int) -> Path:
        return self.root / "signatures" / f"{index:05d}.npy"

    def line_keys(self, index: int) -> Path:
        return self.root / "lines" / f"{index:05d}.npy"

    def edges(self, band: int, part: int) -> Path:
        return self.root / "edges" / f"b{band:03d}-p{part:04d}.npy"

    def frequent(self, part: int) -> Path:
        return self.root / "frequent" / f"p{part:04d}.npy"

    def decisions(self, index: int) -> Path:
        return self.root / "decisions" / f"{index:05d}.parquet"


def key_partitions(stage: DedupStage) -> tuple[int, int]:
    """(key groups, tasks per group) of the bucket or line-count phase."""
    if isinstance(stage, MinhashDedupStage):
        return stage.band_split()[0], stage.bucket_tasks_per_band
    if isinstance(stage, LineDedupStage):
        return 1, stage.count_tasks
    return 1, stage.bucket_tasks


def document_keys(stage: DedupStage) -> Callable[[str], np.ndarray]:
    """What the keys phase computes for one document: its MinHash signature, its line keys, or its text key."""
    if isinstance(stage, MinhashDedupStage):
        hasher = MinHasher(stage.num_perm, stage.seed)
        shingles = word_shingles if stage.shingle == "word" else char_shingles
        return lambda text: hasher.signature(shingles(text, stage.ngram))
    if isinstance(stage, LineDedupStage):
        return lambda text: document_line_keys(text, stage.min_line_chars, stage.normalize)
    return lambda text: exact_key(text, stage.normalize)


def exact_key(text: str, normalization: Normalization) -> np.ndarray:
    """The text's key, or no key (an empty array) when nothing is left of it after normalisation (blank
    pages, or under "aggressive" pages of only punctuation or emoji): those are not copies of one another."""
    compared = compared_text(text, normalization)
    return np.array([text_key(compared)] if compared.strip() else [], dtype=np.uint64)


class _DedupPhase(PipelineStep):
    type = "gristmill"

    def __init__(self, stage: DedupStage, docs_dir: Path, work_dir: Path):
        super().__init__()
        self.stage = stage
        self.docs_dir = docs_dir
        self.work = WorkFolder(work_dir)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.track_time(unit="task"):  # datatrove's stats.json of the job then has the phase's time
            self.run_task(rank)
        yield from ()

    def run_task(self, rank: int) -> None:
        raise NotImplementedError


class DedupKeysStep(_DedupPhase):
    name = "dedup keys"

    def __init__(self, stage: DedupStage, docs_dir: Path, work_dir: Path, progress_folder: Path):
        super().__init__(stage, docs_dir, work_dir)
        self.progress_folder = progress_folder

    def run_task(self, rank: int) -> None:
        files = document_files(self.docs_dir)
        if rank < len(files):
            self._keys_of(files[rank], rank, TaskProgress(self.progress_folder / f"task-{rank:05d}.json"))

    def _keys_of(self, path: Path, index: int, progress: TaskProgress) -> None:
        stage = self.stage
        texts_done = 0
        bytes_total = path.stat().st_size
        rows_total = max(pq.ParquetFile(path).metadata.num_rows, 1)
        per_document: list[np.ndarray] = []
        compute = document_keys(stage)
        for texts in text_batches(path):
            per_document.extend(compute(text) for text in texts)
            texts_done += len(texts)
            progress.update(bytes_total * texts_done // rows_total, texts_done)
        progress.update(bytes_total, texts_done, force=True)
        if isinstance(stage, LineDedupStage):
            save_array(self.work.line_keys(index), np.concatenate([np.empty(0, np.uint64), *per_document]))
            return
        if isinstance(stage, MinhashDedupStage):
            signatures = np.stack(per_document) if per_document else np.empty((0, stage.num_perm), np.uint32)
            rows = np.flatnonzero(~(signatures == EMPTY).all(axis=1)).astype(np.int32)  # no shingles, no key
            bands, rows_per_band = stage.band_split()
            if stage.verify:
                save_array(self.work.signatures(index), signatures)
            save_array(self.work.keys(index), band_keys(signatures[rows], bands, rows_per_band))
        else:
            rows = np.array([row for row, key in enumerate(per_document) if len(key)], dtype=np.int32)
            keys = np.concatenate([np.empty(0, np.uint64), *per_document]).reshape(1, -1)
            save_array(self.work.keys(index), keys)
        save_array(self.work.rows(index), rows)


class DedupBucketsStep(_DedupPhase):
    """Task t handles key group t // parts and the keys k with k % parts == t % parts."""

    name = "dedup buckets"

    def run_task(self, rank: int) -> None:
        _, parts = key_partitions(self.stage)
        band, part = divmod(rank, parts)
        files = document_files(self.docs_dir)
        offsets = file_offsets(files)
        keys, ids = [], []
        for index in range(len(files)):
            band_keys_of_file = load_array(self.work.keys(index), mmap=True)[band]
            rows = load_array(self.work.rows(index))
            mine = band_keys_of_file % np.uint64(parts) == part if parts > 1 else slice(None)
            keys.append(np.asarray(band_keys_of_file[mine]))
            ids.append(offsets[index] + rows[mine].astype(np.int64))
        empty_keys, empty_ids = np.empty(0, np.uint64), np.empty(0, np.int64)
        verified = isinstance(self.stage, MinhashDedupStage) and self.stage.verify
        first, member = bucket_edges(
            np.concatenate([empty_keys, *keys]), np.concatenate([empty_ids, *ids]), VERIFIED_ANCHORS if verified else 1
        )
        save_array(self.work.edges(band, part), np.stack([first, member]))


class LineCountStep(_DedupPhase):
    """Task t counts the line keys k with k % tasks == t, in how many documents each occurs."""

    name = "dedup line counts"

    def run_task(self, rank: int) -> None:
        assert isinstance(self.stage, LineDedupStage)
        parts = self.stage.count_tasks
        chunks = []
        for index in range(len(document_files(self.docs_dir))):
            keys = load_array(self.work.line_keys(index))
            chunks.append(keys[keys % np.uint64(parts) == rank] if parts > 1 else keys)
        values, counts = np.unique(np.concatenate([np.empty(0, np.uint64), *chunks]), return_counts=True)
        save_array(self.work.frequent(rank), values[counts > self.stage.max_documents])


class DedupClusterStep(_DedupPhase):
    """One task: all candidate pairs -> components -> per-file decisions and the cluster statistics."""

    name = "dedup cluster"

    def __init__(self, stage: DedupStage, docs_dir: Path, work_dir: Path, stats_file: Path):
        super().__init__(stage, docs_dir, work_dir)
        self.stats_file = stats_file

    def run_task(self, rank: int) -> None:
        started = time.perf_counter()
        memory = PeakMemory()
        tracemalloc.start()
        files = document_files(self.docs_dir)
        offsets = file_offsets(files)
        edge_arrays = [load_array(p) for p in sorted((self.work.root / "edges").glob("*.npy"))]
        edges = np.concatenate([np.empty((2, 0), np.int64), *edge_arrays], axis=1)
        raw_pairs = edges.shape[1]
        first, member = unique_edges(edges[0], edges[1])
        del edges, edge_arrays
        candidates = len(first)
        if isinstance(self.stage, MinhashDedupStage) and self.stage.verify:
            similar = self._estimated_jaccard(first, member, offsets) >= self.stage.threshold
            first, member = first[similar], member[similar]
        nodes, kept_of = component_minimum(first, member)
        self._write_decisions(files, offsets, nodes, kept_of)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        sizes = cluster_sizes(kept_of)
        write_json_atomic(
            self.stats_file,
            {
                "documents": int(offsets[-1]),
                "raw_pairs": int(raw_pairs),
                "candidate_pairs": int(candidates),
                "verified_pairs": len(first),
                "clusters": sum(sizes.values()),
                "documents_in_clusters": len(nodes),
                "removed": int(len(nodes) - sum(sizes.values())),
                "cluster_sizes": {str(size): count for size, count in sizes.items()},
                "seconds": round(time.perf_counter() - started, 3),
                "peak_rss_bytes": memory.peak_bytes(),
                "peak_rss_scope": memory.scope,
                "peak_traced_bytes": int(peak),  # numpy and Python objects; not Arrow's pool nor mapped pages
            },
        )

    def _estimated_jaccard(self, first: np.ndarray, member: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """The share of equal signature values of each pair (datasketch's `MinHash.jaccard`), in chunks."""
        signatures = [load_array(self.work.signatures(i), mmap=True) for i in range(len(offsets) - 1)]
        estimates = np.empty(len(first), dtype=np.float32)
        for start in range(0, len(first), VERIFY_CHUNK):
            stop = start + VERIFY_CHUNK
            left = _gather(signatures, offsets, first[start:stop])
            right = _gather(signatures, offsets, member[start:stop])
            estimates[start:stop] = (left == right).mean(axis=1)
        return estimates

    def _write_decisions(self, files: list[Path], offsets: np.ndarray, nodes: np.ndarray, kept_of: np.ndarray) -> None:
        clusters, cluster_index, members = np.unique(kept_of, return_inverse=True, return_counts=True)
        kept_ids = _ids_of(files, offsets, clusters)
        bounds = np.searchsorted(nodes, offsets)  # nodes ascend, so each file's nodes are one slice
        for index in range(len(files)):
            mine = slice(bounds[index], bounds[index + 1])
            is_kept = nodes[mine] == kept_of[mine]
            kept_id = pa.array(kept_ids[cluster_index[mine]], type=pa.string(), mask=is_kept)
            table = pa.table(
                {
                    "row": pa.array((nodes[mine] - offsets[index]).astype(np.int32)),
                    "cluster": pa.array(kept_of[mine]),
                    "cluster_size": pa.array(members[cluster_index[mine]].astype(np.int32)),
                    "kept_id": kept_id,
                }
            )
            write_table_atomic(self.work.decisions(index), table)


def _by_file(offsets: np.ndarray, gids: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(file index, positions in `gids`) for each file that holds some of the run-wide ids."""
    order = np.argsort(gids, kind="stable")
    bounds = np.searchsorted(gids[order], offsets)
    return [(i, order[bounds[i] : bounds[i + 1]]) for i in range(len(offsets) - 1) if bounds[i] < bounds[i + 1]]


def _gather(arrays: list[np.ndarray], offsets: np.ndarray, gids: np.ndarray) -> np.ndarray:
    """Rows of per-file arrays addressed by run-wide ids."""
    out = np.empty((len(gids), arrays[0].shape[1] if arrays else 0), dtype=np.uint32)
    for index, where in _by_file(offsets, gids):
        out[where] = arrays[index][gids[where] - offsets[index]]
    return out


def _ids_of(files: list[Path], offsets: np.ndarray, gids: np.ndarray) -> np.ndarray:
    """The `id` strings of documents given by run-wide id, reading only the id column of their files."""
    out = np.empty(len(gids), dtype=object)
    for index, where in _by_file(offsets, gids):
        ids = pq.read_table(files[index], columns=["id"]).column("id").to_numpy(zero_copy_only=False)
        out[where] = ids[gids[where] - offsets[index]]
    return out


def read_cluster_stats(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None
