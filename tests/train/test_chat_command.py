"""`gristmill chat`: one reply, or a conversation read line by line; the oldest messages leave the prompt
(never the system prompt) when the conversation outgrows the context, said once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from chat_factory import CONVERSATIONS, base_model, finetune_config
from rich.console import Console

from gristmill.cli import main
from model.generate import Sampling
from tokenizer import Tokenizer
from tokenizer.chat import ChatFormat, Message
from train.chat_command import fitted, run_chat


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tokenizer, a checkpoint fine-tuned for two steps: it has rows for the chat tokens)."""
    folder = tmp_path_factory.mktemp("chat")
    tokenizer, base = base_model(folder, seq_len=64)
    config = finetune_config(folder, "sft", base, CONVERSATIONS, data={"on_bad": "skip"}, run={"steps": 2})
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


def test_one_message_prints_one_reply(small, capsys):
    _, checkpoint = small
    assert main(["chat", "--checkpoint", str(checkpoint), "--message", "Hello", "--max-new-tokens", "5"]) == 0
    assert str(checkpoint) in capsys.readouterr().out


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
