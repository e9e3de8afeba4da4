"""`gristmill finetune sft`: packed conversations are computed as if alone, the loss is on the assistant's
tokens and falls on the bundled conversations, a resumed run continues exactly, and the exported model
with its chat template gives transformers the same ids and logits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from chat_factory import CONVERSATIONS, finetune_config, killed_after
from rich.console import Console

from gristmill.cli import main
from tokenizer.chat import Message
from train.finetune.base import start_from
from train.finetune.records import conversation
from train.finetune.sft import IGNORE, pack, window_loss, windows_of


def metrics(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_a_packed_window_computes_each_conversation_as_if_alone(base):
    _, checkpoint = base
    start = start_from(str(checkpoint), None, "torch", Console(quiet=True))
    records = [json.loads(line) for line in CONVERSATIONS.read_text().splitlines() if len(line) < 200][:6]
    rendered = [start.chat.render(conversation(record, None)) for record in records]
    groups = pack(rendered, np.arange(len(rendered)), 128)
    assert sum(map(len, groups)) == 6 and len(groups) < 6  # several per window
    windows = windows_of(rendered, groups, 128, start.chat.end_id)
    start.model.eval()
    with torch.no_grad():
        packed = window_loss(start.model, windows, torch.device("cpu"), reduction="none")
        for row, group in enumerate(groups):
            at = 0
            for index in group:
                ids, learn = rendered[index].ids, rendered[index].learn
                targets = torch.tensor([[t if keep else IGNORE for t, keep in zip(ids[1:], learn[1:], strict=True)]])
                alone = start.model(torch.tensor([ids[:-1]]), targets, reduction="none")[0]
                torch.testing.assert_close(packed[row, at : at + len(ids) - 1], alone, atol=1e-5, rtol=0)
                at += len(ids) - 1
            assert (windows.targets[row, at:] == IGNORE).all()


def test_only_the_assistants_tokens_are_targets(base):
    _, checkpoint = base
    start = start_from(str(checkpoint), None, "torch", Console(quiet=True))
    messages = [Message("system", "Be brief."), Message("user", "Hi there"), Message("assistant", "Hello."),
                Message("user", "Bye"), Message("assistant", "Goodbye.")]  # fmt: skip
    rendered = start.chat.render(messages)
    windows = windows_of([rendered], [[0]], 64, start.chat.end_id)
    learned = [int(t) for t in windows.targets[0] if t != IGNORE]
    assistant = [[*start.tokenizer.encode(text), start.chat.end_id] for text in ("Hello.", "Goodbye.")]
    assert learned == assistant[0] + assistant[1]
    everything = windows_of([start.chat.render(messages, learn_all=True)], [[0]], 64, start.chat.end_id)
    assert [int(t) for t in everything.targets[0] if t != IGNORE] == rendered.ids[1:]


def test_sft_loss_falls_on_the_bundled_conversations_and_resumes_exactly(tmp_path: Path, base):
    _, checkpoint = base
    settings = {"run": {"steps": 16, "eval_every": 8, "checkpoint_every": 8, "log_every": 4}}
    whole = finetune_config(tmp_path, "whole", checkpoint, CONVERSATIONS, **settings)
    assert main(["finetune", "sft", str(whole)]) == 0
    records = metrics(tmp_path / "whole")
    assert records[-1]["loss"] < records[0]["loss"] - 1.0
    evaluated = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(evaluated) == 2 and evaluated[1] < evaluated[0]
    assert 0.2 < records[0]["learned_share"] < 0.9
    resumed = tmp_path / "resumed"
    killed_after(tmp_path / "whole", 8, resumed)
    again = finetune_config(tmp_path, "resumed", checkpoint, CONVERSATIONS, **settings)
    assert main(["finetune", "sft", str(again), "--resume"]) == 0
    rest = metrics(resumed)
    assert [r["step"] for r in rest] == list(range(9, 17))
    assert [r["loss"] for r in rest] == [r["loss"] for r in records[8:]]
    final = "step-000016/model.safetensors"
    assert (resumed / final).read_bytes() == (tmp_path / "whole" / final).read_bytes()


def test_the_exported_chat_model_gives_transformers_the_same_ids_and_logits(tmp_path: Path, base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, checkpoint = base
    config = finetune_config(tmp_path, "sft", checkpoint, CONVERSATIONS, run={"steps": 2})
    assert main(["finetune", "sft", str(config)]) == 0
    assert main(["export", "--checkpoint", str(tmp_path / "sft"), "--output", str(tmp_path / "hf")]) == 0
    hf_tokenizer = AutoTokenizer.from_pretrained(tmp_path / "hf")
    hf_model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    start = start_from(str(tmp_path / "sft"), None, "torch", Console(quiet=True))
    start.model.eval()
    assert main(["export", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "base-hf")]) == 0
    base_config = json.loads((tmp_path / "base-hf" / "tokenizer_config.json").read_text())
    assert "chat_template" not in base_config  # the pretrained model has no rows for the chat tokens
    generation = json.loads((tmp_path / "hf" / "generation_config.json").read_text())
    assert start.chat.end_id in generation["eos_token_id"]
    for line in CONVERSATIONS.read_text().splitlines()[:8]:
        messages = conversation(json.loads(line), None)
        as_dicts = [{"role": m.role, "content": m.content} for m in messages]
        ids = hf_tokenizer.apply_chat_template(as_dicts, tokenize=True, return_dict=False)
        assert ids == start.chat.render(messages).ids
        prompt = hf_tokenizer.apply_chat_template(as_dicts[:-1], tokenize=True, add_generation_prompt=True,
                                                  return_dict=False)  # fmt: skip
        assert prompt == start.chat.prompt(messages[:-1])
        window = torch.tensor([ids[:128]])
        with torch.no_grad():
            torch.testing.assert_close(hf_model(window).logits, start.model(window), atol=1e-4, rtol=1e-4)
