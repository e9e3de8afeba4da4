"""`gristmill finetune sft | dpo CONFIG`: read the data (bad records skipped and counted, or one error line),
start from the base checkpoint, and train with the loop `gristmill train` uses (`train.trainer.fit`)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from rich.console import Console

from gristmill_base.errors import UserError
from tokenizer.chat import ChatFormat, Message, Rendered
from tokenizer.files import fingerprint as fingerprint_of
from train.config import eval_inputs
from train.finetune.base import Base, Start, base_of
from train.finetune.config import FinetuneConfig, load_finetune_config
from train.finetune.dpo import DpoLoss, PairIds, PreferenceOptimization, Reference
from train.finetune.records import BadRecord, Preference, Skips, conversation, preference, read_records
from train.finetune.sft import SupervisedFinetuning
from train.parallel import World, join_world, leave_world, rank_share
from train.trainer import Job, autocast_for, claim_output, fit

T = TypeVar("T")
R = TypeVar("R")


def run_finetune(kind: Literal["sft", "dpo"], config_path: str, overrides: list[str] | None = None,
                 restart: bool = False, console: Console | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Fine-tune, or continue the run in `run.output` (`train.rerun`); `restart`: move that run aside first."""
    config = load_finetune_config(config_path, overrides)
    world = join_world()
    try:
        return _finetune(kind, config, restart, world, console or Console(quiet=not world.main))
    finally:
        leave_world(world)


def _finetune(kind: Literal["sft", "dpo"], config: FinetuneConfig, restart: bool, world: World,
              console: Console) -> list[dict[str, Any]]:  # fmt: skip
    data, run = config.data, config.run
    accumulation, remainder = divmod(data.global_batch, data.micro_batch * world.size)
    if remainder or not accumulation:
        raise UserError(f"data.global_batch {data.global_batch} is not a multiple of micro_batch x world size "
                        f"({data.micro_batch} x {world.size})")  # fmt: skip
    base = base_of(config.base.checkpoint, data.tokenizer, config.base.kernels)
    if Path(run.output).resolve() in (base.folder.resolve(), base.folder.resolve().parent):
        raise UserError(f"run.output {run.output}: the base checkpoint's own folder; fine-tune into another")
    context = base.architecture.seq_len
    seq_len = data.seq_len or context
    if seq_len > context:
        raise UserError(f"data.seq_len {seq_len}: longer than the base model's context of {context} tokens")
    reference = _reference(config, base) if kind == "dpo" else None
    fingerprint = {"tokenizer_sha256": fingerprint_of(base.tokenizer_path), "tokenizer": base.tokenizer_path,
                   "eos_id": base.config.get("eos_id"), "model": base.architecture.to_dict(),
                   "base": str(base.folder), "data_sha256": _data_sha256(data.train, data.val)}  # fmt: skip
    if kind == "dpo":
        fingerprint["reference"] = str((reference or base).folder)
    inputs = {"base.checkpoint": config.base.checkpoint, "dpo.reference": config.dpo.reference,
              "data.train": data.train, "data.val": data.val, "data.tokenizer": base.tokenizer_path,
              **eval_inputs(config.eval)}  # fmt: skip
    with claim_output(kind, fingerprint, inputs, run, restart, world, console) as rerun:
        if rerun.finished:
            return []
        torch.manual_seed(run.seed)
        start = base.load(console)
        skips = Skips(fail=data.on_bad == "fail")
        pad_id = start.chat.end_id
        if kind == "sft":
            render = _sft_renderer(start.chat, data.learn == "all", seq_len)
            train, val = _read(data.train, data.val, data.val_fraction, run.seed, skips, render, data.system_prompt,
                               conversation)  # fmt: skip
            _report(console, "conversations", data.train, train, val, skips)
            start.model.to(world.device)
            job: Job = _built(lambda: SupervisedFinetuning(
                start.model, train, val, seq_len, data.micro_batch, data.global_batch, pad_id, world, run.seed,
                run.eval_sequences, fingerprint, start.tokenizer_path, fingerprint["eos_id"]))  # fmt: skip
        else:
            render_pair = _pair_renderer(start.chat, seq_len)
            train_pairs, val_pairs = _read(data.train, data.val, data.val_fraction, run.seed, skips, render_pair,
                                           data.system_prompt, preference)  # fmt: skip
            _report(console, "preference pairs", data.train, train_pairs, val_pairs, skips)
            job = _dpo_job(config, start, reference, train_pairs, val_pairs, pad_id, world, fingerprint, console)
        if world.main:
            skips.save(Path(run.output))
        return fit(job, config.optim, run, config.eval, world, accumulation, rerun, console, config.model_dump())


