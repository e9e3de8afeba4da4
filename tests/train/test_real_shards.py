"""The whole path on real files: a pipeline run's Parquet shards -> a trained BPE tokenizer -> `gristmill pack`
-> `gristmill train`. The loss falls, and the validation bits per byte equal a computation made here from the
final checkpoint, the val token stream and the tokenizer's own bytes for each token."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors.torch import load_model
from text_factory import article

from model.config import GPTConfig
from model.gpt import GPT
from pipeline.pack_command import pack
from pipeline.prepared import prepare_run
from pipeline.runner import execute
from tokenizer import Tokenizer, train_bpe
from train.config import load_config
from train.loop import run_training

pytestmark = pytest.mark.slow
EOS = "<|endoftext|>"


@pytest.fixture(scope="module")
def packed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("real")
    rows = [{"id": f"doc-{i}", "text": "\n\n".join(article(i, paragraphs=3 + i % 4))} for i in range(160)]
    (folder / "crawl.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "r.toml").write_text(
        f'[executor]\nworkers = 2\ntasks = 2\n\n[[stage]]\nkind = "ingest"\ninputs = ["{folder / "crawl.jsonl"}"]\n\n'
        '[[stage]]\nkind = "shard"\nshard_size = "64kB"\n'
    )
    assert execute(prepare_run(folder / "r.toml", output=folder / "run"), Console(file=io.StringIO())).complete
    train_bpe([folder / "run"], 512, [EOS], workers=1).save(str(folder / "tok"))
    pack(str(folder / "tok"), [str(folder / "run")], str(folder / "packed"), val_fraction=0.1, workers=2,
         console=Console(file=io.StringIO()))  # fmt: skip
    return folder


def test_loss_falls_and_bits_per_byte_are_exact(packed_run: Path, tmp_path: Path) -> None:
    config_path = tmp_path / "train.toml"
    config_path.write_text(
        f'[model]\npreset = "tiny"\nkernels = "torch"\n\n[data]\npath = "{packed_run / "packed"}"\nseq_len = 64\n'
        f"micro_batch = 8\nglobal_batch = 16\n\n[optim]\nlr = 3e-3\nwarmup = 5\n\n"
        f'[run]\nsteps = 60\noutput = "{tmp_path / "out"}"\neval_sequences = 100000\nlog_every = 20\n'
    )
    records = run_training(load_config(config_path), console=Console(file=io.StringIO()))
    assert records[-1]["loss"] < records[0]["loss"] - 1.5  # from ~ln(512) = 6.2 down by at least 1.5 nats
    result = records[-1]

    # The same figure, computed independently: every val window once, bytes from the tokenizer's vocab.
    checkpoint = tmp_path / "out/step-000060"
    model = GPT(GPTConfig(**json.loads((checkpoint / "config.json").read_text())["model"]))
    load_model(model, str(checkpoint / "model.safetensors"))
    tokenizer = Tokenizer.load(str(packed_run / "tok"))
    manifest = json.loads((packed_run / "packed/manifest.json").read_text())
    val = np.concatenate([np.fromfile(packed_run / "packed" / s["bin"], dtype=manifest["dtype"])
                          for s in manifest["val"]["shards"]]).astype(np.int64)  # fmt: skip
    windows = (len(val) - 1) // 64  # eval_sequences above the split's windows: the evaluator takes every one
    losses, loss_bits, text_bytes = 0.0, 0.0, 0
    with torch.no_grad():
        for w in range(windows):
            chunk = torch.from_numpy(val[w * 64 : w * 64 + 65])
            logits = model(chunk[None, :-1])[0]
            per_token = torch.nn.functional.cross_entropy(logits, chunk[1:], reduction="none")
            losses += per_token.sum().item()
            for target, loss in zip(chunk[1:].tolist(), per_token.tolist(), strict=True):
                if target != manifest["eos_id"]:
                    loss_bits += loss
                    text_bytes += len(tokenizer.decode_bytes([target]))
    assert result["val_loss"] == pytest.approx(losses / (windows * 64), rel=1e-4)
    assert result["val_bpb"] == pytest.approx(loss_bits / math.log(2) / text_bytes, rel=1e-4)
    assert 0 < result["val_bpb"] < 8
