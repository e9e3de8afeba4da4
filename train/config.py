"""`gristmill train` configuration: a TOML file validated whole before any work, `--set key=value`
overrides (dotted keys, TOML values), and one clear line for anything wrong."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError

from gristmill_base.errors import UserError
from gristmill_base.named import split_named
from pipeline.section import Section, read_toml

Positive = Annotated[int, Field(ge=1)]
S = TypeVar("S", bound=Section)


class ModelSection(Section):
    preset: Literal["tiny", "124m", "350m", "1b"] = "tiny"
    overrides: dict[str, int | float | bool | str] = Field(default_factory=dict, description="GPTConfig fields")
    kernels: Literal["triton", "triton-ce", "torch", "auto"] = "auto"


class DataSection(Section):
    path: str = Field(description="a `gristmill pack` output folder")
    tokenizer: str | None = None  # default: the folder the data was packed with (for bits per byte)
    seq_len: Positive = 256
    micro_batch: Positive = 8
    global_batch: Positive = 8  # sequences per optimizer step, over all ranks: accumulation is derived
    document_mask: bool = False  # attention never crosses a document boundary (EOS) inside a window
    document_positions: bool = False  # with document_mask: RoPE positions restart at each document


class OptimSection(Section):
    name: Literal["adamw", "muon"] = "adamw"  # muon: Muon on the blocks' matrices, AdamW on the rest
    lr: Annotated[float, Field(gt=0)] = 3e-4  # AdamW's peak learning rate
    muon_lr: Annotated[float, Field(gt=0)] = 0.02
    muon_momentum: Annotated[float, Field(ge=0, lt=1)] = 0.95
    muon_weight_decay: Annotated[float, Field(ge=0)] = 0.0  # decoupled, x muon_lr: 0.1 would be 67x AdamW's pull
    weight_decay: Annotated[float, Field(ge=0)] = 0.1
    betas: Annotated[list[Annotated[float, Field(ge=0, lt=1)]], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [0.9, 0.95]
    )
    grad_clip: Annotated[float, Field(ge=0)] = 1.0
    schedule: Literal["cosine", "wsd"] = "cosine"
    warmup: Annotated[int, Field(ge=0)] = 0
    min_ratio: Annotated[float, Field(ge=0, le=1)] = 0.1


class RunSection(Section):
    steps: Positive = 100
    output: str = "runs/train"
    seed: int = 0
    log_every: Positive = 10
    eval_every: Annotated[int, Field(ge=0)] = 0  # 0: only at the end
    eval_sequences: Positive = 32  # val windows per evaluation (the first of a fixed order), over all ranks
    checkpoint_every: Annotated[int, Field(ge=0)] = 0  # 0: only at the end
    keep_last: Positive = 3
    dtype: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False  # torch.compile the model
    activation_checkpointing: bool = False  # recompute each block in backward: memory for ~1/3 more compute
    parallel: Literal["ddp", "fsdp"] = "ddp"  # fsdp: FSDP2 fully_shard per block, for models too big for one GPU
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    wandb_project: str = "gristmill"
    peak_tflops: Annotated[float, Field(gt=0)] | None = None  # for MFU where the GPU is not in the built-in table


class EvalSection(Section):
    """Text sets (bits per byte) and tasks (accuracy) scored during training, as `gristmill eval` scores them."""

    sets: list[str] = Field(default_factory=list)  # [NAME=]PATH: text files, JSONL, Parquet, run or packed folders
    tasks: list[str] = Field(default_factory=list)  # [NAME=]PATH: task files (docs/formats.md)
    every: Annotated[int, Field(ge=0)] = 0  # steps; 0: when the validation runs (run.eval_every, and at the end)
    limit: Positive | None = None  # the first N documents / items of each
    batch_size: Positive = 16
    text_field: str = "text"


class TrainConfig(Section):
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection
    optim: OptimSection = Field(default_factory=OptimSection)
    run: RunSection = Field(default_factory=RunSection)
    eval: EvalSection = Field(default_factory=EvalSection)


def read_config(path: str | Path, overrides: list[str] | None, kind: type[S]) -> tuple[S, Callable[[str, str], str]]:
    """A TOML file validated as `kind`, and the function that resolves a path value of a key: against the
    config file's folder when written in it, against the working directory when it came from `--set` (as
    typed on a shell)."""
    path = Path(path)
    raw = read_toml(path, "config")
    typed = {_apply_override(raw, item) for item in overrides or []}
    try:
        config = kind.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise UserError(f"{path}: {key}: {message}") from None

    def resolve(key: str, value: str) -> str:
        base = Path.cwd() if key in typed else path.parent
        return str(Path(value) if Path(value).is_absolute() else (base / value).resolve())

    return config, resolve


def check_warmup(path: str | Path, optim: OptimSection, run: RunSection) -> None:
    if optim.warmup > run.steps:
        raise UserError(
            f"{path}: optim.warmup: {optim.warmup} warmup steps in a run of run.steps = {run.steps}; "
            f"set optim.warmup to {run.steps} or fewer (e.g. --set optim.warmup={run.steps // 10})"
        )


def resolve_eval(evaluation: EvalSection, resolve: Callable[[str, str], str]) -> None:
    evaluation.sets = [_resolve_named(spec, lambda p: resolve("eval.sets", p)) for spec in evaluation.sets]
    evaluation.tasks = [_resolve_named(spec, lambda p: resolve("eval.tasks", p)) for spec in evaluation.tasks]


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """The validated config, paths resolved (see `read_config`)."""
    config, resolve = read_config(path, overrides, TrainConfig)
    check_warmup(path, config.optim, config.run)
    if config.data.document_positions and not config.data.document_mask:
        raise UserError(f"{path}: data.document_positions: needs data.document_mask = true (documents to restart at)")
    config.data.path = resolve("data.path", config.data.path)
    if not (Path(config.data.path) / "manifest.json").is_file():
        raise UserError(f"{path}: data.path: {config.data.path} is not a `gristmill pack` output (no manifest.json)")
    if config.data.tokenizer is not None:
        config.data.tokenizer = resolve("data.tokenizer", config.data.tokenizer)
    config.run.output = resolve("run.output", config.run.output)
    resolve_eval(config.eval, resolve)
    return config


def eval_inputs(evaluation: EvalSection) -> dict[str, str | None]:
    """The paths `[eval]` reads, by key and name (e.g. "eval.sets held-out"): a rerun must not move them away."""
    named = [(key, *split_named(spec)) for key, specs in (("sets", evaluation.sets), ("tasks", evaluation.tasks))
             for spec in specs]  # fmt: skip
    return {f"eval.{key} {name}": path for key, name, path in named}


def _resolve_named(spec: str, resolve: Callable[[str], str]) -> str:
    """`NAME=PATH` or `PATH`, the path resolved; a set keeps the name its path gave it."""
    name, path = split_named(spec)
    return f"{name or Path(path).name.split('.')[0]}={resolve(path)}"


def _apply_override(raw: dict[str, Any], item: str) -> str:
    """Set one `key=value` in the raw config; the key."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise UserError(f"--set {item}: expected key=value, e.g. optim.lr=1e-3")
    try:
        parsed = tomllib.loads(f"value = {value}")["value"]
    except tomllib.TOMLDecodeError:
        parsed = value  # a bare word is a string
    *parents, last = key.split(".")
    table = raw
    for part in parents:
        table = table.setdefault(part, {})
    table[last] = parsed
    return key
