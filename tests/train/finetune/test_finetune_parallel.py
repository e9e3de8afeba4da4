"""Fine-tuning under torchrun with 2 gloo processes takes the steps of 1 process at the same global batch:
the step's loss is the mean over all its learned tokens (sft) or pairs (dpo), whichever rank and micro-batch
they fell in."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from chat_factory import CONVERSATIONS, PREFERENCES, finetune_config

from gristmill.cli import main

pytestmark = pytest.mark.slow


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("kind", "data", "parallel"),
    [("sft", CONVERSATIONS, "ddp"), ("dpo", PREFERENCES, "ddp"), ("sft", CONVERSATIONS, "fsdp")],
)
def test_two_gloo_processes_take_the_steps_of_one(tmp_path: Path, base, kind: str, data: Path, parallel: str) -> None:
    _, checkpoint = base
    settings = {"run": {"steps": 3, "eval_every": 3, "log_every": 1, "parallel": parallel, "eval_sequences": 2},
                "data": {"micro_batch": 4, "global_batch": 8}}  # fmt: skip
    assert main(["finetune", kind, str(finetune_config(tmp_path, "one", checkpoint, data, **settings))]) == 0
    settings["data"]["micro_batch"] = 2  # 2 ranks x 2 accumulated micro-batches of 2
    two = finetune_config(tmp_path, "two", checkpoint, data, **settings)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "gristmill", "finetune", kind, str(two)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    one, both = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    assert [r["step"] for r in both] == [1, 2, 3]
    for a, b in zip(one, both, strict=True):
        for key in ("loss", "grad_norm", "val_loss", "dpo/accuracy", "dpo/margin", "learned_share"):
            assert a.get(key, 0) == pytest.approx(b.get(key, 0), abs=1e-5), key
