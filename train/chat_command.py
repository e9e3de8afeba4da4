"""`gristmill chat`: talk to a fine-tuned checkpoint in the chat format (`tokenizer.chat`). With `--message`
one reply is printed; without, each line read from the terminal (or standard input) is a user message and the
conversation goes on until an empty input or end of input (`/reset` starts over).

A conversation outgrows a small context quickly: before each reply the oldest exchanges (a user message with
the replies to it; never the system prompt) are dropped until the prompt leaves room for the reply, and a
note says so the first time. A single message longer than the context still runs, the window sliding as
`gristmill generate` slides it (then the system prompt may slide out too).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from rich.console import Console

from gristmill_base.errors import UserError
from model.generate import Sampling
from tokenizer.chat import ChatFormat, Message
from train.generate_command import checkpoint_eos, model_and_tokenizer, stream


def fitted(chat: ChatFormat, messages: list[Message], room: int, context: int) -> tuple[list[int], int]:
    """The prompt for the next reply after dropping the oldest exchanges (a user message and the replies after
    it; never the system prompt nor the last message) until `room` tokens are left for the reply, and how
    many messages were dropped."""
    kept = list(messages)
    dropped = 0
    prompt = chat.prompt(kept)
    while len(prompt) + room > context:
        first = next((i for i, m in enumerate(kept[:-1]) if m.role != "system"), None)
        if first is None:
            break
        end = first + 1
        while end < len(kept) - 1 and kept[end].role == "assistant":  # its replies go with it
            end += 1
        dropped += end - first
        del kept[first:end]
        prompt = chat.prompt(kept)
    return prompt, dropped


def run_chat(checkpoint: str, message: str | None, system: str | None, max_new_tokens: int, sampling: Sampling,
             seed: int, tokenizer_dir: str | None, device: str | None, console: Console | None = None,
             lines: Iterator[str] | None = None) -> list[Message]:  # fmt: skip
    """The conversation, replies printed as they come; `lines`: the user's messages (default: the terminal)."""
    console = console or Console()
    if max_new_tokens < 1:
        raise UserError(f"--max-new-tokens {max_new_tokens}: must be at least 1")
    if message is not None and not message.strip():
        raise UserError("--message: empty")
    model, config, folder, tokenizer, target = model_and_tokenizer(checkpoint, tokenizer_dir, device)
    try:
        chat = ChatFormat(tokenizer)
        if max(chat.end_id, *chat.role_ids.values()) >= model.config.vocab_size:
            raise ValueError(f"the model has {model.config.vocab_size:,} token rows, none for the chat tokens")
    except ValueError as error:
        raise UserError(f"--checkpoint: {folder}: {error}; fine-tune it with `gristmill finetune sft`") from None
    stop = {chat.end_id, checkpoint_eos(config, tokenizer)} - {None}
    context = model.config.seq_len
    room = min(max_new_tokens, context // 2)  # a reply longer than half the context slides instead
    messages = [Message("system", system)] if system else []
    inputs = iter([message]) if message is not None else (lines or _terminal(console))
    noted = False
    console.print(f"[dim]{folder} ({model.parameter_count():,} parameters, context {context} tokens) on {target}[/]")
    for number, text in enumerate(inputs):
        if text.strip() == "/reset":
            messages = messages[:1] if system else []
            continue
        if not text.strip():
            break
        messages.append(Message("user", text))
        prompt, dropped = fitted(chat, messages, room, context)
        if dropped and not noted:
            console.print(f"[dim]note: the conversation outgrew the context of {context} tokens: the oldest "
                          "messages are left out of the prompt from here on[/]", highlight=False)  # fmt: skip
            noted = True
        reply, _ = stream(model, prompt, None, max_new_tokens, sampling, stop, seed + number, tokenizer, console)
        messages.append(Message("assistant", reply))
    return messages


def _terminal(console: Console) -> Iterator[str]:
    """Lines typed by the user (a `you>` prompt on a terminal), until end of input."""
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            console.print("[bold]you>[/] ", end="")
        line = sys.stdin.readline()
        if not line:
            return
        yield line.rstrip("\n")
