"""A real vocabulary through the whole path, with its own ids: pipeline shards packed with cl100k_base's rank
file (ids above 65,535, uint32, EOS 100257), trained on with bits per byte, sampled with `generate`, exported
to transformers, whose tokenizer gives the same ids."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from text_factory import article
from vocab_factory import rank_file

from gristmill.cli import main
from pipeline.pack_command import pack
from pipeline.prepared import prepare_run
from pipeline.runner import execute
from tokenizer import Tokenizer
from train.config import load_config
from train.loop import run_training

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def packed_cl100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cl100k")
    rows = [{"id": f"doc-{i}", "text": "\n\n".join(article(i, paragraphs=2))} for i in range(40)]
    (folder / "crawl.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "r.toml").write_text(
        f'[executor]\nworkers = 1\ntasks = 1\n\n[[stage]]\nkind = "ingest"\ninputs = ["{folder / "crawl.jsonl"}"]\n\n'
        '[[stage]]\nkind = "shard"\n'
    )
    assert execute(prepare_run(folder / "r.toml", output=folder / "run"), Console(file=io.StringIO())).complete
    pack(str(rank_file("cl100k_base")), [str(folder / "run")], str(folder / "packed"), 0.2, 1,
         console=Console(file=io.StringIO()))  # fmt: skip
    return folder / "packed"


def test_train_generate_and_export_keep_the_vocabularys_ids(packed_cl100k: Path, tmp_path: Path) -> None:
    manifest = json.loads((packed_cl100k / "manifest.json").read_text())
    assert (manifest["dtype"], manifest["vocab_size"], manifest["eos_id"]) == ("uint32", 100277, 100257)
    (tmp_path / "train.toml").write_text(
        '[model]\npreset = "tiny"\nkernels = "torch"\noverrides = { d_model = 32, n_heads = 2, n_kv_heads = 1 }\n\n'
        f'[data]\npath = "{packed_cl100k}"\nseq_len = 32\nmicro_batch = 4\nglobal_batch = 8\n\n'
        f'[run]\nsteps = 4\noutput = "{tmp_path / "out"}"\nlog_every = 2\neval_every = 4\ncheckpoint_every = 4\n'
    )
    records = run_training(load_config(tmp_path / "train.toml"), console=Console(file=io.StringIO()))
    assert records[-1]["val_bpb"] > 0  # bytes per id from the rank file's tokens

    tokenizer = Tokenizer.load(rank_file("cl100k_base"))
    assert main(["generate", "--checkpoint", str(tmp_path / "out"), "--prompt", "The mill", "--max-new-tokens",
                 "5", "--output", str(tmp_path / "gen.jsonl")]) == 0  # fmt: skip
    assert json.loads((tmp_path / "gen.jsonl").read_text())["prompt"] == "The mill"

    assert (
        main(["export", "--checkpoint", str(tmp_path / "out"), "--format", "hf", "--output", str(tmp_path / "hf")]) == 0
    )
    model = transformers.AutoModelForCausalLM.from_pretrained(str(tmp_path / "hf"), dtype=torch.float32)
    assert model.config.vocab_size == 100277
    hf_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    text = "The miller grinds the grain; la meunière moud le grain. 🙂 <|endoftext|>"
    assert hf_tokenizer.encode(text, add_special_tokens=False) == tokenizer.encode(text, allowed_special="all")
    assert hf_tokenizer.eos_token == "<|endoftext|>"
