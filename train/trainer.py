"""The optimisation loop every training command shares: pretraining (`train.loop`), supervised fine-tuning and
DPO (`train.finetune`). A `Job` says what is trained on and how a micro-batch's loss is computed; this module
does the rest the same way for all: DDP / FSDP2, AdamW or Muon, the schedule, gradient accumulation and
clipping, bf16 autocast on CUDA, `torch.compile`, evaluation, metrics (console, JSONL, TensorBoard, W&B),
throughput and MFU, checkpoints that resume exactly, and the closing summary.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console

from gristmill_base.errors import UserError
from model.gpt import GPT
from train import checkpoint
from train.agreement import agreed
from train.config import EvalSection, OptimSection, RunSection
from train.eval.during_training import TrainingEvaluation
from train.optim import Optimizers, build_optimizers
from train.parallel import World, all_sum, full_state, gradient_sync, load_full_state, wrap
from train.rerun import START_OVER, Continuation, Expected, claim, resumed
from train.schedule import Schedule
from train.tracking import MetricSinks, Throughput, console_line, duration, peak_flops, summary


class Loader(Protocol):
    """Batches forever from a saved position; the position is what a checkpoint keeps."""

    def __iter__(self) -> Iterator[Any]: ...
    def state_dict(self) -> dict[str, int]: ...
    def load_state_dict(self, state: dict[str, int]) -> None: ...


class Job(Protocol):
    """What one kind of training trains, on what, and how a micro-batch's loss is computed."""

    name: str  # "pretraining", "sft", "dpo": in checkpoints, so a resume cannot mix them
    model: GPT
    loader: Loader
    fingerprint: dict[str, Any]  # written into every checkpoint's config.json; checked by a rerun
    batch_description: str  # what one optimizer step takes, for the start line, e.g. "8 windows of 256 tokens"
    tokenizer: str | None  # for [eval] sets and tasks
    eos_id: int | None

    def weight(self, batch: Any) -> float:
        """How many terms the micro-batch's mean loss averages (tokens learned, pairs): a step's loss is the
        mean over all its terms, whatever micro-batch and rank they fell in."""
        ...

    def tokens(self, batch: Any) -> int:
        """The tokens the micro-batch really feeds (padding not counted): throughput and MFU count these."""
        ...

    def loss(self, trained: Callable[..., torch.Tensor], batch: Any, device: torch.device,
             autocast: AbstractContextManager) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        """The mean loss of a micro-batch (with grad) and figures to report, as (sum, count) tensors."""
        ...

    def evaluate(self, model: GPT, autocast: AbstractContextManager) -> dict[str, float]: ...
    def summary(self, records: list[dict[str, Any]]) -> list[tuple[str, str]]: ...


def bf16_for(world: World, run: RunSection) -> bool:
    return run.dtype == "bf16" or (run.dtype == "auto" and world.device.type == "cuda")


def autocast_for(world: World, run: RunSection) -> AbstractContextManager:
    return torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=bf16_for(world, run))


def to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))  # batches are views; pinned memory wants whole rows
    return tensor.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else tensor


def _grad_norm(model: torch.nn.Module, clip: float) -> float:
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip or math.inf)
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # a DTensor under FSDP


def _restore(rerun: Continuation, job: Job, optimizers: Optimizers) -> int:
    """The step to start from: that of the checkpoint `rerun` continues, restored into model, optimizers and data
    position; 0 when there is none. Whatever fails here is one line: the file names itself where it can."""
    if rerun.checkpoint is None:
        return 0
    try:
        loaded = checkpoint.load(rerun.checkpoint)
        load_full_state(job.model, optimizers, loaded.weights, loaded.optimizer)
        job.loader.load_state_dict(loaded.state["data"])
    except ValueError as error:
        raise UserError(f"{rerun.checkpoint}: {error}; {START_OVER}") from None
    except (LookupError, TypeError, RuntimeError, OSError) as error:
        raise UserError(f"{rerun.checkpoint}: cannot be restored ({type(error).__name__}: {error}); "
                        f"{START_OVER}") from None  # fmt: skip
    return loaded.step


def _schedule_note(rerun: Continuation, optim: OptimSection, run: RunSection, console: Console) -> None:
    """A run continued with another run.steps follows the schedule of the new length from where it is: say by how
    much the learning rate moves."""
    if rerun.planned_steps in (None, run.steps):
        return
    old, new = (Schedule(optim.schedule, optim.lr, total, optim.warmup, optim.min_ratio)(rerun.step)
                for total in (rerun.planned_steps, run.steps))  # fmt: skip
    console.print(f"[yellow]note:[/] run.steps {rerun.planned_steps} -> {run.steps}: the {optim.schedule} schedule "
                  f"now spans {run.steps} steps; step {rerun.step + 1} takes learning rate {new:.3g} "
                  f"({old:.3g} in the run of {rerun.planned_steps} steps)")  # fmt: skip


