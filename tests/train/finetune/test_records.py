"""Bad fine-tuning data: each kind of bad record is skipped and counted (and listed in skipped.jsonl), or, with
data.on_bad = "fail", one error line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_factory import CONVERSATIONS, finetune_config

from gristmill.cli import main
from tokenizer import Tokenizer
from tokenizer.chat import ChatFormat, Message
from train.finetune.records import BadRecord, conversation, preference

GOOD = [json.loads(line) for line in CONVERSATIONS.read_text().splitlines() if len(line) < 170]  # fit 64 tokens
BAD = {
    "unknown role 'tool'": {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "content": "x"},
            {"role": "assistant", "content": "ok"},
        ]
    },
    "empty assistant turn": {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]},
    "no assistant turn": {"messages": [{"role": "user", "content": "hi"}]},
    "a message's content is not text": {
        "messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "ok"}]
    },
    "longer than the context of 64 tokens": {
        "messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]
    },
}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_each_bad_conversation_is_skipped_counted_and_listed(tmp_path: Path, base, capsys):
    _, checkpoint = base
    lines = [json.dumps(record) for record in GOOD[:12]]
    bad_lines = {reason: len(lines) + i + 1 for i, reason in enumerate(BAD)}
    lines += [json.dumps(record) for record in BAD.values()]
    lines += ["{not json", "[1, 2]"]
    data = write(tmp_path / "mixed.jsonl", lines)
    config = finetune_config(tmp_path, "sft", checkpoint, data, data={"seq_len": 64, "val_fraction": 0.0},
                             run={"steps": 1})  # fmt: skip
    assert main(["finetune", "sft", str(config)]) == 0
    said = capsys.readouterr().out
    assert "7 skipped" in " ".join(said.split())
    skipped = [json.loads(line) for line in (tmp_path / "sft" / "skipped.jsonl").read_text().splitlines()]
    by_reason = {row["reason"]: row["line"] for row in skipped}
    for reason, line in bad_lines.items():
        assert by_reason[reason] == line
    assert by_reason["not JSON"] == len(lines) - 1 and by_reason["not a JSON object"] == len(lines)
    assert {row["file"] for row in skipped} == {str(data)}


@pytest.mark.parametrize("reason", list(BAD))
def test_with_on_bad_fail_a_bad_record_is_one_line_and_exit_2(tmp_path: Path, base, capsys, reason: str):
    _, checkpoint = base
    data = write(tmp_path / "bad.jsonl", [json.dumps(GOOD[0]), json.dumps(BAD[reason])])
    config = finetune_config(tmp_path, "sft", checkpoint, data, data={"seq_len": 64, "on_bad": "fail"})
    assert main(["finetune", "sft", str(config)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert f"{data}:2: {reason}" in error


def test_a_file_with_nothing_usable_is_one_line(tmp_path: Path, base, capsys):
    _, checkpoint = base
    data = write(tmp_path / "bad.jsonl", [json.dumps(BAD["no assistant turn"])])
    config = finetune_config(tmp_path, "sft", checkpoint, data)
    assert main(["finetune", "sft", str(config)]) == 2
    assert "no usable records (1 skipped (no assistant turn: 1))" in capsys.readouterr().err


def test_sharegpt_and_openai_forms_give_the_same_conversation(base):
    tokenizer, _ = base
    chat = ChatFormat(Tokenizer.load(tokenizer))
    openai = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                           {"role": "assistant", "content": "Hello."}]}  # fmt: skip
    sharegpt = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                  {"from": "gpt", "value": "Hello."}]}  # fmt: skip
    assert chat.render(conversation(openai, None)).ids == chat.render(conversation(sharegpt, None)).ids
    with_prompt = conversation({"messages": openai["messages"][1:]}, "Be brief.")
    assert with_prompt == conversation(openai, "Ignored: it has one.")


def test_preference_forms():
    prompt = [{"role": "user", "content": "2+2?"}]
    as_text = preference({"prompt": "2+2?", "chosen": "4", "rejected": "5"}, None)
    as_lists = preference({"chosen": [*prompt, {"role": "assistant", "content": "4"}],
                           "rejected": [*prompt, {"role": "assistant", "content": "5"}]}, None)  # fmt: skip
    assert as_text == as_lists
    trl_form = preference({"prompt": prompt, "chosen": [{"role": "assistant", "content": "4"}],
                           "rejected": [{"role": "assistant", "content": "5"}]}, None)  # fmt: skip
    assert trl_form == as_text
    assert as_text.prompt == [Message("user", "2+2?")] and (as_text.chosen, as_text.rejected) == ("4", "5")
    for record, reason in [
        ({"prompt": "q", "chosen": "a", "rejected": "a"}, "the same"),
        ({"prompt": "q", "chosen": "", "rejected": "b"}, "empty assistant turn"),
        ({"chosen": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "a"}],
          "rejected": [{"role": "user", "content": "y"}, {"role": "assistant", "content": "b"}]}, "differ before"),
        ({"chosen": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "a"}],
          "rejected": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}, "not the assistant"),
        ({"prompt": "q"}, "an answer is not text"),
        ({"prompt": "q", "chosen": [{"role": "assistant", "content": "a"}] * 2, "rejected": "b"}, "more than the one"),
    ]:  # fmt: skip
        with pytest.raises(BadRecord, match=reason):
            preference(record, None)
