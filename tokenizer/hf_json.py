"""HF `tokenizer.json` (and GPT-2's `vocab.json` + `merges.txt`) in and out, ids as they are.

Read: the byte-level BPE families: GPT-2 / RoBERTa (a ByteLevel pre-tokenizer with its own regex, maybe a
prefix space) and Llama 3 / Qwen (a Split regex, then ByteLevel), added tokens at their ids, `ignore_merges`,
an NFC-family normalizer. What is not byte-level BPE, or has a step whose effect gristmill would not
reproduce exactly, is refused in one line naming it.

Written: a document HF `tokenizers` loads with the same ids: Split on the pattern (or GPT-2's ByteLevel
where a prefix space is needed), ByteLevel, BPE with the merges (for tiktoken ranks: every split of a token
into two tokens, in rank order, with `ignore_merges`), the added tokens, the normalizer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import regex

from tokenizer.bytelevel import to_bytes, to_chars
from tokenizer.definition import NORMALIZERS, Added, Definition, rank_splits
from tokenizer.patterns import PRESETS, resolve_pattern

NOT_BYTE_LEVEL = "gristmill reads byte-level BPE only"


def hf_document(definition: Definition) -> dict[str, Any]:
    """The HF `tokenizers` document of a definition."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    if definition.prefix_space:
        if resolve_pattern(definition.pattern) != PRESETS["gpt2"]:
            raise ValueError("a prefix space is written only with GPT-2's pattern (HF's ByteLevel regex)")
        pre_tokenizer: dict[str, Any] = byte_level | {"add_prefix_space": True, "use_regex": True}
    else:
        split = {
            "type": "Split",
            "pattern": {"Regex": resolve_pattern(definition.pattern)},
            "behavior": "Isolated",
            "invert": False,
        }
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [split, byte_level]}
    added_ids = {a.id for a in definition.added}
    vocab = {i: token for i, token in definition.vocab.items() if i not in added_ids}
    merges = definition.merges if definition.merges is not None else merges_of_ranks(vocab)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": a.id,
                "content": a.content,
                "single_word": False,
                "lstrip": a.lstrip,
                "rstrip": a.rstrip,
                "normalized": False,
                "special": a.special,
            }
            for a in sorted(definition.added, key=lambda a: a.id)
        ],
        "normalizer": {"type": definition.normalizer} if definition.normalizer else None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": definition.post_processor,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": definition.whole_tokens_first,
            "vocab": {to_chars(token): i for i, token in sorted(vocab.items())}
            | {a.content: a.id for a in definition.added},  # HF takes an added token's id from here
            "merges": [[to_chars(left), to_chars(right)] for left, right in merges],
        },
    }


def hf_text(definition: Definition) -> str:
    """The `tokenizer.json` text gristmill writes: one line, as the C encoder writes it (a 200k-token
    vocabulary in a tenth of the indented time); its sha256 is the tokenizer's fingerprint."""
    return json.dumps(hf_document(definition), ensure_ascii=False)


def merges_of_ranks(vocab: dict[int, bytes]) -> list[tuple[bytes, bytes]]:
    """tiktoken ranks as a merge list: every split of each token into two tokens, by the token's rank (then
    by the parts' ranks). With whole tokens first (`ignore_merges`) HF then encodes as tiktoken does."""
    return [(vocab[left], vocab[right]) for _, left, right in sorted(rank_splits(vocab))]