def _reference(config: FinetuneConfig, base: Base) -> Base | None:
    """dpo.reference, checked to be the base's model with its tokenizer; None: the base itself."""
    if config.dpo.reference is None:
        return None
    reference = base_of(config.dpo.reference, base.tokenizer_path, config.base.kernels, "dpo.reference")
    if reference.architecture != base.architecture:
        raise UserError(f"dpo.reference: {reference.folder} is another model than base.checkpoint")
    return reference


def _dpo_job(config: FinetuneConfig, start: Start, reference: Base | None, train: list[PairIds],
             val: list[PairIds], pad_id: int, world: World, fingerprint: dict[str, Any],
             console: Console) -> PreferenceOptimization:  # fmt: skip
    """The DPO job; the reference, where none is given, is the starting model itself, frozen: a copy, not a second
    read of its checkpoint."""
    data, dpo = config.data, config.dpo
    frozen = copy.deepcopy(start.model) if reference is None else reference.load(console).model
    autocast = autocast_for(world, config.run)
    frozen = frozen.to(world.device)
    val = rank_share(val[: config.run.eval_sequences], world)  # this rank's held-out pairs, their reference once
    val_reference = Reference(frozen, True, val, data.micro_batch, pad_id, world.device, autocast) if val else None
    scores = Reference(frozen, dpo.precompute_reference, train, data.micro_batch, pad_id, world.device, autocast)
    if dpo.precompute_reference:
        console.print(f"[dim]reference log-probabilities of {len(train):,} pairs computed; reference model dropped[/]")
    start.model.to(world.device)
    return _built(lambda: PreferenceOptimization(start.model, scores, val_reference, train, val,
                                  DpoLoss(dpo.beta, dpo.label_smoothing), data.micro_batch, data.global_batch, pad_id,
                                  world, config.run.seed, fingerprint, start.tokenizer_path,
                                  fingerprint["eos_id"]))  # fmt: skip


def _built(make: Callable[[], T]) -> T:
    """A job, its loader's complaint (too little data for one batch) as one line."""
    try:
        return make()
    except ValueError as error:
        raise UserError(f"data.train: {error}") from None


def _data_sha256(*files: str | None) -> str:
    """sha256 of the data files' bytes, in order: a resumed run must read the data it started with."""
    digest = hashlib.sha256()
    for file in files:
        if file is not None:
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def _sft_renderer(chat: ChatFormat, learn_all: bool, seq_len: int) -> Callable[[list[Message]], Rendered]:
    def render(messages: list[Message]) -> Rendered:
        rendered = chat.render(messages, learn_all)
        if len(rendered.ids) - 1 > seq_len:
            raise BadRecord(f"longer than the context of {seq_len} tokens")
        return rendered

    return render


def _pair_renderer(chat: ChatFormat, seq_len: int) -> Callable[[Preference], PairIds]:
    def render(pair: Preference) -> PairIds:
        prompt = chat.prompt(pair.prompt)
        answers = chat.tokenizer.encode_batch([pair.chosen, pair.rejected], disallowed_special=())
        ids = PairIds(prompt, [*answers[0], chat.end_id], [*answers[1], chat.end_id])
        if ids.longest - 1 > seq_len:
            raise BadRecord(f"longer than the context of {seq_len} tokens")
        return ids

    return render


def _read(train_file: str, val_file: str | None, val_fraction: float, seed: int, skips: Skips,
          render: Callable[[T], R], system_prompt: str | None,
          parse: Callable[[dict[str, Any], str | None], T]) -> tuple[list[R], list[R]]:  # fmt: skip
    """The rendered records of the train file and of the val file (or `val_fraction` of train, held out by a
    seeded draw); bad ones counted in `skips`."""

    def all_of(file: str) -> list[R]:
        found = []
        for number, record in read_records(Path(file), skips):
            try:
                found.append(render(parse(record, system_prompt)))
            except BadRecord as reason:
                skips.add(str(reason), Path(file), number)
        if not found:
            raise UserError(f"{file}: no usable records ({skips.describe()})")
        return found

    train = all_of(train_file)
    if val_file:
        return train, all_of(val_file)
    held = min(round(len(train) * val_fraction), len(train) - 1)
    if not held:
        return train, []
    order = np.random.default_rng(seed).permutation(len(train))
    chosen = set(order[:held].tolist())
    return [r for i, r in enumerate(train) if i not in chosen], [train[i] for i in sorted(chosen)]


def _report(console: Console, what: str, file: str, train: list[Any], val: list[Any], skips: Skips) -> None:
    console.print(f"data: {len(train):,} {what} for training, {len(val):,} held out, from {file}; "
                  f"{skips.describe()}")  # fmt: skip
