"""A real model to evaluate: a byte-level BPE tokenizer trained on generated articles, the articles packed
with a val split, and a tiny GPT trained on them for a few steps by `gristmill train`'s own loop (its
validation covering the whole val split, so its bits per byte can be compared)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from eval_factory import TASK_ROWS
from rich.console import Console
from text_factory import article

from pipeline.pack_command import pack
from tokenizer import train_bpe
from train.config import load_config
from train.loop import run_training

EOS = "<|endoftext|>"
TRAIN_CONFIG = """
[model]
preset = "tiny"
kernels = "torch"
overrides = {{ d_model = 64, n_layers = 2, n_heads = 4, n_kv_heads = 2 }}

[data]
path = "{packed}"
seq_len = 64
micro_batch = 8
global_batch = 8

[optim]
lr = 3e-3

[run]
steps = 12
output = "{output}"
eval_sequences = 100000
log_every = 6

[eval]
sets = ["{packed}"]
tasks = ["{tasks}"]
every = 6
"""


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with tok/ (tokenizer), articles.parquet, packed/, choices.jsonl (a task, scored during training
    with the packed val split) and out/ (the training output)."""
    folder = tmp_path_factory.mktemp("evalmodel")
    texts = ["\n\n".join(article(i, paragraphs=2 + i % 3)) for i in range(120)]
    pq.write_table(pa.table({"id": [f"a{i}" for i in range(120)], "text": texts}), folder / "articles.parquet")
    train_bpe([folder / "articles.parquet"], 400, [EOS], workers=1).save(str(folder / "tok"))
    quiet = Console(file=io.StringIO())
    pack(str(folder / "tok"), [str(folder / "articles.parquet")], str(folder / "packed"), 0.2, 1, console=quiet)
    config = folder / "train.toml"
    (folder / "choices.jsonl").write_text("".join(json.dumps(row) + "\n" for row in TASK_ROWS))
    config.write_text(
        TRAIN_CONFIG.format(packed=folder / "packed", output=folder / "out", tasks=folder / "choices.jsonl")
    )
    records = run_training(load_config(config), console=quiet)
    (folder / "records.json").write_text(json.dumps(records))
    return folder
