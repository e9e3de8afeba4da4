"""`gristmill finetune dpo`: the loss starts at log 2 when the reference is the policy, the reward accuracy
rises above 0.9 and the margin grows on pairs with a learnable rule, and a resumed run continues exactly.

Which tokens count as the answer: every token after the prompt's closing `<|assistant|>` role token, that is the
answer's content and its turn end `<|end|>` (the model learns to stop), each predicted from all before it; the
role token and the prompt do not count. The per-answer log-probabilities of `pair_batch` + `sequence_logps` are
checked against a sum over exactly those tokens computed here from a plain forward pass, and against TRL's
DPOTrainer on the same weights (exported with `gristmill export --format hf`); the loss against TRL's and
against the published formulas (DPO, Rafailov et al. 2023; its label-smoothed form, Mitchell 2023 "cDPO")."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from chat_factory import CONVERSATIONS, PREFERENCES, finetune_config, killed_after

from gristmill.cli import main
from tokenizer import Tokenizer
from tokenizer.chat import ChatFormat
from train.checkpoint import read_model
from train.finetune.command import _pair_renderer
from train.finetune.dpo import DpoLoss, pair_batch, sequence_logps
from train.finetune.records import preference

BETA = 0.1


def message(role: str, content: str) -> dict:
    return {"role": role, "content": content}


PAIRS = [
    # a text prompt, answers of very different lengths (the batch pads)
    {"prompt": "What does the ls command do?", "chosen": "It lists the files in a folder.", "rejected": "No."},
    # a system prompt
    {"prompt": [message("system", "Answer briefly."), message("user", "How many days are in a leap year?")],
     "chosen": "366. February has 29 days instead of 28.", "rejected": "365, as every year has."},
    # an earlier assistant turn in the prompt (not part of the answer), answers as TRL's one-message lists
    {"prompt": [message("user", "What is a tuple?"), message("assistant", "A list that cannot change."),
                message("user", "Which one is faster?")],
     "chosen": [message("assistant", "Tuples, slightly; choose by whether the data should change.")],
     "rejected": [message("assistant", "Lists are always faster than tuples, by far.")]},
    {"prompt": [message("user", "How do I see which folder I am in?")],
     "chosen": "Run pwd. It prints the full path of the current working directory, from the root down.",
     "rejected": "Ask someone else."},
]  # fmt: skip
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


@pytest.fixture(scope="module")
def policy_and_reference(base, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(tokenizer, policy, reference): the reference is the base after one SFT step (it then has rows for the chat
    tokens), the policy that reference after three DPO steps, so the two differ."""
    tokenizer, checkpoint = base
    folder = tmp_path_factory.mktemp("dpo-weights")
    sft = finetune_config(folder, "sft", checkpoint, CONVERSATIONS, data={"on_bad": "skip"}, run={"steps": 1})
    assert main(["finetune", "sft", str(sft)]) == 0
    dpo = finetune_config(folder, "dpo", folder / "sft", PREFERENCES, run={"steps": 3}, optim={"lr": 1e-2})
    assert main(["finetune", "dpo", str(dpo)]) == 0
    return tokenizer, folder / "dpo", folder / "sft"


def rendered_text(record: dict) -> tuple[str, list[str]]:
    """The prompt of a pair as chat-format text (ending with the assistant's role token) and its two answers."""
    prompt = record["prompt"]
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
    text = "".join(f"<|{m['role']}|>{m['content']}<|end|>" for m in messages) + "<|assistant|>"
    answers = [a[0]["content"] if isinstance(a, list) else a for a in (record["chosen"], record["rejected"])]
    return text, answers


def direct_logps(model: torch.nn.Module, tokenizer: Tokenizer, records: list[dict]) -> torch.Tensor:
    """[chosen of each pair, then rejected of each]: the text rendered and encoded here, one sequence at a time, the
    log-probability summed over the tokens after the last `<|assistant|>` (the answer and its `<|end|>`)."""
    role = tokenizer.special_ids["<|assistant|>"]
    sums = {}
    for side in (0, 1):
        for number, record in enumerate(records):
            prompt, answers = rendered_text(record)
            ids = tokenizer.encode(prompt + answers[side] + "<|end|>", allowed_special="all")
            start = len(ids) - ids[::-1].index(role)  # the answer's first token
            with torch.no_grad():
                logps = model(torch.tensor([ids]))[0].double().log_softmax(-1)
            sums[side, number] = sum(logps[t - 1, ids[t]] for t in range(start, len(ids)))
    return torch.tensor([sums[side, number] for side in (0, 1) for number in range(len(records))])


def gristmill_logps(model: torch.nn.Module, chat: ChatFormat, records: list[dict]) -> torch.Tensor:
    """What a DPO step computes: the pairs read and rendered as `gristmill finetune dpo` does, one padded batch."""
    render = _pair_renderer(chat, model.config.seq_len)
    pairs = [render(preference(record, None)) for record in records]
    batch = pair_batch(pairs, np.arange(len(pairs)), chat.end_id)
    assert (batch.tokens == chat.end_id).any()  # padded: the pairs differ in length
    with torch.no_grad():
        return sequence_logps(model, batch, torch.device("cpu"))


