"""The optimisation loop every training command shares: pretraining (`train.loop`), supervised fine-tuning and
DPO (`train.finetune`). A `Job` says what is trained on and how a micro-batch's loss is computed; this module
does the rest the same way for all: DDP / FSDP2, AdamW or Muon, the schedule, gradient accumulation and
clipping, bf16 autocast on CUDA, `torch.compile`, evaluation, metrics (console, JSONL, TensorBoard, W&B),
throughput and MFU, checkpoints that resume exactly, and the closing summary.
"""

from __future__ import annotations

import math
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
from train.config import EvalSection, OptimSection, RunSection
from train.eval.during_training import TrainingEvaluation
from train.optim import Optimizers, build_optimizers
from train.parallel import World, all_sum, full_state, gradient_sync, load_full_state, wrap
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
    fingerprint: dict[str, Any]  # written into every checkpoint's config.json; checked on resume
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


def _resume(output: Path, job: Job, optimizers: Optimizers, console: Console) -> int:
    """The step to start from: that of the latest checkpoint in `output`, restored into model, optimizers and
    data position; 0 when there is none."""
    folder = checkpoint.latest(output)
    if folder is None:
        console.print(f"[yellow]note:[/] --resume: no checkpoint in {output} yet; starting at step 0")
        return 0
    try:
        loaded = checkpoint.load(folder)
        if loaded.config.get("job", "pretraining") != job.name:
            raise ValueError(f"a checkpoint of {loaded.config.get('job', 'pretraining')}, not of {job.name}")
        if loaded.config.get("tokenizer_sha256") != job.fingerprint["tokenizer_sha256"]:
            raise ValueError("trained on data made with another tokenizer")
        for key in sorted(set(job.fingerprint) - {"tokenizer", "tokenizer_sha256", "model"}):
            if loaded.config.get(key) != job.fingerprint[key]:
                raise ValueError(f"{key}: {loaded.config.get(key)} there, {job.fingerprint[key]} in this run")
        saved, ours = loaded.config.get("model", {}), job.fingerprint["model"]
        differs = sorted(k for k in ours if k != "kernels" and saved.get(k) != ours[k])
        if differs:
            raise ValueError(
                f"trained with another model: {', '.join(f'{k} {saved.get(k)} != {ours[k]}' for k in differs)}"
            )
        load_full_state(job.model, optimizers, loaded.weights, loaded.optimizer)
        job.loader.load_state_dict(loaded.state["data"])
    except ValueError as error:
        raise UserError(f"--resume: {folder}: {error}") from None
    console.print(f"resumed from {folder} at step {loaded.step}")
    return loaded.step


def fit(job: Job, optim: OptimSection, run: RunSection, evaluation: EvalSection, world: World, accumulation: int,
        resume: bool, console: Console, config_dump: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
    """Train `job.model` for `run.steps` optimizer steps of `accumulation` micro-batches per rank."""
    model = job.model
    model.activation_checkpointing = run.activation_checkpointing
    sharded = run.parallel == "fsdp" and world.size > 1
    if run.parallel == "fsdp" and not sharded:
        console.print("[yellow]note:[/] run.parallel = 'fsdp' with one process: nothing to shard, running unsharded")
    wrapped = wrap(model, world, run.parallel)
    optimizers = build_optimizers(model, optim, sharded)
    trained = torch.compile(wrapped) if run.compile else wrapped
    output = Path(run.output)
    fingerprint = {**job.fingerprint, "job": job.name}
    start = _resume(output, job, optimizers, console) if resume else 0
    output.mkdir(parents=True, exist_ok=True)
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
        sinks.write(record)
        records.append(record)
        if (run.checkpoint_every and (step + 1) % run.checkpoint_every == 0) or done:
            began = time.perf_counter()
            _save(output, step + 1, job, optimizers, fingerprint, world, sharded, run.keep_last)
            throughput.exclude(time.perf_counter() - began)
    sinks.close()
    if records:
        _summarise(console, job, records, throughput, time.perf_counter() - started, output, fed)
    return records


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


def _save(output: Path, step: int, job: Job, optimizers: Optimizers, fingerprint: dict[str, Any], world: World,
          sharded: bool, keep_last: int) -> None:  # fmt: skip
    """Rank 0 writes; under FSDP every rank takes part in gathering the whole tensors first."""
    if world.main or sharded:
        weights, optimizer = full_state(job.model, optimizers)
        if world.main:  # ranks share the data position: the same step count of the same per-rank order
            state = {"data": job.loader.state_dict()}
            checkpoint.save(output, step, weights, optimizer, fingerprint, state, keep_last)
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
