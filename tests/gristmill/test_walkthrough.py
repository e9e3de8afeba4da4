"""The README's walkthrough blocks, run as written (a shorter pretraining, another output folder): raw WARC -> run
-> report -> tokenizer -> pack -> train -> generate, then chat tokens -> SFT -> DPO -> chat. The model's
validation loss ends well below the unigram entropy of the data and it writes text after the prompt; the
trained checkpoint then serves the other `generate` options and errors; the fine-tuned one answers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gristmill.cli import main

ROOT = Path(__file__).resolve().parents[2]


def walkthrough_block(heading: str = "From raw crawl to generated text") -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(f"## {heading}\n", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_walkthrough_runs_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "walk"
    block = walkthrough_block().replace("runs/walkthrough", str(out))
    block = block.replace(f"--set run.output={out}/train", f"--set run.output={out}/train --set run.steps=60")
    assert "run.steps=60" in block and block.count("gristmill ") == 6
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "report.html").is_file() and (out / "tokenizer/tokenizer.json").is_file()
    assert (out / "train/latest").read_text().strip() == "step-000060"

    manifest = json.loads((out / "packed/manifest.json").read_text())
    train = np.concatenate([np.fromfile(out / "packed" / s["bin"], dtype=manifest["dtype"])
                            for s in manifest["train"]["shards"]])  # fmt: skip
    p = np.bincount(train) / len(train)
    unigram = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    last = [json.loads(line) for line in (out / "train/metrics.jsonl").read_text().splitlines()][-1]
    assert last["val_loss"] < unigram - 1.0, (last["val_loss"], unigram)
    assert f"{unigram:.4f} nats per token, the unigram entropy" in result.stdout
    generated = result.stdout.split("The Debian installer", 1)[1].split("\n1 prompt(s)", 1)[0]
    assert len(generated.strip()) > 40

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The package\n\nDie Installation\nLa instalación de\n")
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        assert main(["generate", "--checkpoint", str(out / "train"), "--prompt-file", str(prompts), "--batch-size", "2",
                     "--max-new-tokens", "20", "--top-p", "0.9", "--output", str(tmp_path / name)]) == 0  # fmt: skip
        outputs.append([json.loads(line) for line in (tmp_path / name).read_text().splitlines()])
    assert outputs[0] == outputs[1]  # seeded
    assert [row["prompt"] for row in outputs[0]] == ["The package", "Die Installation", "La instalación de"]
    assert all(row["completion"] for row in outputs[0])
    for args, message in (
        (["--checkpoint", str(tmp_path), "--prompt", "x"], "not a checkpoint"),
        (["--checkpoint", str(out / "train"), "--prompt", "x", "--prompt-file", str(prompts)], "exactly one"),
        (
            ["--checkpoint", str(out / "train"), "--prompt", "x", "--tokenizer", str(tmp_path)],
            "is not a tokenizer folder or file",
        ),
        (["--checkpoint", str(out / "train"), "--prompt", "x", "--device", "tpu9"], "expected cpu, cuda or cuda:N"),
    ):
        assert main(["generate", *args]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and message in error[0]
    long_prompt = "The Debian installer asks for the network. " * 30  # longer than the context of 128: it slides
    assert (
        main(["generate", "--checkpoint", str(out / "train"), "--prompt", long_prompt, "--max-new-tokens", "300"]) == 0
    )
    said = " ".join(capsys.readouterr().out.split())
    assert said.count("generation goes on over the last 128") == 1

    block = walkthrough_block("After pretraining: fine-tune and chat").replace("runs/walkthrough", str(out))
    assert block.count("gristmill ") == 4
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "sft/latest").read_text().strip() == "step-000060"
    assert (out / "dpo/latest").read_text().strip() == "step-000060"
    sft = [json.loads(line) for line in (out / "sft/metrics.jsonl").read_text().splitlines()]
    assert sft[-1]["loss"] < sft[0]["loss"] - 3
    dpo = [json.loads(line) for line in (out / "dpo/metrics.jsonl").read_text().splitlines()]
    assert dpo[0]["loss"] == pytest.approx(np.log(2), abs=1e-6) and dpo[-1]["val_accuracy"] > 0.9
    reply = result.stdout.rsplit("on cpu", 1)[1].strip()
    assert len(reply) > 10
