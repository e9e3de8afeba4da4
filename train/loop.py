"""The training loop of `gristmill train`: batches from packed shards, AdamW (or Muon + AdamW), a schedule,
gradient accumulation and clipping, bf16 autocast on CUDA, optional `torch.compile`, validation loss and bits
per byte, checkpoints that resume exactly, and the figures a user watches (see `train.tracking`).

Under `torchrun` (WORLD_SIZE > 1) it runs data parallel: DDP by default, FSDP2 with `run.parallel = "fsdp"`;
NCCL on GPU, gloo on CPU. Each rank reads its own windows (`train.data.Batches`), accumulation is
global_batch / (micro_batch x world size) and the gradient all-reduce happens once per step, so one process
and N processes at the same global batch take the same steps. Rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from rich.console import Console

from gristmill_base.errors import UserError
from model.config import preset
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.files import fingerprint, is_tokenizer
from train import checkpoint
from train.config import TrainConfig
from train.data import Batches, TokenStream
from train.eval.during_training import TrainingEvaluation
from train.evaluate import Evaluator, token_bytes, unigram_entropy
from train.optim import Optimizers, build_optimizers
from train.parallel import World, all_sum, full_state, gradient_sync, join_world, leave_world, load_full_state, wrap
from train.schedule import Schedule
from train.tracking import MetricSinks, Throughput, console_line, duration, peak_flops, summary


def build_model(config: TrainConfig, vocab_size: int) -> GPT:
    kernels = config.model.kernels
    if kernels == "auto" and config.run.compile and torch.cuda.is_available():
        kernels = "triton-ce"  # inductor fuses the elementwise operations itself; the fused loss keeps its memory
    try:
        model_config = preset(config.model.preset, vocab_size=vocab_size, seq_len=config.data.seq_len,
                              kernels=kernels, **config.model.overrides)  # fmt: skip
        return GPT(model_config)
    except (TypeError, ValueError) as error:
        raise UserError(f"model: {error}") from None


def packed_tokenizer(config: TrainConfig, manifest: dict[str, Any], console: Console) -> str | None:
    """The folder of the tokenizer the data was packed with, checked to be that tokenizer (sha256 of
    tokenizer.json against the pack manifest); None, with a note, where it cannot be found."""
    explicit = config.data.tokenizer is not None
    folder = config.data.tokenizer or manifest.get("tokenizer")
    if folder is None or not is_tokenizer(folder):
        if explicit:
            raise UserError(f"data.tokenizer: {folder} is not a tokenizer (a folder with tokenizer.json, "
                            "a tokenizer.json, a .tiktoken file or GPT-2's vocab.json)")  # fmt: skip
        console.print("[yellow]note:[/] val bits per byte left out: set data.tokenizer to the tokenizer folder "
                      f"{config.data.path} was packed with")  # fmt: skip
        return None
    sha = fingerprint(folder)
    if sha != manifest["tokenizer_sha256"]:
        raise UserError(f"data.tokenizer: {folder} is not the tokenizer {config.data.path} was packed with "
                        f"(sha256 {sha[:12]}…, the pack manifest says "
                        f"{manifest['tokenizer_sha256'][:12]}…)")  # fmt: skip
    return str(Path(folder).resolve())


def _autocast(world: World, config: TrainConfig) -> AbstractContextManager:
    bf16 = config.run.dtype == "bf16" or (config.run.dtype == "auto" and world.device.type == "cuda")
    return torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=bf16)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(array))  # batches are views; pinned memory wants whole rows
    return tensor.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else tensor


def _grad_norm(model: torch.nn.Module, clip: float) -> float:
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip or math.inf)
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # a DTensor under FSDP


def _resume(output: Path, model: GPT, optimizers: Optimizers, batches: Batches, fingerprint: dict[str, Any],
            console: Console) -> int:  # fmt: skip
    """The step to start from: that of the latest checkpoint in `output`, restored into model, optimizers and
    data position; 0 when there is none."""
    folder = checkpoint.latest(output)
    if folder is None:
        console.print(f"[yellow]note:[/] --resume: no checkpoint in {output} yet; starting at step 0")
        return 0
    try:
        loaded = checkpoint.load(folder)
        if loaded.config.get("tokenizer_sha256") != fingerprint["tokenizer_sha256"]:
            raise ValueError("trained on data packed with another tokenizer")
        saved, ours = loaded.config.get("model", {}), fingerprint["model"]
        differs = sorted(k for k in ours if k != "kernels" and saved.get(k) != ours[k])
        if differs:
            raise ValueError(
                f"trained with another model: {', '.join(f'{k} {saved.get(k)} != {ours[k]}' for k in differs)}"
            )
        load_full_state(model, optimizers, loaded.weights, loaded.optimizer)
        batches.load_state_dict(loaded.state["data"])
    except ValueError as error:
        raise UserError(f"--resume: {folder}: {error}") from None
    console.print(f"resumed from {folder} at step {loaded.step}")
    return loaded.step


def run_training(config: TrainConfig, resume: bool = False, console: Console | None = None) -> list[dict[str, Any]]:
    world = join_world()
    try:
        return _train(config, resume, world, console or Console(quiet=not world.main))
    finally:
        leave_world(world)


def _train(config: TrainConfig, resume: bool, world: World, console: Console) -> list[dict[str, Any]]:
    manifest = json.loads((Path(config.data.path) / "manifest.json").read_text())
    output = Path(config.run.output)
    data, run = config.data, config.run
    accumulation, remainder = divmod(data.global_batch, data.micro_batch * world.size)
    if remainder or not accumulation:
        raise UserError(f"data.global_batch {data.global_batch} is not a multiple of micro_batch x world size "
                        f"({data.micro_batch} x {world.size})")  # fmt: skip
    tokenizer = packed_tokenizer(config, manifest, console)
    byte_counts = token_bytes(Tokenizer.load(tokenizer)) if tokenizer else None
    torch.manual_seed(run.seed)
    model = build_model(config, manifest["vocab_size"]).to(world.device)
    model.activation_checkpointing = run.activation_checkpointing
    sharded = run.parallel == "fsdp" and world.size > 1
    if run.parallel == "fsdp" and not sharded:
        console.print("[yellow]note:[/] run.parallel = 'fsdp' with one process: nothing to shard, running unsharded")
    wrapped = wrap(model, world, run.parallel)
    optimizers = build_optimizers(model, config.optim, sharded)
    trained = torch.compile(wrapped) if run.compile else wrapped
    try:
        train_stream = TokenStream(data.path, "train")
        batches = Batches(train_stream, data.seq_len, data.micro_batch, rank=world.rank, world_size=world.size,
                          seed=run.seed)  # fmt: skip
    except (ValueError, KeyError) as error:
        raise UserError(f"data.path: {data.path}: {error}") from None
    fingerprint = {"tokenizer_sha256": manifest["tokenizer_sha256"], "tokenizer": tokenizer,
                   "eos_id": manifest["eos_id"], "model": model.config.to_dict()}  # fmt: skip
    start = _resume(output, model, optimizers, batches, fingerprint, console) if resume else 0
    output.mkdir(parents=True, exist_ok=True)
    evaluator = Evaluator(data.path, data.seq_len, data.micro_batch, run.eval_sequences, world, byte_counts)
    extra_eval = _training_evaluation(config, model, tokenizer, manifest, world, sharded)
    schedule = Schedule(config.optim.schedule, 1.0, run.steps, config.optim.warmup, config.optim.min_ratio)
    tokens_per_step = data.global_batch * data.seq_len
    peak = peak_flops(world.device, run.peak_tflops)  # of one device: the world's is size times that
    throughput = Throughput(tokens_per_step, model.config.flops_per_token(data.seq_len),
                            peak * world.size if peak else None, run.steps)  # fmt: skip
    sinks = MetricSinks(output, run.report_to, run.wandb_project, config.model_dump(), world.main, start)
    console.print(
        f"training {model.parameter_count():,} parameters on {world.size} x {world.device.type} "
        f"({'fsdp' if sharded else 'ddp' if world.size > 1 else 'one process'}), kernels {model.ops.name}, "
        f"{tokens_per_step:,} tokens per step ({accumulation} accumulated micro-batches per rank), "
        f"steps {start + 1}..{run.steps}"
    )
    records: list[dict[str, Any]] = []
    stream = iter(batches)
    started = time.perf_counter()
    for step in range(start, run.steps):
        optimizers.set_schedule_factor(schedule(step))
        loss_sum = torch.zeros((), device=world.device)
        for micro in range(accumulation):
            batch = next(stream)
            inputs, targets = _to_device(batch.inputs, world.device), _to_device(batch.targets, world.device)
            with gradient_sync(wrapped, micro == accumulation - 1):
                with _autocast(world, config):
                    loss = trained(inputs, targets) / accumulation
                loss.backward()
            loss_sum += loss.detach()
        grad_norm = _grad_norm(model, config.optim.grad_clip)
        optimizers.step()
        optimizers.zero_grad()
        record = {"step": step + 1, "loss": all_sum([loss_sum.item()], world)[0] / world.size,
                  "lr": optimizers.adamw_lr, "grad_norm": grad_norm}  # fmt: skip
        throughput.start_after(step + 1)
        done = step + 1 == run.steps
        if (run.eval_every and (step + 1) % run.eval_every == 0) or done:
            began = time.perf_counter()
            record.update(evaluator(model, _autocast(world, config)))
            throughput.exclude(time.perf_counter() - began)
        every = config.eval.every or run.eval_every
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
            _save(output, step + 1, model, optimizers, fingerprint, batches, world, sharded, run.keep_last)
            throughput.exclude(time.perf_counter() - began)
    sinks.close()
    if records:
        baseline = unigram_entropy(train_stream, model.config.vocab_size)
        _summarise(console, records, throughput, time.perf_counter() - started, output, model, tokens_per_step,
                   baseline)  # fmt: skip
    return records


def _training_evaluation(config: TrainConfig, model: GPT, tokenizer: str | None, manifest: dict[str, Any],
                         world: World, sharded: bool) -> TrainingEvaluation | None:  # fmt: skip
    """`[eval]`'s sets and tasks, read once; None when it names none."""
    if not config.eval.sets and not config.eval.tasks:
        return None
    bf16 = config.run.dtype == "bf16" or (config.run.dtype == "auto" and world.device.type == "cuda")
    return TrainingEvaluation(config.eval, model, tokenizer, manifest["eos_id"], world.device, bf16, sharded)