def fit(job: Job, optim: OptimSection, run: RunSection, evaluation: EvalSection, world: World, accumulation: int,
        rerun: Continuation, console: Console, config_dump: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """Train `job.model` for `run.steps` optimizer steps of `accumulation` micro-batches per rank, continuing
    after `rerun.step` (`train.rerun.continuation`); the records of the steps taken."""
    if rerun.finished:
        return []
    model = job.model
    model.activation_checkpointing = run.activation_checkpointing
    sharded = run.parallel == "fsdp" and world.size > 1
    if run.parallel == "fsdp" and not sharded:
        console.print("[yellow]note:[/] run.parallel = 'fsdp' with one process: nothing to shard, running unsharded")
    wrapped = wrap(model, world, run.parallel)
    optimizers = build_optimizers(model, optim, sharded)
    trained = torch.compile(wrapped) if run.compile else wrapped
    output = Path(run.output)
    start = agreed(lambda: _restore(rerun, job, optimizers), world, str(rerun.checkpoint))
    if world.main:  # only now: a refused or failed restore leaves metrics.jsonl whole
        resumed(output, rerun, run.steps, console)
    _schedule_note(rerun, optim, run, console)
    autocast = autocast_for(world, run)
    extra_eval = _training_evaluation(evaluation, run, job, world, sharded)
    schedule = Schedule(optim.schedule, 1.0, run.steps, optim.warmup, optim.min_ratio)
    peak = peak_flops(world.device, run.peak_tflops)  # of one device: the world's is size times that
    seq_len = model.config.seq_len
    throughput = Throughput(model.config.flops_per_token(seq_len), peak * world.size if peak else None, run.steps)
    sinks = MetricSinks(output, run.report_to, run.wandb_project, config_dump, world.main, start)
    console.print(
        f"{job.name}: {model.parameter_count():,} parameters on {world.size} x {world.device.type} "
        f"({'fsdp' if sharded else 'ddp' if world.size > 1 else 'one process'}), kernels {model.ops.name}, "
        f"{job.batch_description} per step ({accumulation} accumulated micro-batches per rank), "
        f"steps {start + 1}..{run.steps}"
    )
    records: list[dict[str, Any]] = []
    fed = 0  # tokens, over all ranks
    stream = iter(job.loader)
    started = time.perf_counter()
    try:
        for step in range(start, run.steps):
            optimizers.set_schedule_factor(schedule(step))
            loss_sum = torch.zeros((), device=world.device)
            figures: dict[str, torch.Tensor] = {}
            batches = [next(stream) for _ in range(accumulation)]
            weights = [job.weight(batch) for batch in batches]
            total, tokens = all_sum([float(sum(weights)), float(sum(map(job.tokens, batches)))], world)
            total = total or 1.0
            for micro, (batch, weight) in enumerate(zip(batches, weights, strict=True)):
                share = weight / total  # of the step's loss terms over all ranks; DDP averages over ranks
                with gradient_sync(wrapped, micro == accumulation - 1):
                    loss, reported = job.loss(trained, batch, world.device, autocast)
                    (loss * (share * world.size)).backward()
                loss_sum += loss.detach() * share
                for key, value in reported.items():
                    figures[key] = figures.get(key, 0) + value.detach().double()
            grad_norm = _grad_norm(model, optim.grad_clip)
            optimizers.step()
            optimizers.zero_grad()
            keys = sorted(figures)  # one collective for the loss and every figure
            summed = all_sum([loss_sum.item(), *(float(x) for key in keys for x in figures[key].tolist())], world)
            record = {"step": step + 1, "loss": summed[0], "lr": optimizers.adamw_lr, "grad_norm": grad_norm}
            record.update(_ratios(keys, summed[1:]))
            throughput.count(step + 1, int(tokens))
            fed += int(tokens)
            done = step + 1 == run.steps
            if (run.eval_every and (step + 1) % run.eval_every == 0) or done:
                began = time.perf_counter()
                record.update(job.evaluate(model, autocast))
                throughput.exclude(time.perf_counter() - began)
            every = evaluation.every or run.eval_every
            if extra_eval and ((every and (step + 1) % every == 0) or done):
                began = time.perf_counter()
                record.update(extra_eval() if world.main else {})
                if world.size > 1:
                    dist.barrier()
                throughput.exclude(time.perf_counter() - began)
            if (step + 1) % run.log_every == 0 or done:
                record.update(throughput.report(step + 1))
                console.print(console_line(record, run.steps), soft_wrap=True)
            records.append(record)
            sinks.write(record)
            if (run.checkpoint_every and (step + 1) % run.checkpoint_every == 0) or done:
                began = time.perf_counter()
                sinks.flush()  # what the checkpoint backs is on disk before it
                _save(run, step + 1, job, optimizers, world, sharded)
                throughput.exclude(time.perf_counter() - began)
    except KeyboardInterrupt:  # Ctrl-C: say where it stopped; the command line says what to type (gristmill.cli)
        ignore_further_interrupts()
        sinks.close()
        raise KeyboardInterrupt(_stopped(records[-1]["step"] if records else start, run.steps, output)) from None
    sinks.close()
    if records:
        _summarise(console, job, records, throughput, time.perf_counter() - started, output, fed)
    return records


def ignore_further_interrupts() -> None:
    """Once a Ctrl-C stops training, ignore the next ones: under torchrun a worker gets the terminal's SIGINT and
    then torchrun's, and a second KeyboardInterrupt would cut the stop short (metrics closed, the folder and the
    process group let go) and replace the line that says where it stopped. `gristmill.cli.main` puts back the
    handler it started with once it has said so."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stopped(step: int, steps: int, output: Path) -> str:
    last = checkpoint.latest(output)
    where = f"the last complete checkpoint is {last}" if last else "no checkpoint yet: a rerun starts at step 1"
    return f"after step {step} of {steps}; {where}"


def claim_output(job_name: str, fingerprint: dict[str, Any], inputs: dict[str, str | None], run: RunSection,
                 restart: bool, world: World, console: Console) -> AbstractContextManager[Continuation]:  # fmt: skip
    """`with claim_output(...) as rerun:` holds `run.output` for the command that trains `job_name` and says where
    the run starts (`train.rerun.claim`), from the job's config alone: decided before the job is built."""
    command = "gristmill train" if job_name == "pretraining" else f"gristmill finetune {job_name}"
    expected = Expected(_identity(job_name, fingerprint), run.steps, run.seed, inputs)
    return claim(Path(run.output), expected, restart, world, console, command)


def _identity(job_name: str, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint's config.json records of the run, and a rerun checks: the job and its inputs."""
    return {**fingerprint, "job": job_name}


def _ratios(keys: list[str], sums: list[float]) -> dict[str, float]:
    """Each reported figure, summed as a (sum, count) pair over micro-batches and ranks, as sum / count."""
    return {key: sums[2 * i] / sums[2 * i + 1] for i, key in enumerate(keys) if sums[2 * i + 1]}


def _training_evaluation(evaluation: EvalSection, run: RunSection, job: Job, world: World,
                         sharded: bool) -> Callable[[], dict[str, float]] | None:  # fmt: skip
    """`[eval]`'s sets and tasks, read once; None when it names none."""
    if not evaluation.sets and not evaluation.tasks:
        return None
    bf16 = bf16_for(world, run)
    return TrainingEvaluation(evaluation, job.model, job.tokenizer, job.eos_id, world.device, bf16, sharded)


def _save(run: RunSection, step: int, job: Job, optimizers: Optimizers, world: World, sharded: bool) -> None:
    """Rank 0 writes; under FSDP every rank takes part in gathering the whole tensors first. `run_steps`: the
    length of the schedule the run followed, for a rerun with another run.steps to say what changes."""
    if world.main or sharded:
        weights, optimizer = full_state(job.model, optimizers)
        if world.main:  # ranks share the data position: the same step count of the same per-rank order
            state = {"data": job.loader.state_dict(), "run_steps": run.steps}
            identity = _identity(job.name, job.fingerprint)
            checkpoint.save(Path(run.output), step, weights, optimizer, identity, state, run.keep_last)
    if world.size > 1:
        dist.barrier()


def _summarise(console: Console, job: Job, records: list[dict[str, Any]], throughput: Throughput, seconds: float,
               output: Path, tokens: int) -> None:  # fmt: skip
    last, model = records[-1], job.model
    facts = [
        ("steps", f"{records[0]['step']}..{last['step']} ({tokens:,} tokens) in {duration(seconds)}"),
        ("model", f"{model.parameter_count():,} parameters, {model.config.flops_per_token():,} FLOPs per token"),
        ("loss", f"{records[0]['loss']:.4f} -> {last['loss']:.4f}"),
        *job.summary(records),
    ]
    if (mean := throughput.mean_tokens_per_s()) is not None:
        mfu = f", MFU {100 * mean * throughput.flops_per_token / throughput.peak:.1f}%" if throughput.peak else ""
        facts.append(("throughput", f"{mean:,.0f} tokens/s after the first step{mfu}"))
    facts.append(("checkpoint", str(checkpoint.latest(output) or "none")))
    facts.append(("metrics", str(output / "metrics.jsonl")))
    summary(console, facts, "gristmill train" if job.name == "pretraining" else f"gristmill finetune {job.name}")
