"""A run as a sequence of datatrove jobs. Per-document stages run fused in one job; each dedup stage adds
its global phases and starts a new per-document job:

  repeats/scan|resolve    ids that occur twice in the input (when it carries ids; see `pipeline.steps.repeats`)
  ingest                  ingest -> filters -> documents for the next job (or the final shards)
  <dedup>/keys            one task per document file
  <dedup>/buckets|lines   one task per key partition
  <dedup>/cluster         one task (exact and MinHash dedup)
  <dedup>/apply           decisions -> filters that follow -> documents for the next job (or shards)
  shuffle/scatter|gather  with `shuffle = true` in the shard stage (see `pipeline.steps.shuffle`)

Each job has its folder under RUN/ for datatrove's completion markers, logs and progress files. Jobs are
built one at a time, after the previous one finished, because a job's task count is the number of files
the one before it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from datatrove.pipeline.base import PipelineStep

from pipeline.dedup.dataset import document_files
from pipeline.dedup.stages import DEDUP_STAGES, DedupStage, LineDedupStage, dedup_columns
from pipeline.filters.chain import FilterStage, stage_columns
from pipeline.filters.langid import LangIdStage
from pipeline.filters.scoring import SCORING_STAGES, ScoringStage
from pipeline.filters.urls import UrlFilterStage
from pipeline.prepared import PreparedRun
from pipeline.progress import progress_dir
from pipeline.recipe import Segment
from pipeline.steps.dedup import (
    DedupBucketsStep,
    DedupClusterStep,
    DedupKeysStep,
    LineCountStep,
    key_partitions,
)
from pipeline.steps.dedup_apply import DedupApplyStep
from pipeline.steps.filter import FilterStep
from pipeline.steps.ingest import IngestStep, reader_options
from pipeline.steps.rank import RankApplyStep, RankCutoffStep, RankScoresStep
from pipeline.steps.repeats import RepeatResolveStep, RepeatScanStep, RepeatsFolder, carries_ids
from pipeline.steps.shard import ShardStep
from pipeline.steps.shuffle import ShuffleGatherStep, ShuffleScatterStep, bucket_count
from pipeline.summary import load_stage_totals


@dataclass
class Job:
    name: str
    tasks: int
    steps: list[PipelineStep]
    total_bytes: int | None = None
    # the job after this one can be planned before this one ran (its task count does not depend on what this
    # one writes), so a Slurm run submits both at once, the next one waiting for this one with afterok
    plans_ahead: bool = False


def job_dir(run_dir: Path, job: str) -> Path:
    return run_dir / job


def docs_dir(run_dir: Path, job: str) -> Path:
    """Where a job that ends before a dedup stage leaves its kept documents."""
    return job_dir(run_dir, job) / "docs"


def cluster_stats_path(run_dir: Path, stage: str) -> Path:
    return run_dir / "stats" / stage / "clusters.json"


def columns_of(stage: FilterStage | DedupStage) -> tuple[pa.Field, ...]:
    return dedup_columns(stage) if isinstance(stage, DEDUP_STAGES) else stage_columns(stage)


def all_stage_columns(prepared: PreparedRun) -> list[pa.Field]:
    return [column for stage in prepared.recipe.stage[1:-1] for column in columns_of(stage)]  # type: ignore[arg-type]


def repeats_dir(prepared: PreparedRun) -> Path | None:
    """The repeat phases' folder (their two jobs and work/); None when the inputs carry no ids that could
    repeat, or when ingest finished before the check existed (a run folder of an earlier version)."""
    if not carries_ids(prepared.files, reader_options(prepared.recipe.ingest)):
        return None
    if all_tasks_done(prepared.run_dir, "ingest", len(prepared.plan)):
        return None
    return job_dir(prepared.run_dir, "repeats")


def all_tasks_done(run_dir: Path, job: str, tasks: int) -> bool:
    completions = job_dir(run_dir, job) / "completions"
    return all((completions / f"{task:05d}").exists() for task in range(tasks))


def intermediate_paths(prepared: PreparedRun) -> list[Path]:
    """What the jobs of a run pass on to each other (the repeat tables, a copy of the documents before each
    dedup stage, and the stage's arrays), which a complete run no longer needs."""
    run_dir, job = prepared.run_dir, "ingest"
    paths = [job_dir(run_dir, "repeats") / "work"]
    for segment in prepared.recipe.segments[1:]:
        assert segment.opener is not None
        paths += [docs_dir(run_dir, job), job_dir(run_dir, segment.opener.kind) / "work"]
        job = f"{segment.opener.kind}/apply"
    if prepared.recipe.shard.shuffle:
        paths += [docs_dir(run_dir, job), job_dir(run_dir, "shuffle") / "work"]
    return paths


def plan_jobs(prepared: PreparedRun) -> Iterator[Job]:
    """The jobs of a run in order; consume one, run it, and only then ask for the next."""
    recipe, run_dir = prepared.recipe, prepared.run_dir
    segments = recipe.segments
    columns: list[pa.Field] = []
    previous_job = ""
    route = any(isinstance(s, LangIdStage) and s.route for s in recipe.filter_stages)
    for number, segment in enumerate(segments):
        last = number == len(segments) - 1 and not recipe.shard.shuffle
        stages = [segment.opener] if segment.opener else []
        columns += [column for stage in [*stages, *segment.filters] for column in columns_of(stage)]
        if segment.opener is None:
            yield from _repeat_phases(prepared)
            job = "ingest"
            source, filters, tasks, total = _ingest_source(prepared, segment)
        else:
            documents, opener = docs_dir(run_dir, previous_job), segment.opener
            job, work = f"{opener.kind}/apply", job_dir(run_dir, opener.kind) / "work"
            files = document_files(documents)
            if isinstance(opener, SCORING_STAGES):
                yield from _rank_phases(prepared, opener, documents)
                source: PipelineStep = RankApplyStep(run_dir, opener, documents, work, progress_dir(run_dir, job))
            else:
                yield from _dedup_phases(prepared, opener, documents)
                source = DedupApplyStep(run_dir, opener, documents, work, progress_dir(run_dir, job))
            filters, tasks, total = segment.filters, max(len(files), 1), sum(f.stat().st_size for f in files)
        removed = ["ingest" if segment.opener is None else segment.opener.kind, *(f.kind for f in segment.filters)]
        sink = ShardStep(
            run_dir,
            recipe.shard,
            removed_stages=removed,
            stage_columns=list(columns),
            route_by_lang=last and route,
            intermediate=None if last else docs_dir(run_dir, job),
            removed_columns=all_stage_columns(prepared),
        )
        steps = [source, *([FilterStep(run_dir, filters)] if filters else []), sink]
        yield Job(job, tasks, steps, total)
        previous_job = job
    if recipe.shard.shuffle:
        yield from _shuffle_phases(prepared, docs_dir(run_dir, previous_job), columns, route)


def _shuffle_phases(prepared: PreparedRun, documents: Path, columns: list[pa.Field], route: bool) -> Iterator[Job]:
    run_dir, shard = prepared.run_dir, prepared.recipe.shard
    work = job_dir(run_dir, "shuffle") / "work"
    files = document_files(documents)
    text_bytes = load_stage_totals(run_dir, [prepared.recipe.stage[-2].kind])[0].bytes_out
    buckets = bucket_count(text_bytes, int(shard.shard_size))
    scatter = ShuffleScatterStep(documents, work, buckets, shard.shuffle_seed)
    yield Job("shuffle/scatter", max(len(files), 1), [scatter], sum(f.stat().st_size for f in files))
    sink = ShardStep(
        run_dir,
        shard,
        removed_stages=[],
        stage_columns=columns,
        route_by_lang=route,
        removed_columns=all_stage_columns(prepared),
    )
    yield Job("shuffle/gather", buckets, [ShuffleGatherStep(work), sink])


def _ingest_source(prepared: PreparedRun, segment: Segment) -> tuple[PipelineStep, list[FilterStage], int, int | None]:
    """Ingest, with a URL filter placed right after it run inside (before HTML extraction)."""
    filters = segment.filters
    url_first = filters[0] if filters and isinstance(filters[0], UrlFilterStage) else None
    ingest = IngestStep(
        prepared.run_dir,
        "ingest",
        prepared.recipe.ingest,
        prepared.files,
        prepared.plan,
        prepared.limits,
        url_filter=url_first,
        repeats_dir=repeats_dir(prepared),
    )
    total = sum(f.size or 0 for f in prepared.files) or None
    return ingest, filters[1:] if url_first else filters, len(prepared.plan), total


def _repeat_phases(prepared: PreparedRun) -> Iterator[Job]:
    work = repeats_dir(prepared)
    if work is None:
        return
    RepeatsFolder(work).forget_if_work_lost()
    run_dir, options = prepared.run_dir, reader_options(prepared.recipe.ingest)
    progress = progress_dir(run_dir, "repeats/scan")
    scan = RepeatScanStep(prepared.files, prepared.plan, prepared.limits, options, work, progress)
    total = sum(f.size or 0 for f in prepared.files) or None
    yield Job("repeats/scan", len(prepared.plan), [scan], total, plans_ahead=True)
    resolve = RepeatResolveStep(len(prepared.files), len(prepared.plan), work)
    yield Job("repeats/resolve", 1, [resolve], plans_ahead=True)


def _rank_phases(prepared: PreparedRun, stage: ScoringStage, documents: Path) -> Iterator[Job]:
    run_dir = prepared.run_dir
    work = job_dir(run_dir, stage.kind) / "work"
    files = document_files(documents)
    scores_job = f"{stage.kind}/scores"
    scores = RankScoresStep(stage, documents, work, progress_dir(run_dir, scores_job))
    yield Job(scores_job, max(len(files), 1), [scores], sum(f.stat().st_size for f in files))
    cutoff = RankCutoffStep(stage, documents, work, run_dir / "stats" / stage.kind / "rank.json")
    yield Job(f"{stage.kind}/cutoff", 1, [cutoff])


def _dedup_phases(prepared: PreparedRun, stage: DedupStage, documents: Path) -> Iterator[Job]:
    run_dir = prepared.run_dir
    work = job_dir(run_dir, stage.kind) / "work"
    files = document_files(documents)
    tasks = max(len(files), 1)
    keys_job = f"{stage.kind}/keys"
    keys = DedupKeysStep(stage, documents, work, progress_dir(run_dir, keys_job))
    yield Job(keys_job, tasks, [keys], sum(f.stat().st_size for f in files))
    groups, parts = key_partitions(stage)
    if isinstance(stage, LineDedupStage):
        yield Job(f"{stage.kind}/lines", parts, [LineCountStep(stage, documents, work)])
        return
    yield Job(f"{stage.kind}/buckets", groups * parts, [DedupBucketsStep(stage, documents, work)])
    cluster = DedupClusterStep(stage, documents, work, cluster_stats_path(run_dir, stage.kind))
    yield Job(f"{stage.kind}/cluster", 1, [cluster])