def test_answer_log_probabilities_sum_exactly_the_answer_tokens_and_its_turn_end(policy_and_reference):
    tokenizer_path, policy, _ = policy_and_reference
    tokenizer = Tokenizer.load(tokenizer_path)
    model = read_model(policy)[0]
    expected = direct_logps(model, tokenizer, PAIRS)
    torch.testing.assert_close(gristmill_logps(model, ChatFormat(tokenizer), PAIRS).double(), expected, atol=1e-4,
                               rtol=1e-6)  # fmt: skip


def trl_rows(records: list[dict]) -> list[dict]:
    """The pairs in TRL's conversational form (message lists; answers as one-message lists)."""
    rows = []
    for record in records:
        prompt = record["prompt"]
        _, (chosen, rejected) = rendered_text(record)
        messages = [message("user", prompt)] if isinstance(prompt, str) else prompt
        answers = [message("assistant", chosen)], [message("assistant", rejected)]
        rows.append({"prompt": messages, "chosen": answers[0], "rejected": answers[1]})
    return rows


@pytest.mark.slow
def test_log_probabilities_and_loss_equal_trls_dpo_trainer_on_the_same_weights(policy_and_reference, tmp_path):
    from datasets import Dataset  # here: trl takes seconds to import
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer_path, policy, reference = policy_and_reference
    checkpoints = {"policy": policy, "reference": reference}
    hf = {}
    for name, checkpoint in checkpoints.items():
        exported = tmp_path / name
        assert main(["export", "--checkpoint", str(checkpoint), "--format", "hf", "--output", str(exported)]) == 0
        hf[name] = AutoModelForCausalLM.from_pretrained(str(exported), dtype=torch.float32).eval()
    config = DPOConfig(output_dir=str(tmp_path / "trl"), beta=BETA, per_device_train_batch_size=len(PAIRS),
                       bf16=False, fp16=False, use_cpu=True, report_to="none", max_length=None,
                       dataloader_num_workers=0, disable_tqdm=True)  # fmt: skip
    hf_tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "policy"))
    trainer = DPOTrainer(model=hf["policy"], ref_model=hf["reference"], args=config, processing_class=hf_tokenizer,
                         train_dataset=Dataset.from_list(trl_rows(PAIRS)))  # fmt: skip
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(PAIRS))])  # in order, one batch
    chat = ChatFormat(Tokenizer.load(tokenizer_path))
    ours = {name: gristmill_logps(read_model(folder)[0], chat, PAIRS) for name, folder in checkpoints.items()}
    for name, model in hf.items():
        theirs = torch.cat(trainer.compute_ref_log_probs(model, inputs))  # TRL's per-answer sums, any model
        torch.testing.assert_close(ours[name], theirs.float(), atol=1e-4, rtol=1e-6)
    assert not torch.allclose(ours["policy"], ours["reference"], atol=1e-2)  # the policy has moved
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, inputs)  # sigmoid loss: DPO without label smoothing
    loss, figures = DpoLoss(BETA, 0.0)(ours["policy"], ours["reference"])
    torch.testing.assert_close(loss, trl_loss.float(), atol=1e-5, rtol=1e-5)
    reported = {key: values[-1] for key, values in trainer._metrics["eval"].items()}  # means over the batch
    names = {"dpo/accuracy": "rewards/accuracies", "dpo/chosen_reward": "rewards/chosen",
             "dpo/rejected_reward": "rewards/rejected", "dpo/margin": "rewards/margins"}  # fmt: skip
    for key, trl_key in names.items():
        total, count = figures[key].tolist()
        assert total / count == pytest.approx(reported[trl_key], abs=1e-5), key


@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_the_loss_is_the_published_dpo_loss_of_the_direct_log_probabilities(policy_and_reference,
                                                                           label_smoothing: float):  # fmt: skip
    """DPO: -log sigmoid(beta h), h = (log pi(chosen) - log ref(chosen)) - (log pi(rejected) - log ref(rejected));
    conservative DPO with label smoothing e: -(1 - e) log sigmoid(beta h) - e log sigmoid(-beta h). Mean over pairs."""
    tokenizer_path, policy, reference = policy_and_reference
    tokenizer = Tokenizer.load(tokenizer_path)
    models = [read_model(folder)[0] for folder in (policy, reference)]
    pi, ref = (direct_logps(model, tokenizer, PAIRS).tolist() for model in models)
    n, e = len(PAIRS), label_smoothing
    losses = []
    for pc, pr, rc, rr in zip(pi[:n], pi[n:], ref[:n], ref[n:], strict=True):
        h = (pc - rc) - (pr - rr)
        losses.append(-(1 - e) * math.log(sigmoid(BETA * h)) - e * math.log(sigmoid(-BETA * h)))
    chat = ChatFormat(tokenizer)
    loss, _ = DpoLoss(BETA, e)(*(gristmill_logps(model, chat, PAIRS) for model in models))
    assert float(loss) == pytest.approx(sum(losses) / n, abs=1e-5)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))
