"""`gristmill chat`: one reply, or a conversation read line by line; the oldest messages leave the prompt
(never the system prompt) when the conversation outgrows the context, said once. At temperature 0 the printed
replies are those of a plain greedy loop written here (a full forward pass per token, argmax, stop at the turn
end), over the checkpoint's weights read straight from its safetensors file."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from chat_factory import CONVERSATIONS, EOS, base_model, finetune_config
from rich.console import Console
from safetensors.torch import load_file

from gristmill.cli import main
from model.config import GPTConfig
from model.generate import Sampling
from model.gpt import GPT
from tokenizer import Tokenizer
from tokenizer.chat import ChatFormat, Message
from train.chat_command import fitted, run_chat

NEW_TOKENS = 8


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tokenizer, a checkpoint fine-tuned for 12 steps: it has rows for the chat tokens, and its greedy replies
    already depend on the prompt)."""
    folder = tmp_path_factory.mktemp("chat")
    tokenizer, base = base_model(folder, seq_len=64)
    config = finetune_config(folder, "sft", base, CONVERSATIONS, data={"on_bad": "skip"}, run={"steps": 12})
    assert main(["finetune", "sft", str(config)]) == 0
    return tokenizer, folder / "sft"


def test_a_conversation_keeps_its_turns_and_says_once_when_it_outgrows_the_context(small):
    _, checkpoint = small
    out = io.StringIO()
    lines = iter(["What does the ls command do?", "And pwd?", "How do I count lines?", "Thanks!", "/reset", "Hi"])
    messages = run_chat(str(checkpoint), None, "Be brief.", 12, Sampling(temperature=0), 0, None, "cpu",
                        Console(file=out, width=200), lines)  # fmt: skip
    assert [m.role for m in messages] == ["system", "user", "assistant"]  # after /reset, one exchange
    assert messages[1].content == "Hi"
    said = out.getvalue()
    assert said.count("outgrew the context of 64 tokens") == 1


def test_fitted_drops_the_oldest_messages_but_never_the_system_prompt_or_the_last(small):
    tokenizer, _ = small
    chat = ChatFormat(Tokenizer.load(tokenizer))
    messages = [Message("system", "Be brief."), *[Message(r, f"message number {i} " * 3)
                for i, r in enumerate(["user", "assistant"] * 4 + ["user"])]]  # fmt: skip
    prompt, dropped = fitted(chat, messages, 10, 64)
    assert len(prompt) + 10 <= 64 and dropped > 0 and dropped % 2 == 0  # whole exchanges
    kept = [messages[0], *messages[1 + dropped :]]
    assert prompt == chat.prompt(kept) and kept[1].role == "user"
    lone = [Message("user", "word " * 100)]
    assert fitted(chat, lone, 10, 64) == (chat.prompt(lone), 0)  # too long alone: kept, the window slides


def greedy_replies(tokenizer_path: Path, checkpoint: Path, system: str | None, users: list[str]) -> list[str]:
    """The replies of a conversation by argmax over a full forward pass per new token, stopping at the turn end
    or end-of-text; each reply goes back into the conversation as its text, as a user would see it."""
    folder = checkpoint / (checkpoint / "latest").read_text().strip()
    config = json.loads((folder / "config.json").read_text())["model"]
    model = GPT(GPTConfig(**{**config, "kernels": "torch"}))
    model.load_state_dict(load_file(folder / "model.safetensors"))
    model.eval()
    chat = ChatFormat(Tokenizer.load(tokenizer_path))
    stop = {chat.end_id, chat.tokenizer.special_ids[EOS]}
    messages = [Message("system", system)] if system else []
    replies = []
    for text in users:
        messages.append(Message("user", text))
        ids = chat.prompt(messages)
        assert len(ids) + NEW_TOKENS <= model.config.seq_len  # no message is dropped, nothing slides
        new: list[int] = []
        with torch.no_grad():
            for _ in range(NEW_TOKENS):
                token = int(model(torch.tensor([ids + new]))[0, -1].argmax())
                if token in stop:
                    break
                new.append(token)
        replies.append(chat.tokenizer.decode_bytes(new).decode("utf-8", errors="replace"))
        messages.append(Message("assistant", replies[-1]))
    return replies


def test_one_message_prints_the_greedy_reply(small, capsys):
    tokenizer, checkpoint = small
    argv = ["chat", "--checkpoint", str(checkpoint), "--message", "How do I list files?", "--system", "Be brief.",
            "--temperature", "0", "--max-new-tokens", str(NEW_TOKENS), "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    (reply,) = greedy_replies(tokenizer, checkpoint, "Be brief.", ["How do I list files?"])
    out = capsys.readouterr().out
    assert str(checkpoint) in out.splitlines()[0]
    expected = f"\n{reply}\n"
    assert out[-len(expected) :] == expected


def test_a_conversation_on_standard_input_prints_each_greedy_reply(small):
    tokenizer, checkpoint = small
    users = ["What does ls do?", "And pwd?", "Thanks!"]
    command = [sys.executable, "-m", "gristmill", "chat", "--checkpoint", str(checkpoint), "--temperature", "0",
               "--max-new-tokens", str(NEW_TOKENS), "--device", "cpu"]  # fmt: skip
    lines = "".join(u + "\n" for u in users)
    result = subprocess.run(command, input=lines, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    replies = greedy_replies(tokenizer, checkpoint, None, users)
    assert len(set(replies)) > 1  # the earlier turns change what comes next
    expected = "".join(f"{reply}\n" for reply in replies)
    assert result.stdout[-len(expected) :] == expected


def test_a_checkpoint_without_chat_tokens_is_one_line(tmp_path: Path, capsys):
    tokenizer, checkpoint = base_model(tmp_path, chat=False)
    assert main(["chat", "--checkpoint", str(checkpoint), "--message", "Hello"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "add-special" in error and "finetune sft" in error
    assert main(["tokenizer", "add-special", str(tokenizer), "--chat"]) == 0
    capsys.readouterr()
    assert main(["chat", "--checkpoint", str(checkpoint), "--message", "Hello"]) == 2  # pretrained only
    error = capsys.readouterr().err.strip()
    assert "none for the chat tokens" in error and "finetune sft" in error
