"""The training loop of `gristmill train`: batches from packed shards, AdamW with decoupled weight decay on
matrices only, a schedule, gradient accumulation and clipping, validation loss, checkpoints that resume
exactly, a JSONL log.

Under `torchrun` (WORLD_SIZE > 1) it runs DDP: gloo on CPU, NCCL on GPU. Each rank reads its own windows
(`train.data.Batches`), accumulation is global_batch / (micro_batch x world size), DDP averages the
gradients, so one process and N processes at the same global batch take the same steps. Rank 0 logs and
writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from rich.console import Console
from torch.nn.parallel import DistributedDataParallel

from gristmill.errors import UserError
from model.config import preset
from model.gpt import GPT
from train import checkpoint
from train.config import TrainConfig
from train.data import Batches, TokenStream
from train.schedule import Schedule


def build_model(config: TrainConfig, vocab_size: int) -> GPT:
    try:
        model_config = preset(config.model.preset, vocab_size=vocab_size, seq_len=config.data.seq_len,
                              kernels=config.model.kernels, **config.model.overrides)  # fmt: skip
    except (TypeError, ValueError) as error:
        raise UserError(f"model: {error}") from None
    return GPT(model_config)


def optimizer_for(model: GPT, config: TrainConfig) -> torch.optim.AdamW:
    """Weight decay on matrices (linears, embedding), none on norm weights."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.optim.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.optim.lr, betas=config.optim.betas)


def _distributed() -> tuple[int, int]:
    """(rank, world size), joining the torchrun group when there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def run_training(config: TrainConfig, resume: bool = False, console: Console | None = None) -> list[dict[str, Any]]:
    rank, world = _distributed()
    console = console or Console(quiet=rank != 0)
    manifest = json.loads((Path(config.data.path) / "manifest.json").read_text())
    output = Path(config.run.output)
    accumulation, remainder = divmod(config.data.global_batch, config.data.micro_batch * world)
    if remainder or not accumulation:
        raise UserError(
            f"data.global_batch {config.data.global_batch} is not a multiple of micro_batch x world size "
            f"({config.data.micro_batch} x {world})"
        )
    torch.manual_seed(config.run.seed)
    model = build_model(config, manifest["vocab_size"])
    optimizer = optimizer_for(model, config)
    train_batches = Batches(TokenStream(config.data.path, "train"), config.data.seq_len, config.data.micro_batch,
                            rank=rank, world_size=world, seed=config.run.seed)  # fmt: skip
    schedule = Schedule(config.optim.schedule, config.optim.lr, config.run.steps, config.optim.warmup,
                        config.optim.min_ratio)  # fmt: skip
    fingerprint = {"tokenizer_sha256": manifest["tokenizer_sha256"], "model": dataclasses.asdict(model.config)}
    start = 0
    if resume and (folder := checkpoint.latest(output)) is not None:
        try:
            loaded = checkpoint.load(folder, model, optimizer)
        except ValueError as error:
            raise UserError(str(error)) from None
        if loaded.config.get("tokenizer_sha256") != manifest["tokenizer_sha256"]:
            raise UserError(f"{folder}: trained with another tokenizer than {config.data.path} was packed with")
        train_batches.load_state_dict(loaded.state["data"])
        start = loaded.step
        console.print(f"resumed from {folder} at step {start}")
    output.mkdir(parents=True, exist_ok=True)
    metrics_path = output / "metrics.jsonl"
    records: list[dict[str, Any]] = []
    batches = iter(train_batches)
    trained = DistributedDataParallel(model) if world > 1 else model
    tokens_per_step = config.data.global_batch * config.data.seq_len
    started = time.perf_counter()
    for step in range(start, config.run.steps):
        lr = schedule(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_sum = 0.0
        for _ in range(accumulation):
            batch = next(batches)
            loss = trained(torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)) / accumulation
            loss.backward()
            loss_sum += loss.item()
        if world > 1:  # the step's loss over all ranks, for the log
            total = torch.tensor(loss_sum)
            dist.all_reduce(total)
            loss_sum = total.item() / world
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip or math.inf)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        record = {"step": step + 1, "loss": loss_sum, "lr": lr, "grad_norm": float(norm)}
        done = step + 1 == config.run.steps
        if (config.run.eval_every and (step + 1) % config.run.eval_every == 0) or done:
            record.update(evaluate(model, config))
        elapsed = time.perf_counter() - started
        record["tokens_per_s"] = (step + 1 - start) * tokens_per_step / max(elapsed, 1e-9)
        records.append(record)
        if rank == 0:
            with open(metrics_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        if (step + 1) % config.run.log_every == 0 or done:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "step")
            console.print(f"step {step + 1}/{config.run.steps}: {shown}")
        if (config.run.checkpoint_every and (step + 1) % config.run.checkpoint_every == 0) or done:
            if rank == 0:  # ranks share the position: the same step count of the same per-rank order
                state = {"data": train_batches.state_dict()}
                checkpoint.save(output, step + 1, model, optimizer, fingerprint, state, config.run.keep_last)
            if world > 1:
                dist.barrier()
    if world > 1:
        dist.destroy_process_group()
    return records


@torch.no_grad()
def evaluate(model: GPT, config: TrainConfig) -> dict[str, float]:
    """Validation loss (nats per token) over the first `eval_batches` of the val split, in a fixed order."""
    try:
        batches = Batches(TokenStream(config.data.path, "val"), config.data.seq_len, config.data.micro_batch, seed=0)
    except ValueError:  # no val split, or too small for one batch
        return {}
    model.eval()
    losses = []
    for _, batch in zip(range(config.run.eval_batches), batches, strict=False):
        losses.append(model(torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)).item())
    model.train()
    return {"val_loss": sum(losses) / len(losses)}