def read_hf(path: Path, merge_order: str = "merges") -> Definition:
    """The definition in a `tokenizer.json` (`merge_order` "ranks": the ids are tiktoken ranks, as gristmill
    records for the vocabularies it read from tiktoken files)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not readable as JSON ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("model"), dict):
        raise ValueError(f"{path}: not a tokenizer.json (no model)")
    model = document["model"]
    kind = model.get("type") or ("BPE" if "merges" in model else "?")
    if kind != "BPE":
        raise ValueError(f"{path}: model.type is {kind}: {NOT_BYTE_LEVEL}")
    if model.get("byte_fallback"):
        raise ValueError(f"{path}: BPE with byte_fallback (SentencePiece style): {NOT_BYTE_LEVEL}")
    for option in ("continuing_subword_prefix", "end_of_word_suffix", "dropout"):
        if model.get(option):
            raise ValueError(f"{path}: model.{option} is set; gristmill does not reproduce it")
    added = [_added(entry, path) for entry in document.get("added_tokens") or []]
    contents = {a.content: a for a in added}
    where = f"{path}: model.vocab"
    try:
        vocab = {int(i): to_bytes(token, where) for token, i in model["vocab"].items() if token not in contents}
        merges = [_merge(entry, path) for entry in model.get("merges", [])]
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a byte-level BPE tokenizer.json ({type(error).__name__}: {error})") from None
    pattern, prefix_space = _pre_tokenizer(document.get("pre_tokenizer"), path)
    return Definition(
        vocab=vocab,
        merges=None if merge_order == "ranks" else merges,
        added=added,
        pattern=pattern,
        whole_tokens_first=True if merge_order == "ranks" else bool(model.get("ignore_merges", False)),
        normalizer=_normalizer(document.get("normalizer"), path),
        prefix_space=prefix_space,
        post_processor=document.get("post_processor"),
    )


def _added(entry: dict[str, Any], path: Path) -> Added:
    if entry.get("single_word"):
        raise ValueError(
            f"{path}: added token {entry.get('content')!r} is single_word; gristmill does not reproduce it"
        )
    return Added(
        entry["content"], int(entry["id"]), bool(entry.get("special", False)),
        bool(entry.get("lstrip", False)), bool(entry.get("rstrip", False)),
    )  # fmt: skip


def _merge(entry: Any, path: Path) -> tuple[bytes, bytes]:
    left, right = entry.split(" ") if isinstance(entry, str) else entry
    return to_bytes(left, f"{path}: model.merges"), to_bytes(right, f"{path}: model.merges")


def _steps(node: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not node:
        return []
    if node.get("type") == "Sequence":
        return [step for child in node.get("pretokenizers", node.get("normalizers", [])) for step in _steps(child)]
    return [node]


def _pre_tokenizer(node: dict[str, Any] | None, path: Path) -> tuple[str, bool]:
    """(pattern, prefix space) of the pre-tokenizer: ByteLevel alone (GPT-2's regex) or Split + ByteLevel."""
    steps = _steps(node)
    kinds = [step.get("type") for step in steps]
    if "Metaspace" in kinds:
        raise ValueError(f"{path}: a Metaspace pre-tokenizer (SentencePiece style): {NOT_BYTE_LEVEL}")
    if "ByteLevel" not in kinds:
        raise ValueError(
            f"{path}: no ByteLevel pre-tokenizer ({', '.join(map(str, kinds)) or 'none'}): {NOT_BYTE_LEVEL}"
        )
    byte_level = steps[kinds.index("ByteLevel")]
    splits = [step for step in steps if step.get("type") == "Split"]
    others = [kind for kind in kinds if kind not in ("ByteLevel", "Split")]
    if others or len(splits) > 1 or kinds[-1] != "ByteLevel":
        raise ValueError(
            f"{path}: pre-tokenizer steps {' -> '.join(map(str, kinds))}: gristmill reproduces ByteLevel alone or "
            "one Split followed by ByteLevel"
        )
    prefix_space = bool(byte_level.get("add_prefix_space", False))
    if not splits:
        if not byte_level.get("use_regex", True):
            raise ValueError(f"{path}: ByteLevel without its regex and no Split: the pieces are unknown")
        return "gpt2", prefix_space
    split = splits[0]
    if byte_level.get("use_regex", True) or prefix_space:
        raise ValueError(f"{path}: Split then a ByteLevel with its own regex or prefix space: not reproduced")
    if split.get("behavior", "Isolated") != "Isolated" or split.get("invert"):
        raise ValueError(
            f"{path}: Split behavior {split.get('behavior')!r} (invert {split.get('invert')}): only Isolated"
        )
    found = split.get("pattern", {})
    pattern = found.get("Regex") if "Regex" in found else _escaped(found.get("String"))
    if not isinstance(pattern, str):
        raise ValueError(f"{path}: Split without a pattern")
    return next((name for name, source in PRESETS.items() if source == pattern), pattern), False


def _escaped(text: str | None) -> str | None:
    return None if text is None else regex.escape(text)


def _normalizer(node: dict[str, Any] | None, path: Path) -> str | None:
    steps = [step.get("type") for step in _steps(node)]
    if not steps:
        return None
    if len(steps) == 1 and steps[0] in NORMALIZERS:
        return steps[0]
    named = " -> ".join(map(str, steps))
    raise ValueError(f"{path}: normalizer {named}: gristmill reproduces none or one of {', '.join(NORMALIZERS)}")


def read_gpt2_files(vocab_json: str | Path, merges_txt: str | Path, pattern: str = "gpt2") -> Definition:
    """GPT-2-style `vocab.json` (token -> id) and `merges.txt` ("a b" per line, after a `#version` line), ids
    as they are. Tokens spelled `<|...|>` that no merge makes (GPT-2's `<|endoftext|>`) are special."""
    try:
        raw_vocab = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
        lines = Path(merges_txt).read_text(encoding="utf-8").splitlines()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read GPT-2 files: {error}") from None
    merges = [_merge(line, Path(merges_txt)) for line in lines if line and not line.startswith("#version")]
    made = {left + right for left, right in merges}
    vocab: dict[int, bytes] = {}
    added: list[Added] = []
    for token, i in raw_vocab.items():
        data = to_bytes(token, str(vocab_json))
        if token.startswith("<|") and token.endswith("|>") and len(token) > 4 and data not in made:
            added.append(Added(token, int(i)))
        else:
            vocab[int(i)] = data
    return Definition(vocab=vocab, merges=merges, added=added, pattern=pattern)