def _save(output: Path, step: int, model: GPT, optimizers: Optimizers, fingerprint: dict[str, Any],
          batches: Batches, world: World, sharded: bool, keep_last: int) -> None:  # fmt: skip
    """Rank 0 writes; under FSDP every rank takes part in gathering the whole tensors first."""
    if world.main or sharded:
        weights, optimizer = full_state(model, optimizers)
        if world.main:  # ranks share the data position: the same step count of the same per-rank order
            checkpoint.save(output, step, weights, optimizer, fingerprint, {"data": batches.state_dict()}, keep_last)
    if world.size > 1:
        dist.barrier()


def _summarise(console: Console, records: list[dict[str, Any]], throughput: Throughput, seconds: float,
               output: Path, model: GPT, tokens_per_step: int, unigram: float) -> None:  # fmt: skip
    last = records[-1]
    evaluated = [r for r in records if "val_loss" in r]
    tokens = len(records) * tokens_per_step
    facts = [
        ("steps", f"{records[0]['step']}..{last['step']} ({tokens:,} tokens) in {duration(seconds)}"),
        ("model", f"{model.parameter_count():,} parameters, {model.config.flops_per_token():,} FLOPs per token"),
        ("loss", f"{records[0]['loss']:.4f} -> {last['loss']:.4f}"),
    ]
    if evaluated:
        bpb = f", {evaluated[-1]['val_bpb']:.4f} bits per byte" if "val_bpb" in evaluated[-1] else ""
        facts.append(("validation", f"{evaluated[-1]['val_loss']:.4f} nats per token{bpb}"))
    facts.append(("baseline", f"{unigram:.4f} nats per token, the unigram entropy of the train split"))
    if (mean := throughput.mean_tokens_per_s()) is not None:
        mfu = f", MFU {100 * mean * throughput.flops_per_token / throughput.peak:.1f}%" if throughput.peak else ""
        facts.append(("throughput", f"{mean:,.0f} tokens/s after the first step{mfu}"))
    facts.append(("checkpoint", str(checkpoint.latest(output) or "none")))
    facts.append(("metrics", str(output / "metrics.jsonl")))
    summary(console, facts)
