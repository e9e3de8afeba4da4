"""`gristmill finetune dpo`: the loss starts at log 2 when the reference is the policy, the reward accuracy
rises above 0.9 and the margin grows on pairs with a learnable rule, and a resumed run continues exactly."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from chat_factory import PREFERENCES, finetune_config, killed_after

from gristmill.cli import main
from train.finetune.dpo import DpoLoss

WORDS = ["blue", "green", "river", "stone", "apple", "window", "garden", "summer", "paper", "music", "bread", "cloud"]


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def rule_pairs(path: Path, count: int = 96) -> Path:
    """Pairs whose rule is learnable: the chosen answer says the prompt's word in lower case, the rejected one
    in capitals."""
    rng = random.Random(0)
    rows = []
    for _ in range(count):
        word = rng.choice(WORDS)
        prompt = f"Say the word {word} {rng.choice(['once', 'please', 'now', 'again'])}."
        rows.append({"prompt": prompt, "chosen": f"{word}.", "rejected": f"{word.upper()}."})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.mark.parametrize("precompute", [False, True])
def test_with_the_policy_as_reference_the_first_loss_is_log_2(tmp_path: Path, base, precompute: bool):
    _, checkpoint = base
    config = finetune_config(tmp_path, "dpo", checkpoint, PREFERENCES, run={"steps": 1},
                             dpo={"precompute_reference": precompute, "beta": 0.5, "label_smoothing": 0.1})  # fmt: skip
    assert main(["finetune", "dpo", str(config)]) == 0
    (first,) = metrics(tmp_path / "dpo")
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert first["dpo/margin"] == pytest.approx(0, abs=1e-6)


def test_reward_accuracy_rises_and_the_margin_grows_on_a_learnable_rule(tmp_path: Path, base):
    _, checkpoint = base
    data = rule_pairs(tmp_path / "rule.jsonl")
    config = finetune_config(tmp_path, "dpo", checkpoint, data, data={"val_fraction": 0.2},
                             run={"steps": 30, "eval_every": 10, "log_every": 10}, dpo={"beta": 0.1})  # fmt: skip
    assert main(["finetune", "dpo", str(config)]) == 0
    records = metrics(tmp_path / "dpo")
    assert records[-1]["dpo/accuracy"] > 0.9
    assert [r["val_accuracy"] for r in records if "val_accuracy" in r][-1] > 0.9
    margins = [r["dpo/margin"] for r in records]
    assert sum(margins[-5:]) / 5 > sum(margins[:5]) / 5 + 1.0
    assert records[-1]["dpo/chosen_reward"] > records[-1]["dpo/rejected_reward"]


def test_a_resumed_dpo_run_continues_exactly(tmp_path: Path, base):
    _, checkpoint = base
    settings = {"run": {"steps": 8, "checkpoint_every": 4, "eval_every": 4}, "dpo": {"precompute_reference": True}}
    whole = finetune_config(tmp_path, "whole", checkpoint, PREFERENCES, **settings)
    assert main(["finetune", "dpo", str(whole)]) == 0
    resumed = tmp_path / "resumed"
    killed_after(tmp_path / "whole", 4, resumed)
    again = finetune_config(tmp_path, "resumed", checkpoint, PREFERENCES, **settings)
    assert main(["finetune", "dpo", str(again), "--resume"]) == 0
    assert [r["loss"] for r in metrics(resumed)] == [r["loss"] for r in metrics(tmp_path / "whole")[4:]]
    final = "step-000008/model.safetensors"
    assert (resumed / final).read_bytes() == (tmp_path / "whole" / final).read_bytes()


def test_resuming_an_sft_run_as_dpo_is_refused(tmp_path: Path, base, capsys):
    _, checkpoint = base
    sft = finetune_config(tmp_path, "run", checkpoint, PREFERENCES.parent / "conversations.jsonl", run={"steps": 1})
    assert main(["finetune", "sft", str(sft)]) == 0
    dpo = finetune_config(tmp_path, "run", checkpoint, PREFERENCES, run={"steps": 2})
    assert main(["finetune", "dpo", str(dpo), "--resume"]) == 2
    assert "a checkpoint of sft, not of dpo" in capsys.readouterr().err


def test_the_loss_and_rewards_follow_their_definitions():
    torch.manual_seed(0)
    policy, reference = torch.randn(8), torch.randn(8)
    beta, e = 0.3, 0.2
    loss, figures = DpoLoss(beta, e)(policy, reference)
    chosen, rejected = beta * (policy[:4] - reference[:4]), beta * (policy[4:] - reference[4:])
    d = chosen - rejected
    expected = (-(1 - e) * F.logsigmoid(d) - e * F.logsigmoid(-d)).mean()
    torch.testing.assert_close(loss, expected)
    assert figures["dpo/accuracy"].tolist() == [float((chosen > rejected).sum()), 4.0]
    torch.testing.assert_close(figures["dpo/margin"][0], d.sum())
