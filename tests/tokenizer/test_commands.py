"""`gristmill tokenizer ...` end to end, and loading GPT-2-style vocab.json + merges.txt."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path

import pytest
from conftest import SPECIAL

from gristmill.cli import main
from tokenizer import Tokenizer
from tokenizer.bytelevel import to_chars


def test_train_encode_decode_export_inspect(
    corpus_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tok"
    args = ["tokenizer", "train", "--input", str(corpus_file), "--vocab-size", "600", "--output", str(folder)]
    assert main([*args, "--special-token", SPECIAL, "--workers", "2"]) == 0
    assert "bytes/token" in capsys.readouterr().err
    tokenizer = Tokenizer.load(str(folder))
    assert tokenizer.vocab_size == 600 and json.loads((folder / "gristmill.json").read_text())["pattern"] == "gpt4"

    text = f"The mill turns {SPECIAL} again."
    assert main(["tokenizer", "encode", str(folder), "--text", text, "--allow-special"]) == 0
    printed = capsys.readouterr().out.split()
    assert [int(i) for i in printed] == tokenizer.encode(text, allowed_special="all")
    assert main(["tokenizer", "decode", str(folder), *printed]) == 0
    assert capsys.readouterr().out == text

    ranks = tmp_path / "tok.tiktoken"
    assert main(["tokenizer", "export", str(folder), "--tiktoken", str(ranks)]) == 0
    lines = ranks.read_text().split("\n")[:-1]
    assert len(lines) == len(tokenizer.vocab)
    assert {base64.b64decode(line.split()[0]): int(line.split()[1]) for line in lines} == {
        token: i for i, token in tokenizer.vocab.items()
    }

    capsys.readouterr()
    assert main(["tokenizer", "inspect", str(folder), str(folder / "tokenizer.json"), "--text", str(corpus_file)]) == 0
    screen = capsys.readouterr().out
    assert "bytes/token" in screen and "longest tokens" in screen and "600" in screen


SHORT = re.compile(r"vocab ([\d,]+) of ([\d,]+) requested")


@pytest.mark.parametrize(
    ("vocab_size", "extra", "reached", "hint"),
    [
        (300, ["--min-frequency", "2"], 258, "--min-frequency 1"),  # ab+c occurs once
        (300, [], 259, "--vocab-size 259"),  # every pre-token is one token
        (259, [], 259, None),  # reached exactly: no note
        (258, ["--min-frequency", "2"], 258, None),
    ],
)
def test_train_says_in_one_line_when_the_corpus_cannot_give_the_vocab_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], vocab_size: int, extra: list, reached: int, hint: str | None
) -> None:
    corpus = tmp_path / "small.txt"
    corpus.write_text("abab abab abc")  # pre-tokens abab x2, abc, " " x2
    out = tmp_path / "tok"
    args = ["tokenizer", "train", "--input", str(corpus), "--vocab-size", str(vocab_size), "--output", str(out)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the summary says it, not a Python warning as well
        assert main([*args, "--pattern", r"\S+|\s+", "--workers", "1", *extra]) == 0
    assert Tokenizer.load(str(out)).vocab_size == reached
    notes = [line for line in capsys.readouterr().err.splitlines() if SHORT.search(line)]
    if hint is None:
        assert notes == []
    else:
        assert len(notes) == 1 and hint in notes[0]
        found = SHORT.search(notes[0])
        assert found and [int(n.replace(",", "")) for n in found.groups()] == [reached, vocab_size]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tokenizer", "encode", "{missing}", "--text", "x"], "no such tokenizer file or folder"),
        (["tokenizer", "train", "--input", "{missing}", "--vocab-size", "300", "--output", "{out}"], "no such file"),
        (["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "10", "--output", "{out}"], "smaller than 256"),
        (["tokenizer", "decode", "{tok}", "1", "x"], "ids:"),
        (["tokenizer", "encode", "{tok}", "--text", SPECIAL], "special token"),
    ],
)
def test_bad_requests_are_one_line(
    corpus_file: Path, trained: Tokenizer, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list, message: str
) -> None:
    trained.save(str(tmp_path / "tok"))
    values = {"missing": str(tmp_path / "nope"), "out": str(tmp_path / "o"), "corpus": str(corpus_file)}
    values["tok"] = str(tmp_path / "tok")
    assert main([a.format(**values) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("gristmill: error:")


def test_gpt2_style_vocab_and_merges_load_with_the_same_tokenization(trained: Tokenizer, tmp_path: Path) -> None:
    vocab = {to_chars(token): i for i, token in trained.vocab.items()}
    shuffled = dict(sorted(vocab.items()))  # GPT-2 numbers its byte tokens by character, not by byte
    renumbered = {token: i for i, token in enumerate(shuffled)}
    (tmp_path / "vocab.json").write_text(json.dumps(renumbered))
    merges = ["#version: 0.2", *(f"{to_chars(a)} {to_chars(b)}" for a, b in trained.merges)]
    (tmp_path / "merges.txt").write_text("\n".join(merges) + "\n")
    loaded = Tokenizer.from_gpt2_files(tmp_path / "vocab.json", tmp_path / "merges.txt", pattern="gpt4")
    text = "The miller's 3 sacks: 1234 kg, Müller, 粉屋 🙂"
    assert loaded.decode(loaded.encode(text)) == text
    assert [loaded.vocab[i] for i in loaded.encode(text)] == [trained.vocab[i] for i in trained.encode(text)]
