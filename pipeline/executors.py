"""Build the datatrove executor named by the recipe's [executor] table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor, SlurmPipelineExecutor
from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.stats import PipelineStats

from gristmill_base.errors import UserError
from gristmill_base.lifetime import ProcessIdentity, children_die_with_this_process, die_with
from pipeline.recipe import ExecutorSection, RayOptions


class BoundLocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor whose processes die with the command that runs it, however it dies: its
    workers come from a fork server (their parent is the fork server, which lives while they do), and with
    the command killed alone they lived on, holding its Manager, the run folder and their task's files."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.command = ProcessIdentity.current()

    def run(self) -> Any:
        with children_die_with_this_process():  # the Manager datatrove forks, what tasks run here fork
            return super().run()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> PipelineStats:
        die_with(self.command)  # in a worker (a no-op where the command runs the task itself)
        with children_die_with_this_process():  # what the task forks dies with the worker
            return super()._run_for_rank(rank, local_rank, node_rank)


def build_executor(
    section: ExecutorSection,
    pipeline: list[PipelineStep],
    tasks: int,
    logging_dir: Path,
    after_slurm_job: str | None = None,
) -> PipelineExecutor:
    """A real datatrove executor; `logging_dir` holds its completion markers, logs and raw stats. On Slurm,
    `after_slurm_job` is a submitted job this one starts after (once it ended well)."""
    if section.kind == "local":
        return BoundLocalExecutor(
            pipeline, tasks=tasks, workers=min(section.workers, tasks), logging_dir=str(logging_dir)
        )
    if section.kind == "slurm":
        slurm = section.slurm
        assert slurm is not None, "load_recipe requires [executor.slurm] for kind = 'slurm'"
        return SlurmPipelineExecutor(
            pipeline,
            tasks=tasks,
            # the array's %limit: none unless asked for, not the core count of the login node
            workers=section.workers if "workers" in section.model_fields_set else -1,
            time=slurm.time,
            partition=slurm.partition,
            cpus_per_task=slurm.cpus_per_task,
            mem_per_cpu_gb=slurm.mem_per_cpu_gb,
            job_name=slurm.job_name,
            qos=slurm.qos,
            env_command=slurm.env_command,
            venv_path=slurm.venv_path,
            sbatch_args={"mem-per-cpu": slurm_memory(slurm.mem_per_cpu_gb), **slurm.sbatch_args},
            max_array_size=slurm.max_array_size,
            with_srun=slurm.with_srun,
            logging_dir=str(logging_dir),
            depends_job_id=after_slurm_job,
        )
    return _ray_executor(section, pipeline, tasks, logging_dir)


def slurm_memory(gb: float) -> str:
    """A `--mem-per-cpu` value sbatch accepts: datatrove writes f"{gb}G", and sbatch rejects "2.0G"."""
    return f"{int(gb)}G" if float(gb).is_integer() else f"{math.ceil(gb * 1024)}M"


def _ray_executor(
    section: ExecutorSection, pipeline: list[PipelineStep], tasks: int, logging_dir: Path
) -> PipelineExecutor:
    try:
        import ray
        from datatrove.executor.ray import RayPipelineExecutor
    except ImportError:
        raise UserError("executor.kind = 'ray' needs the ray extra: pip install 'gristmill[ray]'") from None
    options = section.ray or RayOptions()
    if not ray.is_initialized():
        if options.address:
            try:
                ray.init(address=options.address, log_to_driver=False)
            except Exception as error:  # ray raises ConnectionError, RuntimeError, ... for a bad address
                message = (
                    f"executor.ray.address: cannot connect to {options.address!r} ({type(error).__name__}: {error})"
                )
                raise UserError(message) from None
        else:
            # every task reserves cpus_per_task CPUs; fewer in the local Ray and no task is ever placed
            cpus = section.workers * options.cpus_per_task
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    _check_ray_can_place(ray.cluster_resources(), options)
    return RayPipelineExecutor(
        pipeline,
        tasks=tasks,
        workers=min(section.workers, tasks),
        logging_dir=str(logging_dir),
        cpus_per_task=options.cpus_per_task,
        mem_per_cpu_gb=options.mem_per_cpu_gb,
        time=options.timeout_s,
    )


def _check_ray_can_place(resources: dict[str, float], options: RayOptions) -> None:
    """A task Ray cannot place waits forever without a word; say so before submitting instead."""
    need_memory = options.cpus_per_task * options.mem_per_cpu_gb * 2**30
    if options.cpus_per_task > resources.get("CPU", 0):
        raise UserError(
            f"executor.ray.cpus_per_task: {options.cpus_per_task} CPUs per task, "
            f"but the Ray cluster has {resources.get('CPU', 0):g}"
        )
    if need_memory > resources.get("memory", 0):
        raise UserError(
            f"executor.ray.mem_per_cpu_gb: a task needs {need_memory / 2**30:g} GiB, "
            f"but the Ray cluster offers {resources.get('memory', 0) / 2**30:.1f} GiB"
        )
