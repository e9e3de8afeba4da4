"""A tokenizer on disk. gristmill's folder: `tokenizer.json` that HF `tokenizers` loads as it is (same ids)
plus `gristmill.json` (the pattern as given, e.g. a preset name; whether the ids are tiktoken ranks).
`read_any` also takes what other tools ship: an HF `tokenizer.json` (or its folder), a tiktoken rank file,
GPT-2's `vocab.json` + `merges.txt` (or `encoder.json` + `vocab.bpe`).

This module reads and writes definitions; `tokenizer.core.Tokenizer` builds itself from them, so the import
goes one way.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from gristmill_base.atomic import write_json_atomic, write_text_atomic
from tokenizer.definition import Definition
from tokenizer.hf_json import hf_text, read_gpt2_files, read_hf
from tokenizer.patterns import PRESETS
from tokenizer.tiktoken_file import encoding_name, read_tiktoken

FORMAT = "gristmill-bpe/1"
GPT2_PAIRS = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))
EOS = "<|endoftext|>"  # the end-of-text token gristmill's commands take unless told another


def save_folder(definition: Definition, folder: str | Path, extends: list[str] | None = None) -> None:
    """Write the folder; `extends`: the fingerprints of the tokenizers this one adds tokens to (same ids)."""
    target = Path(folder)
    document = hf_text(definition)
    write_text_atomic(target / "tokenizer.json", document)
    own = hashlib.sha256(document.encode()).hexdigest()  # its `fingerprint`: never in its own lineage
    extends = [sha256 for sha256 in dict.fromkeys(extends or []) if sha256 != own]
    meta = {
        "format": FORMAT,
        "pattern": definition.pattern,
        "vocab_size": max([*definition.vocab, *(a.id for a in definition.added)]) + 1,
        "special_tokens": list(definition.special_ids),
        "merge_order": "ranks" if definition.merges is None else "merges",
    }
    if extends:
        meta["extends"] = extends
    write_json_atomic(target / "gristmill.json", meta)


def defining_files(path: str | Path) -> list[Path]:
    """The files a tokenizer path stands for (what `fingerprint` hashes)."""
    path = Path(path)
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return [path / "tokenizer.json"]
        for vocab, merges in GPT2_PAIRS:
            if (path / vocab).is_file() and (path / merges).is_file():
                return [path / vocab, path / merges]
        rank_files = sorted([*path.glob("*.tiktoken"), *path.glob("*.tiktoken.gz")])
        if len(rank_files) == 1:
            return rank_files
        raise ValueError(
            f"{path}: no tokenizer here (a folder holds tokenizer.json, vocab.json + merges.txt, or one .tiktoken file)"
        )
    if not path.is_file():
        raise ValueError(f"{path}: no such tokenizer file or folder")
    for vocab, merges in GPT2_PAIRS:
        if path.name == vocab:
            if not (path.parent / merges).is_file():
                raise ValueError(f"{path}: no {merges} beside it")
            return [path, path.parent / merges]
    return [path]


def is_tokenizer(path: str | Path) -> bool:
    try:
        defining_files(path)
    except ValueError:
        return False
    return True


def read_any(path: str | Path) -> Definition:
    files = defining_files(path)
    if len(files) == 2:
        return read_gpt2_files(*files)
    file = files[0]
    if file.name.endswith((".tiktoken", ".tiktoken.gz")):
        return read_tiktoken(file)
    meta_path = file.parent / "gristmill.json"
    meta = json.loads(meta_path.read_text()) if file.name == "tokenizer.json" and meta_path.is_file() else {}
    definition = read_hf(file, meta.get("merge_order", "merges"))
    if "pattern" in meta:
        definition.pattern = meta["pattern"]
    return definition


def assumed(path: str | Path, definition: Definition) -> str | None:
    """What reading `path` (into `definition`) took for granted that a gristmill folder's `gristmill.json`
    would have said, in one line for the user; None for a gristmill folder."""
    files = defining_files(path)
    first = files[0]
    if first.name == "tokenizer.json" and (first.parent / "gristmill.json").is_file():
        return None
    pattern = definition.pattern if definition.pattern in PRESETS else "its own regex"
    if len(files) == 2:
        read = f"read {files[0]} + {files[1].name} as GPT-2's files: pattern {pattern}, <|...|> tokens special"
    elif first.name.endswith((".tiktoken", ".tiktoken.gz")):
        read = f"read {first} as tiktoken's {encoding_name(first)} (by its file name): pattern {pattern}"
    else:
        read = (
            f"read {first} as a Hugging Face tokenizer.json (no gristmill.json beside it): its ids, its merges in "
            f"file order, pattern {pattern} (its pre-tokenizer)"
        )
    specials = definition.special_ids
    listed = ", ".join(f"{token} = {i}" for token, i in list(specials.items())[:4]) or "none"
    if len(specials) > 4:
        listed += f" and {len(specials) - 4:,} more"
    eos = f"end of text: {EOS}" if EOS in specials else f"no {EOS} (`gristmill pack` then needs --eos T)"
    return f"{read}; special tokens {listed}; {eos}"


def fingerprint(path: str | Path) -> str:
    """sha256 of the files that define the tokenizer: what pack manifests and checkpoints record to name it."""
    digest = hashlib.sha256()
    for file in defining_files(path):
        digest.update(file.read_bytes())
    return digest.hexdigest()


def lineage(path: str | Path) -> list[str]:
    """The fingerprints of the tokenizers this one extends (`gristmill tokenizer add-special`): it gives their
    ids to every text, so data packed and models trained with them go with it."""
    files = defining_files(path)
    meta = files[0].parent / "gristmill.json"
    if files[0].name != "tokenizer.json" or not meta.is_file():
        return []
    return list(json.loads(meta.read_text()).get("extends", []))


def same_ids(path: str | Path, sha256: str) -> bool:
    """Whether the tokenizer at `path` is the one fingerprinted `sha256`, or extends it."""
    return fingerprint(path) == sha256 or sha256 in lineage(path)
