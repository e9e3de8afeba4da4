"""Reading fine-tuning data (docs/formats.md): conversations for SFT, preference pairs for DPO, from JSONL.

Conversations come in the OpenAI form (`{"messages": [{"role", "content"}]}`) or the ShareGPT form
(`{"conversations": [{"from", "value"}]}`, `human` / `gpt` / `system`). Preference pairs are
`{"prompt", "chosen", "rejected"}` (the prompt a text or a message list, each answer a text or a list of
the one assistant message, as TRL's conversational form has it) or
`{"chosen": [...], "rejected": [...]}`: two conversations that differ only in their last, assistant, message.

A record that cannot be used (not JSON, an unknown role, an empty assistant turn, no assistant turn, ...) is
skipped and counted by reason, with its file and line kept for `skipped.jsonl`; with `on_bad = "fail"` the
first one is one error line instead. Length against the context is checked later, once tokenized.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gristmill_base.atomic import write_text_atomic
from gristmill_base.errors import UserError
from tokenizer.chat import ROLES, Message

OPENAI_ROLES = {role: role for role in ROLES}
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


class BadRecord(ValueError):
    """Why a record is skipped (the message is the reason, counted as given)."""


@dataclass
class Skips:
    """The records left out, by reason; with `fail`, the first is a UserError."""

    fail: bool
    reasons: Counter[str] = field(default_factory=Counter)
    where: list[dict[str, Any]] = field(default_factory=list)

    def add(self, reason: str, file: Path, line: int) -> None:
        if self.fail:
            raise UserError(f"{file}:{line}: {reason} (data.on_bad = 'skip' leaves such records out)")
        self.reasons[reason] += 1
        self.where.append({"file": str(file), "line": line, "reason": reason})

    def describe(self) -> str:
        if not self.reasons:
            return "none skipped"
        reasons = ", ".join(f"{reason}: {count:,}" for reason, count in self.reasons.most_common())
        return f"{sum(self.reasons.values()):,} skipped ({reasons})"

    def save(self, output: Path) -> None:
        """`skipped.jsonl` in the run's output: one line per record left out, with its file, line and reason."""
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.where)
        write_text_atomic(output / "skipped.jsonl", lines)


@dataclass(frozen=True)
class Preference:
    prompt: list[Message]
    chosen: str
    rejected: str


def read_records(path: Path, skips: Skips) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-empty line that is a JSON object; the rest counted in `skips`."""
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    skips.add("not JSON", path, number)
                    continue
                if not isinstance(record, dict):
                    skips.add("not a JSON object", path, number)
                    continue
                yield number, record
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise UserError(f"{path}: {error.strerror}") from None


def conversation(record: dict[str, Any], system_prompt: str | None) -> list[Message]:
    """The messages of an OpenAI- or ShareGPT-form record, `system_prompt` first where it has no system message."""
    if isinstance(record.get("messages"), list):
        messages = [_message(m, "role", "content", OPENAI_ROLES) for m in record["messages"]]
    elif isinstance(record.get("conversations"), list):
        messages = [_message(m, "from", "value", SHAREGPT_ROLES) for m in record["conversations"]]
    else:
        raise BadRecord("no messages (expected a `messages` or `conversations` list)")
    if not any(m.role == "assistant" for m in messages):
        raise BadRecord("no assistant turn")
    if system_prompt and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system_prompt))
    return messages


def _message(item: Any, role_key: str, content_key: str, roles: dict[str, str]) -> Message:
    if not isinstance(item, dict):
        raise BadRecord("a message is not an object")
    role = roles.get(item.get(role_key))  # type: ignore[arg-type]
    if role is None:
        raise BadRecord(f"unknown role {item.get(role_key)!r}")
    content = item.get(content_key)
    if not isinstance(content, str):
        raise BadRecord("a message's content is not text")
    if role == "assistant" and not content.strip():
        raise BadRecord("empty assistant turn")
    return Message(role, content)


def preference(record: dict[str, Any], system_prompt: str | None) -> Preference:
    """The prompt and the two answers of a preference record."""
    chosen, rejected = record.get("chosen"), record.get("rejected")
    if "prompt" in record:
        prompt = record["prompt"]
        if isinstance(prompt, str):
            messages = [Message("user", prompt)]
        elif isinstance(prompt, list):
            messages = [_message(m, "role", "content", OPENAI_ROLES) for m in prompt]
        else:
            raise BadRecord("`prompt` is neither text nor a message list")
        answers = [_answer(chosen), _answer(rejected)]
    elif isinstance(chosen, list) and isinstance(rejected, list) and chosen and rejected:
        whole = [[_message(m, "role", "content", OPENAI_ROLES) for m in side] for side in (chosen, rejected)]
        if whole[0][:-1] != whole[1][:-1]:
            raise BadRecord("chosen and rejected differ before their last message")
        messages = whole[0][:-1]
        answers = [_answer(side[-1]) for side in whole]
    else:
        raise BadRecord("expected `prompt`, `chosen` and `rejected`, or `chosen` and `rejected` message lists")
    if answers[0] == answers[1]:
        raise BadRecord("chosen and rejected are the same")
    if system_prompt and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system_prompt))
    return Preference(messages, answers[0], answers[1])


def _answer(answer: Any) -> str:
    """An answer given as text, as the assistant message itself, or as a list of that one message (TRL's
    conversational form)."""
    if isinstance(answer, list):
        if len(answer) != 1:
            raise BadRecord("an answer list holds more than the one assistant message")
        answer = answer[0]
    if isinstance(answer, dict):
        answer = _message(answer, "role", "content", OPENAI_ROLES)
    if isinstance(answer, Message):
        if answer.role != "assistant":
            raise BadRecord("the last message of chosen / rejected is not the assistant's")
        answer = answer.content
    if not isinstance(answer, str):
        raise BadRecord("an answer is not text")
    if not answer.strip():
        raise BadRecord("empty assistant turn")
    return answer
