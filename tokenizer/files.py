"""A tokenizer on disk: a folder whose `tokenizer.json` HF `tokenizers` loads as it is (same ids), plus
`gristmill.json` (the pattern as given, e.g. a preset name). Also: tiktoken ranks out, GPT-2-style
`vocab.json` + `merges.txt` in.

HF byte-level files spell each byte as a printable character (GPT-2's table: printable Latin-1 bytes stand
for themselves, the others are shifted to U+0100 and up); tokens are those characters joined.

This module reads and writes definitions (vocab, merges, special tokens, pattern); `tokenizer.core.Tokenizer`
builds itself from them (`Tokenizer.load`, `Tokenizer.from_gpt2_files`), so the import goes one way.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from tokenizer.patterns import resolve_pattern

FORMAT = "gristmill-bpe/1"


class Definition(Protocol):
    """What writing a tokenizer needs of it (a `tokenizer.core.Tokenizer` has all of it)."""

    vocab: dict[int, bytes]
    merges: list[tuple[bytes, bytes]]
    special_tokens: list[str]
    special_ids: dict[str, int]
    pattern: str

    @property
    def vocab_size(self) -> int: ...


@cache
def byte_to_char() -> dict[int, str]:
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shift = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + shift)
            shift += 1
    return table


@cache
def char_to_byte() -> dict[str, int]:
    return {char: byte for byte, char in byte_to_char().items()}


def to_chars(token: bytes) -> str:
    table = byte_to_char()
    return "".join(table[b] for b in token)


def to_bytes(token: str, where: str) -> bytes:
    table = char_to_byte()
    try:
        return bytes(table[c] for c in token)
    except KeyError as error:
        raise ValueError(f"{where}: {token!r} is not a byte-level token (character {error.args[0]!r})") from None


def hf_json(tokenizer: Definition) -> dict[str, Any]:
    """The HF `tokenizers` document: Split on the pattern, ByteLevel without its own regex, BPE, ByteLevel decoder."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for token, i in tokenizer.special_ids.items()
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": resolve_pattern(tokenizer.pattern)},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {to_chars(token): i for i, token in sorted(tokenizer.vocab.items())},
            "merges": [[to_chars(left), to_chars(right)] for left, right in tokenizer.merges],
        },
    }


def save_folder(tokenizer: Definition, folder: str | Path) -> None:
    target = Path(folder)
    write_json_atomic(target / "tokenizer.json", hf_json(tokenizer))
    meta = {"format": FORMAT, "pattern": tokenizer.pattern, "vocab_size": tokenizer.vocab_size}
    write_json_atomic(target / "gristmill.json", meta | {"special_tokens": tokenizer.special_tokens})


def fingerprint(folder: str | Path) -> str:
    """sha256 of the folder's tokenizer.json: what pack manifests and checkpoints record to name a tokenizer."""
    return hashlib.sha256((Path(folder) / "tokenizer.json").read_bytes()).hexdigest()


def read_folder(folder: str | Path) -> dict[str, Any]:
    """The definition in a tokenizer folder, as `Tokenizer(**definition)` takes it."""
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise ValueError(f"{folder}: no tokenizer.json (a tokenizer folder holds tokenizer.json)")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        model = document["model"]
        if model.get("type") != "BPE":
            raise ValueError(f"model.type is {model.get('type')!r}, not BPE")
        vocab = {int(i): to_bytes(token, f"{path}: model.vocab") for token, i in model["vocab"].items()}
        merges = [_merge(entry, path) for entry in model["merges"]]
        specials = [t["content"] for t in sorted(document.get("added_tokens", []), key=lambda t: t["id"])]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a byte-level BPE tokenizer.json ({type(error).__name__}: {error})") from None
    meta_path = Path(folder) / "gristmill.json"
    pattern = json.loads(meta_path.read_text())["pattern"] if meta_path.is_file() else _split_pattern(document, path)
    return {"vocab": vocab, "merges": merges, "special_tokens": specials, "pattern": pattern}


def _merge(entry: Any, path: Path) -> tuple[bytes, bytes]:
    left, right = entry.split(" ") if isinstance(entry, str) else entry
    return to_bytes(left, f"{path}: model.merges"), to_bytes(right, f"{path}: model.merges")


def _split_pattern(document: dict[str, Any], path: Path) -> str:
    """The regex of a foreign tokenizer.json's Split pre-tokenizer (HF's own ByteLevel regex is GPT-2's)."""
    pre = document.get("pre_tokenizer") or {}
    for step in pre.get("pretokenizers", [pre]):
        if step.get("type") == "Split":
            return step["pattern"]["Regex"]
        if step.get("type") == "ByteLevel" and step.get("use_regex", True):
            return "gpt2"
    raise ValueError(f"{path}: no Split or ByteLevel pre-tokenizer: the pre-tokenization pattern is unknown")


def tiktoken_ranks(tokenizer: Definition) -> dict[bytes, int]:
    return {token: i for i, token in tokenizer.vocab.items()}


def write_tiktoken(tokenizer: Definition, path: str | Path) -> None:
    """tiktoken's `.tiktoken` file: one `base64(token) rank` line per token."""
    lines = (f"{base64.b64encode(token).decode()} {i}" for i, token in sorted(tokenizer.vocab.items()))
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


def read_gpt2_files(vocab_json: str | Path, merges_txt: str | Path, pattern: str = "gpt2") -> dict[str, Any]:
    """The definition in GPT-2-style `vocab.json` (token -> id) and `merges.txt` ("a b" per line, after a
    `#version` line)."""
    try:
        raw_vocab = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
        lines = Path(merges_txt).read_text(encoding="utf-8").splitlines()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read GPT-2 files: {error}") from None
    vocab = {int(i): to_bytes(token, str(vocab_json)) for token, i in raw_vocab.items()}
    merges = [_merge(line, Path(merges_txt)) for line in lines if line and not line.startswith("#version")]
    byte_ids = {vocab_bytes: i for i, vocab_bytes in vocab.items()}
    if any(byte_ids.get(bytes([b])) != b for b in range(256)):
        vocab = _renumber(vocab)
    return {"vocab": vocab, "merges": merges, "special_tokens": [], "pattern": pattern}


def _renumber(vocab: dict[int, bytes]) -> dict[int, bytes]:
    """GPT-2 orders its byte tokens by printable character, not byte value: give bytes ids 0..255, then the
    rest in their order (the ids change, the tokenization does not)."""
    rest = [token for _, token in sorted(vocab.items()) if len(token) > 1]
    return {**{b: bytes([b]) for b in range(256)}, **{256 + i: token for i, token in enumerate(rest)}}
