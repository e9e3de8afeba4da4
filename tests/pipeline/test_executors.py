"""The real datatrove executors built from a recipe's [executor] table, run end to end through the runner.

Slurm runs against a fake single-node Slurm (`sbatch`, `srun`, `scontrol` scripts on PATH): `sbatch` keeps
each submitted script and runs it, array index by array index, in a detached process once the test
"releases" the cluster, so submission and execution are as separate as on a real cluster.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from crawl_factory import multilingual_entries, write_warc
from rich.console import Console

from gristmill_base.errors import UserError
from pipeline.prepared import prepare_run
from pipeline.runner import RunResult, execute

DOCS_PER_FILE = 12


def write_recipe(path: Path, inputs: list[Path], executor: str) -> Path:
    listed = ", ".join(json.dumps(str(p)) for p in inputs)
    path.write_text(
        f"[executor]\n{executor}\n\n"
        f'[[stage]]\nkind = "ingest"\ninputs = [{listed}]\n\n'
        f'[[stage]]\nkind = "shard"\nshard_size = "20kB"\nrow_group_size = "8kB"\n'
    )
    return path


def run(recipe: Path, output: Path) -> tuple[RunResult, str]:
    screen = io.StringIO()
    result = execute(prepare_run(recipe, output=output), Console(file=screen, width=200))
    return result, screen.getvalue()


def kept(run_dir: Path) -> list[tuple[str, str]]:
    """(id, text) of every document in the run's shards, sorted."""
    rows = []
    for path in sorted((run_dir / "shards").glob("part-*.parquet")):
        table = pq.read_table(path, columns=["id", "text"])
        rows.extend(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
    return sorted(rows)


@pytest.fixture
def crawl(tmp_path: Path) -> list[Path]:
    """Three WARC.gz files: three tasks, so two workers really run tasks side by side."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    return [
        write_warc(folder / f"{name}.warc.gz", multilingual_entries(DOCS_PER_FILE, f"http://{name}.example/p"))
        for name in "abc"
    ]


def test_local_one_and_two_workers_keep_the_same_documents(tmp_path: Path, crawl: list[Path]):
    results = {}
    for workers in (1, 2):
        recipe = write_recipe(tmp_path / f"w{workers}.toml", crawl, f'kind = "local"\nworkers = {workers}')
        result, _ = run(recipe, tmp_path / f"run-{workers}")
        assert result.complete and not result.failed_tasks
        assert result.manifest["documents"] == 3 * DOCS_PER_FILE
        results[workers] = kept(tmp_path / f"run-{workers}")
    assert len(results[1]) == 3 * DOCS_PER_FILE
    assert len({doc_id for doc_id, _ in results[1]}) == 3 * DOCS_PER_FILE
    assert results[1] == results[2]


# --- a fake single-node Slurm ------------------------------------------------------------------------------

FAKE_SBATCH = r'''#!{python}
"""Fake sbatch: keep the script, print the job id, run the job later in a detached process.

A job runs once FAKE_SLURM_DIR/release exists and its dependencies are done; each index of
--array runs in turn, with the variables Slurm sets and --export's extra variables.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ["FAKE_SLURM_DIR"])
JOBS = STATE / "jobs"
WAIT_S = 300


def submit(argv):
    options, script = argv[:-1], Path(argv[-1])
    text = script.read_text()  # datatrove deletes this temp file as soon as sbatch returns
    JOBS.mkdir(parents=True, exist_ok=True)
    job_id = str(1000 + len(list(JOBS.glob("*.json"))))
    if job_id == os.environ.get("FAKE_SBATCH_REFUSE"):
        sys.exit("sbatch: error: Batch job submission failed: QOSMaxSubmitJobPerUserLimit")
    (JOBS / f"{job_id}.sh").write_text(text)
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", text, re.M))
    for option in options:
        key, _, value = option.lstrip("-").partition("=")
        directives[key] = value
    (JOBS / f"{job_id}.json").write_text(json.dumps({"argv": argv, "directives": directives}))
    runner = subprocess.Popen(
        [sys.executable, __file__, "--fake-run", job_id],
        cwd=os.getcwd(),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (JOBS / f"{job_id}.pid").write_text(str(runner.pid))
    print(f"Submitted batch job {job_id}")


def finish(job_id, state, codes=()):
    tmp = JOBS / f".{job_id}.done"
    tmp.write_text(json.dumps({"state": state, "codes": list(codes)}))
    tmp.rename(JOBS / f"{job_id}.done")


def run_job(job_id):
    directives = json.loads((JOBS / f"{job_id}.json").read_text())["directives"]
    deps = re.findall(r"(afterok|afterany):(\d+)", directives.get("dependency", ""))
    deadline = time.monotonic() + WAIT_S
    while not ((STATE / "release").exists() and all((JOBS / f"{d}.done").exists() for _, d in deps)):
        if time.monotonic() > deadline:
            return finish(job_id, "TIMEOUT")
        time.sleep(0.1)
    for kind, dep in deps:
        if kind == "afterok" and json.loads((JOBS / f"{dep}.done").read_text())["state"] != "COMPLETED":
            return finish(job_id, "CANCELLED")  # DependencyNeverSatisfied
    env = dict(os.environ)
    for item in directives.get("export", "ALL").split(",")[1:]:
        key, _, value = item.partition("=")
        env[key] = value
    env.update(
        SLURM_JOB_ID=job_id,
        SLURM_ARRAY_JOB_ID=job_id,
        SLURM_JOB_NAME=directives.get("job-name", ""),
        SLURM_NODELIST="localhost",
        SLURM_NODEID="0",
        SLURM_CPUS_PER_TASK=directives.get("cpus-per-task", "1"),
    )
    first, last = re.fullmatch(r"(\d+)-(\d+)(?:%\d+)?", directives["array"]).groups()
    codes = []
    for index in range(int(first), int(last) + 1):
        env["SLURM_ARRAY_TASK_ID"] = str(index)
        log = directives.get("output", "slurm-%A_%a.out").replace("%A", job_id).replace("%a", str(index))
        with open(log, "ab") as out:
            command = ["bash", str(JOBS / f"{job_id}.sh")]
            codes.append(subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out).returncode)
    finish(job_id, "FAILED" if any(codes) else "COMPLETED", codes)


if sys.argv[1:2] == ["--fake-run"]:
    run_job(sys.argv[2])
else:
    submit(sys.argv[1:])
'''

FAKE_SRUN = r"""#!/bin/bash
# Fake srun: note the call, drop srun's own options and run the command here.
echo "$*" >> "$FAKE_SLURM_DIR/srun.log"
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -n|-N|-c) shift 2 ;;
    *) shift ;;
  esac
done
exec "$@"
"""

FAKE_SCONTROL = r"""#!/bin/bash
# Fake scontrol: a one-node cluster; `show hostnames LIST` prints LIST, anything else is ignored.
if [[ $1 == show && $2 == hostnames ]]; then echo "$3"; fi
"""


class FakeSlurm:
    def __init__(self, state: Path):
        self.state = state
        self.jobs_dir = state / "jobs"

    def jobs(self) -> dict[str, dict]:
        """Submitted jobs by id: sbatch's argv and the effective #SBATCH directives."""
        return {p.stem: json.loads(p.read_text()) for p in sorted(self.jobs_dir.glob("*.json"))}

    def release(self) -> None:
        (self.state / "release").touch()

    def wait(self, timeout: float = 240) -> dict[str, str]:
        """Block until every submitted job ended; returns its final state by job id."""
        deadline = time.monotonic() + timeout
        while not all((self.jobs_dir / f"{job}.done").exists() for job in self.jobs()):
            assert time.monotonic() < deadline, f"fake Slurm jobs still running after {timeout} s"
            time.sleep(0.1)
        return {job: json.loads((self.jobs_dir / f"{job}.done").read_text())["state"] for job in self.jobs()}

    def srun_calls(self) -> list[str]:
        log = self.state / "srun.log"
        return log.read_text().splitlines() if log.exists() else []

    def kill_unfinished(self) -> None:
        for pid_file in self.jobs_dir.glob("*.pid"):
            if not (self.jobs_dir / f"{pid_file.stem}.done").exists():
                with contextlib.suppress(ProcessLookupError):  # its own session: the job and its processes
                    os.killpg(int(pid_file.read_text()), signal.SIGKILL)


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlurm]:
    bin_dir = tmp_path / "fake-slurm-bin"
    bin_dir.mkdir()
    scripts = {"sbatch": FAKE_SBATCH.replace("{python}", sys.executable), "srun": FAKE_SRUN, "scontrol": FAKE_SCONTROL}
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(stat.S_IRWXU)
    # the interpreter's own bin folder first: datatrove's console scripts, not a pyenv shim or another Python's
    path = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("FAKE_SLURM_DIR", str(tmp_path / "fake-slurm"))
    monkeypatch.chdir(tmp_path)  # jobs run in the submission folder, as under Slurm
    for script in ("launch_pickled_pipeline", "merge_stats"):
        if shutil.which(script) is None:
            pytest.skip(f"datatrove's `{script}` console script is not on PATH")
    slurm = FakeSlurm(tmp_path / "fake-slurm")
    yield slurm
    slurm.kill_unfinished()


def slurm_recipe(tmp_path: Path, inputs: list[Path], with_srun: bool) -> Path:
    executor = (
        'kind = "slurm"\nworkers = 2\n\n[executor.slurm]\npartition = "cpu-test"\ntime = "00:30:00"\n'
        f'cpus_per_task = 3\nmem_per_cpu_gb = 1.5\njob_name = "gm-test"\nwith_srun = {str(with_srun).lower()}'
    )
    return write_recipe(tmp_path / "slurm.toml", inputs, executor)


@pytest.mark.parametrize("with_srun", [False, True], ids=["plain", "srun"])
def test_slurm_submits_an_array_job_that_writes_every_document(
    tmp_path: Path, crawl: list[Path], fake_slurm: FakeSlurm, with_srun: bool
):
    run_dir = tmp_path / "run"
    result, screen = run(slurm_recipe(tmp_path, crawl, with_srun), run_dir)
    assert not result.complete and result.manifest is None
    assert "slurm" in screen.lower()  # says where the work went, not a summary of work not done yet

    script = (run_dir / "ingest" / "launch_script.slurm").read_text()
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", script, re.M))
    assert directives["partition"] == "cpu-test"
    assert directives["cpus-per-task"] == "3"
    assert directives["time"] == "00:30:00"
    assert directives["job-name"] == "gm-test"
    assert directives["array"] == "0-2%2"  # one array index per task, `workers` at a time
    # sbatch accepts only an integer with an optional K/M/G/T suffix ("1.5G" is rejected)
    assert re.fullmatch(r"\d+[KMGT]?", directives["mem-per-cpu"]), directives["mem-per-cpu"]
    assert directives["mem-per-cpu"] == "1536M"
    command = script.strip().splitlines()[-1]
    assert command.startswith("srun ") == with_srun
    assert command.endswith(f"launch_pickled_pipeline {run_dir / 'ingest' / 'executor.pik'}")

    # one invocation submits the repeat check's two jobs and ingest, each array after the one before
    jobs = list(fake_slurm.jobs().items())
    assert len(jobs) == 6
    (scan_id, _), _, (resolve_id, resolve_job), _, (array_id, array_job), (merge_id, merge_job) = jobs
    assert resolve_job["directives"]["dependency"] == f"afterok:{scan_id}"
    assert array_job["directives"]["dependency"] == f"afterok:{resolve_id}"
    assert array_job["argv"][0] == "--export=ALL,RUN_OFFSET=0"
    assert merge_job["directives"]["dependency"] == f"afterok:{array_id}"
    assert "merge_stats" in (fake_slurm.jobs_dir / f"{merge_id}.sh").read_text()
    assert not (run_dir / "ingest" / "completions").exists(), "tasks ran before the cluster started them"

    fake_slurm.release()
    assert set(fake_slurm.wait().values()) == {"COMPLETED"}
    assert sorted(p.name for p in (run_dir / "ingest" / "completions").iterdir()) == ["00000", "00001", "00002"]
    assert sorted(p.name for p in (run_dir / "ingest" / "slurm_logs").iterdir()) == [
        f"{array_id}_0.out",
        f"{array_id}_1.out",
        f"{array_id}_2.out",
        f"{merge_id}_0.out",
    ]
    assert (run_dir / "ingest" / "stats.json").exists()  # written by the merge_stats job
    assert len(fake_slurm.srun_calls()) == (3 + 1 + 3 if with_srun else 0)  # scan, resolve and ingest tasks
    documents = kept(run_dir)
    assert len(documents) == len({doc_id for doc_id, _ in documents}) == 3 * DOCS_PER_FILE


def test_slurm_rerun_after_the_jobs_finish_writes_the_manifest(
    tmp_path: Path, crawl: list[Path], fake_slurm: FakeSlurm
):
    run_dir = tmp_path / "run"
    recipe = slurm_recipe(tmp_path, crawl, with_srun=False)
    first, _ = run(recipe, run_dir)
    assert not first.complete
    fake_slurm.release()
    assert set(fake_slurm.wait().values()) == {"COMPLETED"}
    submitted = len(fake_slurm.jobs())

    result, screen = run(recipe, run_dir)
    assert len(fake_slurm.jobs()) == submitted, "the rerun submitted the finished tasks again"
    assert result.complete, screen
    assert result.manifest["documents"] == 3 * DOCS_PER_FILE
    assert json.loads((run_dir / "shards" / "manifest.json").read_text())["documents"] == 3 * DOCS_PER_FILE
    assert len(kept(run_dir)) == 3 * DOCS_PER_FILE


def test_slurm_submission_refused_part_way_says_which_jobs_to_cancel(
    tmp_path: Path, crawl: list[Path], fake_slurm: FakeSlurm, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FAKE_SBATCH_REFUSE", "1004")  # the ingest array, after scan, resolve and their merges
    result, screen = run(slurm_recipe(tmp_path, crawl, with_srun=False), tmp_path / "run")
    assert not result.complete
    assert "tasks of job ingest did not finish (CalledProcessError: Command '['sbatch'" in screen
    assert "scancel 1000 1002, then run the same command again" in " ".join(screen.split())


@pytest.mark.slow
def test_slurm_runs_a_dedup_recipe_one_job_per_invocation(tmp_path: Path, crawl: list[Path], fake_slurm: FakeSlurm):
    """Each `gristmill run` submits the next unfinished job (ingest, then the dedup phases) and returns; the
    run that finds them all done writes the manifest, with the documents a local run keeps."""
    dedup = '[[stage]]\nkind = "minhash_dedup"\nbucket_tasks_per_band = 2\n\n[[stage]]\nkind = "shard"'
    recipe = slurm_recipe(tmp_path, crawl + crawl[:1], with_srun=False)  # the first file twice: copies
    recipe.write_text(recipe.read_text().replace('[[stage]]\nkind = "shard"', dedup))
    jobs_seen = []
    for _ in range(6):
        result, screen = run(recipe, tmp_path / "run")
        if result.complete:
            break
        jobs_seen.append(re.findall(r"tasks of job (\S+) to Slurm", screen))
        fake_slurm.release()
        assert set(fake_slurm.wait().values()) == {"COMPLETED"}
    assert result.complete, screen
    assert jobs_seen == [
        ["repeats/scan", "repeats/resolve", "ingest"],  # planned without each other's output: submitted together
        ["minhash_dedup/keys"],
        ["minhash_dedup/buckets"],
        ["minhash_dedup/cluster"],
        ["minhash_dedup/apply"],
    ]
    local = recipe.read_text().replace('kind = "slurm"', 'kind = "local"')
    local = re.sub(r"\[executor.slurm\].*?\n\n", "", local, flags=re.S)
    (tmp_path / "local.toml").write_text(local)
    local_result, _ = run(tmp_path / "local.toml", tmp_path / "local-run")
    assert kept(tmp_path / "run") == kept(tmp_path / "local-run")
    assert result.manifest["documents"] == local_result.manifest["documents"] == len(kept(tmp_path / "run"))
    assert len(kept(tmp_path / "run")) < 3 * DOCS_PER_FILE  # at least the copies of the first file went


# --- Ray ---------------------------------------------------------------------------------------------------


@pytest.fixture
def local_ray() -> Iterator[object]:
    try:
        import ray
    except ImportError as error:
        pytest.skip(f"Ray is not installed (pip install 'gristmill[ray]'): {error}")
    if ray.is_initialized():
        ray.shutdown()  # our code must start its own local Ray with num_cpus = workers
    yield ray
    ray.shutdown()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(180)  # an unplaceable Ray task waits forever
@pytest.mark.parametrize(
    ("executor", "cpus"),
    [
        ('kind = "ray"\nworkers = 2', 2),
        ('kind = "ray"\nworkers = 1\n\n[executor.ray]\ncpus_per_task = 2', 2),
    ],
    ids=["default", "two-cpus-per-task"],
)
def test_ray_local_cluster_runs_every_task(tmp_path: Path, crawl: list[Path], local_ray, executor: str, cpus: int):
    recipe = write_recipe(tmp_path / "ray.toml", crawl, executor)
    started = time.perf_counter()
    result, screen = run(recipe, tmp_path / "run")
    elapsed = time.perf_counter() - started
    assert local_ray.is_initialized()
    assert local_ray.cluster_resources().get("CPU") == cpus
    assert result.complete, screen
    assert result.manifest["documents"] == 3 * DOCS_PER_FILE
    documents = kept(tmp_path / "run")
    assert len(documents) == len({doc_id for doc_id, _ in documents}) == 3 * DOCS_PER_FILE
    print(f"ray run: {elapsed:.1f} s")


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ray_task_that_cannot_be_placed_is_a_clear_error_not_a_hang(tmp_path: Path, crawl: list[Path], local_ray):
    recipe = write_recipe(
        tmp_path / "ray.toml", crawl, 'kind = "ray"\nworkers = 1\n\n[executor.ray]\nmem_per_cpu_gb = 4096'
    )
    with pytest.raises(UserError, match=r"executor.ray.mem_per_cpu_gb: a task needs 4096 GiB"):
        run(recipe, tmp_path / "run")
