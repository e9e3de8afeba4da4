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
class Base:
    """A checkpoint to start from, its weights not read yet: what a rerun's decision needs."""

    config: dict[str, Any]  # the checkpoint's config.json
    folder: Path  # its step folder
    tokenizer_path: str
    tokenizer: Tokenizer
    chat: ChatFormat
    architecture: GPTConfig  # the model, its embedding grown to the tokenizer
    what: str  # the config key it comes from, for the errors

    def load(self, console: Console) -> Start:
        """Its model (on CPU), the embedding grown to the tokenizer's new tokens."""
        try:
            weights = load_file(str(self.folder / "model.safetensors"))
        except (OSError, SafetensorError) as error:
            raise UserError(f"{self.what}.checkpoint: {self.folder / 'model.safetensors'}: {error}") from None
        try:
            model = GPT(self.architecture)
        except (TypeError, ValueError, RuntimeError) as error:  # kernels this machine cannot run
            raise UserError(f"{self.what}.checkpoint: {self.folder}: {error}") from None
        trained_vocab, vocab = self.config["model"]["vocab_size"], self.architecture.vocab_size
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
            raise UserError(f"{self.what}.checkpoint: {self.folder}: weights do not fit its config: {error}") from None
        return Start(model, self.config, self.folder, self.tokenizer_path, self.tokenizer, self.chat)


@dataclass
class Start:
    model: GPT
    config: dict[str, Any]  # the checkpoint's config.json
    folder: Path  # its step folder
    tokenizer_path: str
    tokenizer: Tokenizer
    chat: ChatFormat


def base_of(checkpoint: str, tokenizer: str | None, kernels: str, what: str = "base") -> Base:
    """The checkpoint `checkpoint` and its chat-ready tokenizer, checked, its weights left unread; UserError
    naming `what` (the config key) for anything missing or mismatched."""
    try:
        folder = step_folder(Path(checkpoint))
        config = json.loads((folder / "config.json").read_text())
    except (ValueError, OSError) as error:
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
    try:
        vocab = max(config["model"]["vocab_size"], loaded.vocab_size)
        architecture = GPTConfig(**{**config["model"], "vocab_size": vocab, "kernels": kernels})
    except (KeyError, TypeError, ValueError) as error:  # unknown keys, or none
        raise UserError(f"{what}.checkpoint: {folder}: {error}") from None
    return Base(config, folder, str(Path(path).resolve()), loaded, chat, architecture, what)


def start_from(checkpoint: str, tokenizer: str | None, kernels: str, console: Console, what: str = "base") -> Start:
    """The model of `checkpoint` (on CPU, grown to the tokenizer) and its chat-ready tokenizer; UserError
    naming `what` (the config key) for anything missing or mismatched."""
    return base_of(checkpoint, tokenizer, kernels, what).load(console)
