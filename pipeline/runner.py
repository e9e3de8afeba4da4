"""`gristmill run`: resolve a recipe, check the run folder, run its jobs in order on the executor, summarise.

A run folder belongs to one resolved recipe and one set of inputs. Running the same command again
resumes it: datatrove skips tasks whose completion marker exists, and an unfinished task deletes
what its earlier attempt wrote before it starts again, so a run killed at any moment ends with
exactly the documents of an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
from rich.console import Console

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from gristmill_base.errors import UserError
from gristmill_base.folder_lock import hold_folder
from gristmill_base.version import __version__
from pipeline.classifier.model import model_fingerprint
from pipeline.executors import build_executor
from pipeline.filters.scoring import SCORING_STAGES
from pipeline.filters.urls import UrlFilterStage
from pipeline.jobs import all_stage_columns, cluster_stats_path, intermediate_paths, job_dir, plan_jobs
from pipeline.manifest import write_manifest
from pipeline.prepared import PreparedRun
from pipeline.progress import ProgressWatcher
from pipeline.recipe import URL_LIST_FIELDS
from pipeline.schema import document_schema
from pipeline.steps.dedup import read_cluster_stats
from pipeline.steps.repeats import renamed_note
from pipeline.steps.shard import shards_dir
from pipeline.summary import load_stage_totals, print_empty_inputs, print_summary, save_summary

IGNORED_ON_RESUME = {
    ("gristmill",),
    ("executor", "workers"),
    ("run", "keep_intermediate"),
    ("run", "output"),  # where the run folder is, not what it holds (and --output overrides it)
    ("run", "allow_empty_inputs"),
}
EXIT_EMPTY_INPUTS = 3  # complete, but an input file yielded no document (1: tasks failed; 2: bad request)


@dataclass
class RunResult:
    run_dir: Path
    complete: bool
    manifest: dict[str, Any] | None
    failed_tasks: list[int]
    empty_inputs: dict[str, str] = field(default_factory=dict)  # input file -> what it held, when no document
    allow_empty_inputs: bool = False

    @property
    def exit_status(self) -> int:
        """The command's exit status: 0 for a complete run (or one submitted to Slurm)."""
        if self.failed_tasks:
            return 1
        return EXIT_EMPTY_INPUTS if self.empty_inputs and not self.allow_empty_inputs else 0


def resolved_recipe(prepared: PreparedRun) -> dict[str, Any]:
    data = _without_none(prepared.recipe.model_dump(mode="json"))  # switched-off rules dump as false, not None
    data["gristmill"] = {"version": __version__, "recipe_file": str(prepared.recipe_path.resolve())}
    return data


def _without_none(data: Any) -> Any:
    """TOML has no null: drop unset optional keys (after serialisation, so `false` thresholds stay)."""
    if isinstance(data, dict):
        return {key: _without_none(value) for key, value in data.items() if value is not None}
    if isinstance(data, list):
        return [_without_none(value) for value in data]
    return data


def _inputs_record(prepared: PreparedRun) -> dict[str, Any]:
    """Input files, the task plan, the contents of list files the stages read (URL blocklists) and the
    classifier models' fingerprints: changing one between attempts would otherwise treat some tasks the old way."""
    lists = {
        path: hashlib.sha256(Path(path).read_bytes()).hexdigest()
        for stage in prepared.recipe.filter_stages
        if isinstance(stage, UrlFilterStage)
        for name in URL_LIST_FIELDS
        for path in getattr(stage, name)
    }
    record = {"files": [asdict(f) for f in prepared.files], "plan": prepared.plan, "lists": lists}
    models = {
        stage.model: model_fingerprint(stage.model)
        for stage in prepared.recipe.filter_stages
        if isinstance(stage, SCORING_STAGES)
    }
    return record | ({"models": models} if models else {})


def check_run_dir(prepared: PreparedRun) -> None:
    """Refuse to mix two different runs in one folder; the same run resumes."""
    recipe_file = prepared.run_dir / "recipe.toml"
    if not recipe_file.exists():
        return
    before = _flatten(tomllib.loads(recipe_file.read_text(encoding="utf-8")))
    now = _flatten(resolved_recipe(prepared))
    for key in sorted(set(before) | set(now)):
        if any(key[: len(ignored)] == ignored for ignored in IGNORED_ON_RESUME):
            continue
        if before.get(key) != now.get(key):
            raise UserError(
                f"{prepared.run_dir} holds a run of a different recipe ({'.'.join(map(str, key))}: "
                f"{before.get(key)!r} there, {now.get(key)!r} now); choose another --output or delete it"
            )
    inputs_file = prepared.run_dir / "inputs.json"
    if inputs_file.exists() and json.loads(inputs_file.read_text()) != _inputs_record(prepared):
        raise UserError(
            f"{prepared.run_dir} was run on different input files or list files (or they changed since); "
            "choose another --output or delete it"
        )


