"""A base model for fine-tuning tests: a BPE tokenizer trained on the bundled conversations and some prose,
the chat tokens added the way users add them, and a tiny randomly initialised GPT saved as a checkpoint
whose vocabulary is the tokenizer's before the chat tokens (so fine-tuning grows it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from text_factory import article

from gristmill.cli import main
from model.config import GPTConfig
from model.gpt import GPT
from tokenizer import Tokenizer, train_bpe
from tokenizer.files import fingerprint
from train import checkpoint

SAMPLES = Path(__file__).resolve().parents[1] / "recipes" / "samples" / "chat"
CONVERSATIONS = SAMPLES / "conversations.jsonl"
PREFERENCES = SAMPLES / "preferences.jsonl"
EOS = "<|endoftext|>"


def base_model(folder: Path, seq_len: int = 128, chat: bool = True, seed: int = 0) -> tuple[Path, Path]:
    """(tokenizer folder, checkpoint output folder) under `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    corpus = folder / "corpus.txt"
    texts = [m["content"] for line in CONVERSATIONS.read_text().splitlines()
             for m in json.loads(line).get("messages", [])]  # fmt: skip
    corpus.write_text("\n".join(texts + article(1, paragraphs=30)))
    tokenizer_path = folder / "tokenizer"
    train_bpe([corpus], 700, [EOS]).save(tokenizer_path)
    tokenizer = Tokenizer.load(tokenizer_path)
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, seq_len=seq_len, d_model=64, n_layers=2, n_heads=4,
                       n_kv_heads=2, kernels="torch")  # fmt: skip
    model = GPT(config)
    output = folder / "base"
    meta = {"model": config.to_dict(), "tokenizer": str(tokenizer_path),
            "tokenizer_sha256": fingerprint(tokenizer_path), "eos_id": tokenizer.special_ids[EOS]}  # fmt: skip
    checkpoint.save(output, 1, model.state_dict(), {}, meta, {"data": {}})
    if chat:
        assert main(["tokenizer", "add-special", str(tokenizer_path), "--chat"]) == 0
    return tokenizer_path, output


def finetune_config(folder: Path, name: str, checkpoint: Path, train: Path, **sections: dict) -> Path:
    """A finetune TOML writing to folder/name; `sections` override or add keys per section."""
    values = {
        "base": {"checkpoint": str(checkpoint), "kernels": "torch"},
        "data": {"train": str(train), "micro_batch": 4, "global_batch": 8, "val_fraction": 0.1},
        "optim": {"lr": 3e-3, "warmup": 0},
        "run": {"steps": 8, "output": str(folder / name), "log_every": 2, "eval_every": 4, "checkpoint_every": 4},
    }
    for section, keys in sections.items():
        values.setdefault(section, {}).update(keys)
    path = folder / f"{name}.toml"
    path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys.items()) + "\n"
                            for s, keys in values.items()))  # fmt: skip
    return path


def killed_after(run: Path, step: int, folder: Path) -> None:
    """`folder` as `run` would have been had it been killed right after writing checkpoint `step`."""
    folder.mkdir()
    shutil.copytree(run / f"step-{step:06d}", folder / f"step-{step:06d}")
    (folder / "latest").write_text(f"step-{step:06d}\n")
