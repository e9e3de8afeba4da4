"""Where a fine-tune starts: a checkpoint's model and the tokenizer it was trained with, that tokenizer now
carrying the chat tokens (`gristmill tokenizer add-special --chat` adds them at new ids, every other id kept).
The embedding (and a separate head) grows to the tokenizer's size; new rows start at the mean of the trained
ones, so a chat token starts as an average token rather than as noise far from every other."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from safetensors import SafetensorError
from safetensors.torch import load_file

from gristmill_base.errors import UserError
from model.config import GPTConfig
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.chat import ChatFormat
from tokenizer.files import is_tokenizer, same_ids
from train.checkpoint import step_folder

GROWN = ("embedding.weight", "head.weight")


@dataclass
class Start:
    model: GPT
    config: dict[str, Any]  # the checkpoint's config.json
    folder: Path  # its step folder
    tokenizer_path: str
    tokenizer: Tokenizer
    chat: ChatFormat


def start_from(checkpoint: str, tokenizer: str | None, kernels: str, console: Console, what: str = "base") -> Start:
    """The model of `checkpoint` (on CPU, grown to the tokenizer) and its chat-ready tokenizer; UserError
    naming `what` (the config key) for anything missing or mismatched."""
    try:
        folder = step_folder(Path(checkpoint))
        config = json.loads((folder / "config.json").read_text())
        weights = load_file(str(folder / "model.safetensors"))
    except (ValueError, OSError, json.JSONDecodeError, SafetensorError) as error:
        raise UserError(f"{what}.checkpoint: {error}") from None
    path = tokenizer or config.get("tokenizer")
    key = "data.tokenizer" if what == "base" else what
    if not path or not is_tokenizer(path):
        raise UserError(f"{key}: {path or 'the checkpoint names no tokenizer'}: not a tokenizer; "
                        "pass data.tokenizer = the folder the base model was trained with")  # fmt: skip
    if not same_ids(path, config.get("tokenizer_sha256", "")):
        raise UserError(f"{key}: {path} is not the tokenizer {folder} was trained with, nor one extending "
                        "it (`gristmill tokenizer add-special` keeps that link)")  # fmt: skip
    loaded = Tokenizer.load(path)
    try:
        chat = ChatFormat(loaded)
    except ValueError as error:
        raise UserError(f"data.tokenizer: {path}: {error}") from None
    trained_vocab = config["model"]["vocab_size"]
    vocab = max(trained_vocab, loaded.vocab_size)
    try:
        model = GPT(GPTConfig(**{**config["model"], "vocab_size": vocab, "kernels": kernels}))
    except (TypeError, ValueError, RuntimeError) as error:  # unknown keys, or kernels this machine cannot run
        raise UserError(f"{what}.checkpoint: {folder}: {error}") from None
    if vocab > trained_vocab:
        for name in GROWN:
            if name in weights:
                rows = weights[name]
                extra = rows.mean(0, keepdim=True).expand(vocab - trained_vocab, -1)
                weights[name] = torch.cat([rows, extra])
        console.print(f"[dim]embedding grown from {trained_vocab:,} to {vocab:,} rows for the tokenizer's new "
                      "tokens (new rows: the mean of the trained ones)[/]")  # fmt: skip
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:
        raise UserError(f"{what}.checkpoint: {folder}: weights do not fit its config: {error}") from None
    return Start(model, config, folder, str(Path(path).resolve()), loaded, chat)
