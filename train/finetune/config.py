"""`gristmill finetune sft | dpo` configuration: the same TOML rules, `[optim]`, `[run]` and `[eval]` as
`gristmill train`, with a `[base]` checkpoint to start from and conversation or preference files as data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from gristmill_base.errors import UserError
from pipeline.section import Section
from train.config import (
    EvalSection,
    OptimSection,
    Positive,
    RunSection,
    check_warmup,
    read_config,
    resolve_eval,
)


class BaseSection(Section):
    checkpoint: str = Field(description="the checkpoint to start from: a step folder or a training output")
    kernels: Literal["triton", "triton-ce", "torch", "auto"] = "auto"


class FinetuneData(Section):
    train: str = Field(description="JSONL: conversations (sft) or preference pairs (dpo)")
    val: str | None = None  # a file of the same kind; default: val_fraction of train held out
    val_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05
    tokenizer: str | None = None  # default: the base checkpoint's, with the chat tokens added
    seq_len: Positive | None = None  # default: the base model's context
    micro_batch: Positive = 8  # windows (sft) or preference pairs (dpo) per forward pass
    global_batch: Positive = 8  # per optimizer step, over all ranks
    learn: Literal["assistant", "all"] = "assistant"  # sft: which tokens the loss is on
    system_prompt: str | None = None  # given to conversations that have no system message
    on_bad: Literal["skip", "fail"] = "skip"  # a bad record: skipped and counted, or one line and exit 2


class DpoSection(Section):
    beta: Annotated[float, Field(gt=0)] = 0.1
    label_smoothing: Annotated[float, Field(ge=0, lt=0.5)] = 0.0  # conservative DPO: labels flipped with this rate
    reference: str | None = None  # the frozen reference checkpoint; default: base.checkpoint
    precompute_reference: bool = False  # reference log-probabilities once, before training: no second model held


class FinetuneConfig(Section):
    base: BaseSection
    data: FinetuneData
    dpo: DpoSection = Field(default_factory=DpoSection)
    optim: OptimSection = Field(default_factory=lambda: OptimSection(lr=1e-4, warmup=0))
    run: RunSection = Field(default_factory=RunSection)
    eval: EvalSection = Field(default_factory=EvalSection)


def load_finetune_config(path: str | Path, overrides: list[str] | None = None) -> FinetuneConfig:
    """The validated config, paths resolved as `gristmill train` resolves them."""
    config, resolve = read_config(path, overrides, FinetuneConfig)
    check_warmup(path, config.optim, config.run)
    config.base.checkpoint = resolve("base.checkpoint", config.base.checkpoint)
    config.data.train = resolve("data.train", config.data.train)
    for key in ("val", "tokenizer"):
        value = getattr(config.data, key)
        if value is not None:
            setattr(config.data, key, resolve(f"data.{key}", value))
    if config.dpo.reference is not None:
        config.dpo.reference = resolve("dpo.reference", config.dpo.reference)
    config.run.output = resolve("run.output", config.run.output)
    resolve_eval(config.eval, resolve)
    for key, file in (("data.train", config.data.train), ("data.val", config.data.val)):
        if file is not None and not Path(file).is_file():
            raise UserError(f"{path}: {key}: {file}: no such file")
    return config
