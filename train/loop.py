"""`gristmill train`: pretraining on windows of packed shards, validation loss and bits per byte; the loop
itself (AdamW or Muon + AdamW, schedule, accumulation, clipping, bf16 autocast on CUDA, `torch.compile`,
checkpoints that resume exactly, the figures a user watches) is `train.trainer`'s, shared with fine-tuning.

Under `torchrun` (WORLD_SIZE > 1) it runs data parallel: DDP by default, FSDP2 with `run.parallel = "fsdp"`;
NCCL on GPU, gloo on CPU. Each rank reads its own windows (`train.data.Batches`), accumulation is
global_batch / (micro_batch x world size) and the gradient all-reduce happens once per step, so one process
and N processes at the same global batch take the same steps. Rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from gristmill_base.errors import UserError
from model.config import GPTConfig, preset
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.files import fingerprint, is_tokenizer, same_ids
from train.config import TrainConfig, eval_inputs
from train.data import Batch, Batches, TokenStream
from train.evaluate import Evaluator, token_bytes, unigram_entropy
from train.parallel import World, join_world, leave_world
from train.trainer import claim_output, fit, to_device
from train.windows import window_masks


def model_config(config: TrainConfig, vocab_size: int) -> GPTConfig:
    kernels = config.model.kernels
    if kernels == "auto" and config.run.compile and torch.cuda.is_available():
        kernels = "triton-ce"  # inductor fuses the elementwise operations itself; the fused loss keeps its memory
    try:
        return preset(config.model.preset, vocab_size=vocab_size, seq_len=config.data.seq_len, kernels=kernels,
                      **config.model.overrides)  # fmt: skip
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
    if not same_ids(folder, manifest["tokenizer_sha256"]):
        raise UserError(f"data.tokenizer: {folder} is not the tokenizer {config.data.path} was packed with "
                        f"(sha256 {sha[:12]}…, the pack manifest says "
                        f"{manifest['tokenizer_sha256'][:12]}…)")  # fmt: skip
    return str(Path(folder).resolve())


def run_training(config: TrainConfig, restart: bool = False, console: Console | None = None) -> list[dict[str, Any]]:
    """Train, or continue the run in `run.output` (`train.rerun`); `restart`: move that run aside first."""
    world = join_world()
    try:
        return _train(config, restart, world, console or Console(quiet=not world.main))
    finally:
        leave_world(world)


class Packed:
    """What `gristmill train` trains on and what it trains, from the config and the pack manifest alone: enough to
    decide what a rerun does before anything is built. The data's identity is the manifest's sha256: it lists every
    part with its tokens and documents, and the sources they were packed from."""

    def __init__(self, config: TrainConfig, console: Console):
        raw = (Path(config.data.path) / "manifest.json").read_bytes()
        self.manifest = json.loads(raw)
        self.tokenizer = packed_tokenizer(config, self.manifest, console)
        self.architecture = model_config(config, self.manifest["vocab_size"])
        self.fingerprint = {"tokenizer_sha256": self.manifest["tokenizer_sha256"], "tokenizer": self.tokenizer,
                            "eos_id": self.manifest["eos_id"], "model": self.architecture.to_dict(),
                            "packed_sha256": hashlib.sha256(raw).hexdigest()}  # fmt: skip
        self.inputs = {"data.path": config.data.path, "data.tokenizer": self.tokenizer, **eval_inputs(config.eval)}


class Pretraining:
    """The `Job` of `gristmill train`: windows of packed shards, next-token loss on every position; with
    `data.document_mask`, attention stays inside each document (and positions restart with
    `data.document_positions`)."""

    name = "pretraining"

    def __init__(self, config: TrainConfig, world: World, packed: Packed):
        data = config.data
        self.tokenizer, self.eos_id, self.fingerprint = packed.tokenizer, packed.manifest["eos_id"], packed.fingerprint
        byte_counts = token_bytes(Tokenizer.load(self.tokenizer)) if self.tokenizer else None
        torch.manual_seed(config.run.seed)
        try:
            self.model = GPT(packed.architecture).to(world.device)
        except (TypeError, ValueError) as error:
            raise UserError(f"model: {error}") from None
        self.masked, self.restart = data.document_mask, data.document_positions
        try:
            self.stream = TokenStream(data.path, "train")
            self.loader = Batches(self.stream, data.seq_len, data.micro_batch, rank=world.rank,
                                  world_size=world.size, seed=config.run.seed, documents=self.masked)  # fmt: skip
        except (ValueError, KeyError) as error:
            raise UserError(f"data.path: {data.path}: {error}") from None
        self.evaluator = Evaluator(data.path, data.seq_len, data.micro_batch, config.run.eval_sequences, world,
                                   byte_counts, self.masked, self.restart)  # fmt: skip
        self.batch_description = f"{data.global_batch * data.seq_len:,} tokens"

    def weight(self, batch: Batch) -> float:
        return float(batch.targets.size)

    def tokens(self, batch: Batch) -> int:
        return int(batch.inputs.size)

    def loss(self, trained: Callable[..., torch.Tensor], batch: Batch, device: torch.device,
             autocast: AbstractContextManager) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:  # fmt: skip
        inputs, targets = to_device(batch.inputs, device), to_device(batch.targets, device)
        with autocast:
            return trained(inputs, targets, **window_masks(batch.input_documents, device, self.restart)), {}

    def evaluate(self, model: GPT, autocast: AbstractContextManager) -> dict[str, float]:
        return self.evaluator(model, autocast)

    def summary(self, records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        facts = []
        evaluated = [r for r in records if "val_loss" in r]
        if evaluated:
            bpb = f", {evaluated[-1]['val_bpb']:.4f} bits per byte" if "val_bpb" in evaluated[-1] else ""
            facts.append(("validation", f"{evaluated[-1]['val_loss']:.4f} nats per token{bpb}"))
        baseline = unigram_entropy(self.stream, self.model.config.vocab_size)
        facts.append(("baseline", f"{baseline:.4f} nats per token, the unigram entropy of the train split"))
        return facts


def _train(config: TrainConfig, restart: bool, world: World, console: Console) -> list[dict[str, Any]]:
    data = config.data
    accumulation, remainder = divmod(data.global_batch, data.micro_batch * world.size)
    if remainder or not accumulation:
        raise UserError(f"data.global_batch {data.global_batch} is not a multiple of micro_batch x world size "
                        f"({data.micro_batch} x {world.size})")  # fmt: skip
    packed = Packed(config, console)
    with claim_output("pretraining", packed.fingerprint, packed.inputs, config.run, restart, world, console) as rerun:
        if rerun.finished:
            return []
        job = Pretraining(config, world, packed)
        return fit(job, config.optim, config.run, config.eval, world, accumulation, rerun, console,
                   config.model_dump())  # fmt: skip