def _flatten(data: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    if isinstance(data, dict):
        out: dict[tuple, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, (*prefix, key)))
        return out
    if isinstance(data, list) and data and all(isinstance(v, dict) for v in data):
        out = {}
        for index, value in enumerate(data):
            out.update(_flatten(value, (*prefix, index)))
        return out
    return {prefix: data}


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send fd 2 (datatrove's and the workers' log lines) to a file while the progress bar owns the screen."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def run_dir_lock(run_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One `gristmill run` per run folder at a time; how, and why a killed run never blocks its rerun:
    gristmill_base.folder_lock."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--output {run_dir}: exists and is not a folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    return hold_folder(run_dir, "gristmill run", "choose another --output")


def execute(prepared: PreparedRun, console: Console) -> RunResult:
    with run_dir_lock(prepared.run_dir):
        return _execute_locked(prepared, console)


def _total_wall_seconds(run_dir: Path, seconds: float, tasks_run: int) -> float:
    """Wall time of every invocation that ran tasks, so a resumed run reports the time it took in all."""
    attempts = run_dir / "stats" / "attempts.jsonl"
    attempts.parent.mkdir(parents=True, exist_ok=True)
    with open(attempts, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"ended": time.time(), "wall_seconds": seconds, "tasks_run": tasks_run}) + "\n")
    lines = [json.loads(line) for line in attempts.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sum(a["wall_seconds"] for a in lines if a["tasks_run"]) or seconds


def _execute_locked(prepared: PreparedRun, console: Console) -> RunResult:
    check_run_dir(prepared)
    run_dir = prepared.run_dir
    recipe_text = tomli_w.dumps(resolved_recipe(prepared))
    write_text_atomic(run_dir / "recipe.toml", recipe_text)
    write_json_atomic(run_dir / "inputs.json", _inputs_record(prepared))

    labels = [stage.kind for stage in prepared.recipe.stage]  # stage kinds are unique in a recipe
    log_path = run_dir / "logs" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.log"
    started = time.perf_counter()
    tasks_run = 0
    submitted: list[str] = []  # Slurm jobs submitted by this invocation, each after the one before
    for job in plan_jobs(prepared):
        completions = job_dir(run_dir, job.name) / "completions"
        pending = [t for t in range(job.tasks) if not (completions / f"{t:05d}").exists()]
        tasks_run += len(pending)
        error: BaseException | None = None
        if pending:
            with ProgressWatcher(run_dir, job.name, job.total_bytes, job.tasks, console), stderr_to(log_path):
                after = submitted[-1] if submitted else None
                executor = build_executor(
                    prepared.recipe.executor, job.steps, job.tasks, job_dir(run_dir, job.name), after
                )
                try:
                    executor.run()
                except Exception as raised:  # a task failed; report it below, the run can be resumed
                    error = raised
        failed = [t for t in range(job.tasks) if not (completions / f"{t:05d}").exists()]
        if not failed:
            continue
        if prepared.recipe.executor.kind == "slurm" and error is None:
            job_id = str(getattr(executor, "job_id", "?"))
            waits = f", after job {submitted[-1]}" if submitted else ""
            console.print(
                f"submitted {len(failed)} of {job.tasks} tasks of job {job.name} to Slurm as job {job_id}{waits} "
                f"(launch script and logs in {job_dir(run_dir, job.name)})"
            )
            submitted.append(job_id)
            if job.plans_ahead:
                continue
            break
        _total_wall_seconds(run_dir, time.perf_counter() - started, tasks_run)
        reason = f" ({type(error).__name__}: {error})" if error else ""
        # jobs this invocation submitted before the failure would run (or wait forever) beside a resubmission
        cancel = f"scancel {' '.join(submitted)}, then run" if submitted else "Run"
        console.print(
            f"[red]{len(failed)} of {job.tasks} tasks of job {job.name} did not finish{reason}; see "
            f"{job_dir(run_dir, job.name) / 'logs'} and {log_path}. {cancel} the same command again to resume."
        )
        return RunResult(run_dir, False, None, failed)
    if submitted:
        _total_wall_seconds(run_dir, time.perf_counter() - started, tasks_run)
        console.print(
            "watch them with squeue; run the same command again after they finish: it goes on with the next job."
        )
        return RunResult(run_dir, False, None, [])
    wall = _total_wall_seconds(run_dir, time.perf_counter() - started, tasks_run)
    totals = load_stage_totals(run_dir, labels)
    schema = document_schema(all_stage_columns(prepared))
    shard = prepared.recipe.shard
    seed = shard.shuffle_seed if shard.shuffle else None
    manifest = write_manifest(shards_dir(run_dir), prepared.files, recipe_text, schema, seed)
    clusters = {
        stage.kind: read_cluster_stats(cluster_stats_path(run_dir, stage.kind))
        for stage in prepared.recipe.stage
        if stage.kind in ("exact_dedup", "minhash_dedup")
    }
    save_summary(run_dir, totals, wall)
    if not prepared.recipe.run.keep_intermediate:
        for path in intermediate_paths(prepared):
            shutil.rmtree(path, ignore_errors=True)
    print_summary(console, run_dir, totals, manifest, wall, clusters)
    if note := renamed_note(run_dir):
        console.print(note)
    allowed = prepared.recipe.run.allow_empty_inputs
    result = RunResult(run_dir, True, manifest, [], totals[0].empty_inputs, allowed)
    print_empty_inputs(console, result.empty_inputs, None if allowed else result.exit_status)
    return result
