"""`gristmill tokenizer ...` end to end, and loading GPT-2-style vocab.json + merges.txt."""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import SPECIAL
from tokenizers import Tokenizer as HFTokenizer
from vocab_factory import gpt2_files, rank_file

from gristmill.cli import build_parser, main
from tokenizer import Tokenizer
from tokenizer.bytelevel import to_chars
from tokenizer.hf_json import hf_document
from tokenizer.patterns import PRESETS
from tokenizer.tiktoken_file import write_tiktoken


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


@pytest.fixture(scope="module")
def workspace(trained: Tokenizer, corpus_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths for the bad requests: a tokenizer folder, a rank file of no known encoding, files of the wrong
    kind, a damaged Parquet and gzip file, an empty folder, and paths that do not exist."""
    root = tmp_path_factory.mktemp("bad")
    trained.save(root / "tok")
    write_tiktoken(trained.definition, root / "mine.tiktoken")
    pq.write_table(pa.table({"body": ["The mill turns."] * 3}), root / "docs.parquet")
    (root / "damaged.parquet").write_bytes(b"PAR1 not really")
    (root / "damaged.jsonl.gz").write_bytes(b"not gzip at all")
    (root / "file.txt").write_text("The mill turns.")
    (root / "latin1.txt").write_bytes("Mühle".encode("latin-1"))
    (root / "empty").mkdir()
    names = {
        "tok": "tok", "ranks": "mine.tiktoken", "parquet": "docs.parquet", "damaged_parquet": "damaged.parquet",
        "damaged_gz": "damaged.jsonl.gz", "file": "file.txt", "latin1": "latin1.txt", "empty": "empty",
    }  # fmt: skip
    paths = {key: str(root / name) for key, name in names.items()}
    return paths | {"corpus": str(corpus_file), "missing": str(root / "MISSING"), "out": str(root / "out")}


TRAIN = ["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "300", "--output", "{out}"]
BAD_REQUESTS = [
    # the case: the message names --text, not --input
    (["tokenizer", "inspect", "{tok}", "--text", "{missing}"], "--text {missing}: no such file or folder"),
    (["tokenizer", "inspect", "{tok}", "--text", "{empty}"], "--text {empty}: no text, JSONL or Parquet files"),
    (["tokenizer", "inspect", "{tok}", "--text", "{parquet}"], "--text {parquet}: {parquet} has no"),
    (["tokenizer", "inspect", "{missing}"], "{missing}: no tokenizer.json"),
    (["tokenizer", "inspect", "{file}"], "{file}: not a tokenizer.json"),
    (
        ["tokenizer", "train", "--input", "{missing}", "--vocab-size", "300", "--output", "{out}"],
        "--input {missing}: no such file or folder",
    ),
    (
        ["tokenizer", "train", "--input", "{empty}", "--vocab-size", "300", "--output", "{out}"],
        "--input {empty}: no text, JSONL or Parquet files found",
    ),
    (
        ["tokenizer", "train", "--input", "{damaged_parquet}", "--vocab-size", "300", "--output", "{out}"],
        "{damaged_parquet}: not a Parquet file",
    ),
    (
        ["tokenizer", "train", "--input", "{damaged_gz}", "--vocab-size", "300", "--output", "{out}"],
        "{damaged_gz}: cannot read",
    ),
    (
        ["tokenizer", "train", "--input", "{parquet}", "--vocab-size", "300", "--output", "{out}"],
        "--text-column text: {parquet} has no such column (columns: body)",
    ),
    ([*TRAIN, "--text-column", "body"], "--text-column body: no text there in the"),
    (
        ["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "10", "--output", "{out}"],
        "--vocab-size 10: smaller than 256 bytes",
    ),
    (
        ["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "3000000", "--output", "{out}"],
        "--vocab-size 3000000: at most 2,097,152",
    ),
    ([*TRAIN, "--pattern", "gpt5"], "--pattern gpt5: not a preset (gpt2, gpt4, o200k, llama3, qwen2)"),
    ([*TRAIN, "--pattern", "(unclosed"], "--pattern (unclosed: not a preset"),
    ([*TRAIN, "--workers", "0"], "--workers 0: expected 1 or more"),
    ([*TRAIN, "--min-frequency", "-1"], "--min-frequency -1: expected 0 or more"),
    (
        ["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "300", "--output", "{file}"],
        "--output {file}: is a file",
    ),
    (
        ["tokenizer", "train", "--input", "{corpus}", "--vocab-size", "300", "--output", "/proc/gristmill/tok"],
        "--output /proc/gristmill/tok: cannot write",
    ),
    (["tokenizer", "encode", "{missing}", "--text", "x"], "{missing}: no such tokenizer file or folder"),
    (["tokenizer", "encode", "{empty}", "--text", "x"], "{empty}: no tokenizer here"),
    (["tokenizer", "encode", "{file}", "--text", "x"], "{file}: not readable as JSON"),
    (["tokenizer", "encode", "{tok}", "{missing}"], "{missing}: No such file or directory"),
    (["tokenizer", "encode", "{tok}", "{latin1}"], "{latin1}: not UTF-8 text"),
    (["tokenizer", "encode", "{tok}", "{file}", "--text", "x"], "--text and FILE {file}: give the text"),
    (["tokenizer", "encode", "{tok}", "--text", SPECIAL], "special token '<|endoftext|>'"),
    (["tokenizer", "decode", "{tok}", "1", "x"], "'x': not an id"),
    (["tokenizer", "decode", "{tok}", "--", "-1"], "id -1 is not in this tokenizer (vocab size 700)"),
    (["tokenizer", "decode", "{tok}", "700"], "id 700 is not in this tokenizer"),
    (["tokenizer", "decode", "{missing}", "1"], "{missing}: no such tokenizer file or folder"),
    (["tokenizer", "import", "{missing}.tiktoken", "--output", "{out}"], "{missing}.tiktoken: no such file"),
    (["tokenizer", "import", "{ranks}", "--output", "{out}"], "not a known encoding"),
    (["tokenizer", "import", "{ranks}", "--output", "{out}", "--pattern", "gpt5"], "--pattern gpt5: not a"),
    (
        ["tokenizer", "import", "{ranks}", "--output", "{out}", "--special-token", "eot"],
        "--special-token eot: expected NAME=ID",
    ),
    (
        ["tokenizer", "import", "{ranks}", "--output", "{out}", "--pattern", "gpt4", "--special-token", "e=5"],
        "--special-token e=5: that id is a token of",
    ),
    (["tokenizer", "import", "{tok}", "--output", "{out}", "--pattern", "gpt4"], "--pattern: only for a .tiktoken"),
    (["tokenizer", "import", "{file}", "--output", "{out}"], "{file}: not readable as JSON"),
    (["tokenizer", "import", "{tok}", "--output", "{file}"], "--output {file}: is a file"),
    (["tokenizer", "add-special", "{missing}", "--chat"], "{missing}: no such tokenizer file or folder"),
    (["tokenizer", "add-special", "{tok}"], "--chat and/or --token"),
    (["tokenizer", "add-special", "{tok}", "--token", " "], "--token ' ': a special token needs visible text"),
    (["tokenizer", "add-special", "{tok}", "--chat", "--output", "{file}"], "--output {file}: is a file"),
    (["tokenizer", "export", "{missing}", "--tiktoken", "{out}.tiktoken"], "{missing}: no such tokenizer"),
    (["tokenizer", "export", "{tok}", "--tiktoken", "{empty}"], "--tiktoken {empty}: is a folder"),
    (["tokenizer", "export", "{tok}", "--tiktoken", "/proc/gristmill/x.tiktoken"], "--tiktoken /proc/gristmill/x"),
]


@pytest.mark.parametrize(("args", "message"), BAD_REQUESTS, ids=[" ".join(a[1:3]) for a, _ in BAD_REQUESTS])
def test_bad_requests_are_one_line_naming_what_was_typed(
    workspace: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Exit 2 and one line that names the flag (or the argument) as typed, never another flag's name."""
    assert main([arg.format_map(workspace) for arg in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gristmill: error: "), err
    assert message.format_map(workspace) in err[0]
    assert not Path(workspace["out"]).exists()


def test_the_installed_command_prints_no_traceback(workspace: dict[str, str]) -> None:
    """The issue's own command, as a user runs it: one line on stderr and exit 2."""
    command = [sys.executable, "-m", "gristmill", "tokenizer", "inspect", workspace["tok"], "--text", "MISSING"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=Path(workspace["tok"]).parent, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == "gristmill: error: --text MISSING: no such file or folder\n"


def test_a_folder_without_gristmill_json_says_what_is_assumed(
    trained: Tokenizer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HF folder (tokenizer.json alone) loads with one note on stderr naming the file read, its pattern, its
    special tokens and the end-of-text token; a gristmill folder loads without one."""
    trained.save(tmp_path / "ours")
    hf_folder = tmp_path / "hf"
    hf_folder.mkdir()
    shutil.copy(tmp_path / "ours" / "tokenizer.json", hf_folder / "tokenizer.json")
    text = "The mill turns, 1234 sacks."
    reference = HFTokenizer.from_file(str(hf_folder / "tokenizer.json")).encode(text, add_special_tokens=False).ids
    assert main(["tokenizer", "encode", str(tmp_path / "ours"), "--text", text]) == 0
    assert capsys.readouterr().err == ""
    assert main(["tokenizer", "encode", str(hf_folder), "--text", text]) == 0
    out, err = capsys.readouterr()
    assert [int(i) for i in out.split()] == reference
    assert err.count("\n") == 1 and err.startswith(f"note: read {hf_folder / 'tokenizer.json'} as a Hugging Face")
    assert "no gristmill.json" in err and "pattern gpt4" in err
    assert f"special tokens {SPECIAL} = 699; end of text: {SPECIAL}" in err

    bare = tmp_path / "bare"
    bare.mkdir()
    no_specials = Tokenizer(trained.vocab, trained.merges)
    (bare / "tokenizer.json").write_text(json.dumps(hf_document(no_specials.definition)))
    assert main(["tokenizer", "decode", str(bare), "84", "104"]) == 0
    out, err = capsys.readouterr()
    assert out == "Th" and f"special tokens none; no {SPECIAL} (`gristmill pack` then needs --eos T)" in err


def test_rank_and_gpt2_files_say_what_was_assumed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ranks = shutil.copy(rank_file("cl100k_base"), tmp_path / "cl100k_base.tiktoken.gz")
    assert main(["tokenizer", "encode", str(ranks), "--text", "hello world"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["15339", "1917"]  # tiktoken's published ids
    assert f"note: read {ranks} as tiktoken's cl100k_base (by its file name): pattern gpt4" in err
    assert "<|endoftext|> = 100257" in err and "and 1 more" in err
    vocab, merges = gpt2_files()
    assert main(["tokenizer", "encode", str(vocab), "--text", "Hello world"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == ["15496", "995"]  # GPT-2's published ids
    assert f"note: read {vocab} + {merges.name} as GPT-2's files: pattern gpt2" in err and "= 50256" in err


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def option_blocks(text: str) -> dict[str, str]:
    """`--flag` -> its help as printed (joined over wrapped lines)."""
    blocks: dict[str, str] = {}
    flag = None
    for line in text.splitlines():
        if line.startswith("  -"):
            flag = line.split()[0].rstrip(",")
            flag = next((word for word in line.split() if word.startswith("--")), flag).rstrip(",")
            blocks[flag] = line
        elif flag and line.startswith("    "):
            blocks[flag] += " " + line.strip()
        else:
            flag = None
    return blocks


def subparser(name: str) -> argparse.ArgumentParser:
    def commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    return commands(commands(build_parser())["tokenizer"])[name]


@pytest.mark.parametrize("name", ["train", "encode", "decode", "import", "add-special", "export", "inspect"])
def test_help_shows_every_options_default(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every option a user may leave out says in --help what happens then (required options and on/off
    switches need no default)."""
    monkeypatch.setenv("COLUMNS", "100")
    blocks = option_blocks(help_of(capsys, "tokenizer", name))
    optional = [
        action.option_strings[-1]
        for action in subparser(name)._actions
        if action.option_strings and not action.required and action.nargs != 0  # nargs 0: --help, switches
    ]
    for flag in optional:
        assert "default" in blocks[flag], blocks[flag]


def test_train_help_lists_every_pattern_preset(capsys: pytest.CaptureFixture[str]) -> None:
    pattern = option_blocks(help_of(capsys, "tokenizer", "train"))["--pattern"]
    assert all(name in pattern for name in PRESETS) and "default gpt4" in pattern
    imported = option_blocks(help_of(capsys, "tokenizer", "import"))["--pattern"]
    assert all(name in imported for name in PRESETS)


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
