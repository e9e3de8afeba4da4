"""tiktoken's rank files in and out: one `base64(token) rank` line per token, plain or gzipped. A rank file
holds neither the pattern nor the special tokens; for the published encodings they are known by name, for
any other file they are given."""

from __future__ import annotations

import base64
import binascii
import gzip
from pathlib import Path

from gristmill_base.atomic import write_text_atomic
from tokenizer.definition import Added, Definition

CL100K_SPECIALS = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}
ENCODINGS = {
    "cl100k_base": ("gpt4", CL100K_SPECIALS),
    "o200k_base": ("o200k", {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "r50k_base": ("gpt2", {"<|endoftext|>": 50256}),
    "p50k_base": ("gpt2", {"<|endoftext|>": 50256}),
}


def encoding_name(path: Path) -> str:
    return path.name.removesuffix(".gz").removesuffix(".tiktoken")


def read_tiktoken(path: Path, pattern: str | None = None, special_tokens: dict[str, int] | None = None) -> Definition:
    """The definition of a rank file; `pattern` and `special_tokens` default to the named encoding's."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    name = encoding_name(path)
    known_pattern, known_specials = ENCODINGS.get(name, (None, None))
    pattern = pattern or known_pattern
    if pattern is None:
        raise ValueError(
            f"{path}: not a known encoding ({', '.join(ENCODINGS)}): give its pattern and special tokens "
            "(`gristmill tokenizer import FILE --pattern P --special-token NAME=ID --output DIR`)"
        )
    specials = special_tokens if special_tokens is not None else known_specials or {}
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    except (OSError, gzip.BadGzipFile, EOFError) as error:
        raise ValueError(f"{path}: cannot read ({error})") from None
    vocab = dict(_rank_line(line, path, number) for number, line in enumerate(raw.splitlines(), 1) if line.strip())
    return Definition(
        vocab=vocab,
        merges=None,
        added=[Added(token, i) for token, i in specials.items()],
        pattern=pattern,
        whole_tokens_first=True,
    )


def _rank_line(line: bytes, path: Path, number: int) -> tuple[int, bytes]:
    try:
        token, rank = line.split()
        return int(rank), base64.b64decode(token, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError(f"{path}:{number}: not a `base64 rank` line") from None


def write_tiktoken(definition: Definition, path: str | Path) -> None:
    """The vocab as tiktoken ranks (the ids). Exact for tiktoken only where the ids are ranks: gristmill's
    own tokenizers (merges in id order) and vocabularies read from rank files."""
    lines = (f"{base64.b64encode(token).decode()} {i}" for i, token in sorted(definition.vocab.items()))
    write_text_atomic(Path(path), "\n".join(lines) + "\n")


def tiktoken_ranks(definition: Definition) -> dict[bytes, int]:
    return {token: i for i, token in definition.vocab.items()}
