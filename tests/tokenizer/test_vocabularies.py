"""Real vocabularies with their real ids: cl100k_base and o200k_base against tiktoken (and quicktok), GPT-2's
files and tokenizer.json against HF `tokenizers` and tiktoken, Llama 3 / Qwen 3 style Split + ByteLevel
tokenizer.json files against HF and quicktok; saving writes what HF loads with the same ids."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import pytest
import quicktok
import tiktoken
from crawl_factory import PARAGRAPHS
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tokenizers import AddedToken, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer
from vocab_factory import gpt2_files, hf_gpt2_json, hf_split_json, rank_file

from tokenizer import Tokenizer
from tokenizer.patterns import PRESETS

CODE = (
    "def grind(sacks: list[int]) -> int:\n    return sum(s * 2 for s in sacks if s > 0)  # flour\n\n"
    "for (int i = 0; i < n; ++i) {\n\tx[i] = y[i] << 3; // shift\n}\n"
    "SELECT id, COUNT(*) FROM docs WHERE lang = 'fr' GROUP BY id;\n"
)
TEXTS = [
    *PARAGRAPHS.values(),
    "\n\n".join(PARAGRAPHS.values()).upper(),
    CODE,
    "Emoji: 🙂👍🏽👨‍👩‍👧 and flags 🇫🇷🇯🇵, math ∑∫√, arrows → ⇒, ZWJ\u200d and BOM\ufeff.",
    "Whitespace:   three spaces,\ttab,\n\n\nthree newlines,\r\n\r\n  \t\u00a0\u2003\u3000 mixed,  \n trailing   ",
    "Contractions: I'm, you're, we'll, they've, she'd, it's, DON'T, Can't, 'Tis, O'Neil's.",
    "Digits 1234567890 and 3.14159, 1,000,000, ١٢٣٤٥ and ⅻ½ 2024-11-28T21:00:00Z.",
    "我们的磨坊在河边，已经有三百年的历史了。水车每天转动，把小麦磨成面粉。한국어 텍스트와 日本語のテキスト。",
    "Combining: e\u0301 a\u0308 n\u0303 ﬁ Å Ω K ſ ǅ ʰ ꜰ, Devanagari हिन्दी, Thai ภาษาไทย, Arabic العربية.",
    " " * 300 + "x" + "\n" * 50 + "y" + "a" * 2000,
    "",
]
QUICKTOK_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}


def tiktoken_encoding(name: str, pattern: str) -> tiktoken.Encoding:
    """tiktoken's Encoding from the same rank file, with the encoding's published pattern and specials."""
    ranks = {}
    for line in gzip.decompress(rank_file(name).read_bytes()).splitlines():
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    specials = Tokenizer.load(rank_file(name)).special_ids
    return tiktoken.Encoding(name, pat_str=PRESETS[pattern], mergeable_ranks=ranks, special_tokens=specials)


@pytest.fixture(scope="module", params=[("cl100k_base", "gpt4"), ("o200k_base", "o200k")], ids=["cl100k", "o200k"])
def openai(request: pytest.FixtureRequest) -> tuple[Tokenizer, tiktoken.Encoding, str]:
    name, pattern = request.param
    return Tokenizer.load(rank_file(name)), tiktoken_encoding(name, pattern), name


def test_openai_vocabularies_give_tiktokens_ids(openai: tuple) -> None:
    ours, encoding, name = openai
    reference = quicktok.get_encoding(QUICKTOK_NAMES[name])
    assert ours.vocab_size == encoding.n_vocab
    for text in TEXTS:
        ids = ours.encode(text)
        assert ids == encoding.encode_ordinary(text) == reference.encode(text), text[:60]
        assert ours.decode(ids) == text
    assert ours.encode_batch(TEXTS) == encoding.encode_ordinary_batch(TEXTS)


def test_openai_special_tokens_at_their_ids(openai: tuple) -> None:
    ours, encoding, _ = openai
    text = "<|endoftext|>Hello<|endofprompt|> world<|endoftext|>"
    assert ours.encode(text, allowed_special="all") == encoding.encode(text, allowed_special="all")
    assert ours.special_ids["<|endoftext|>"] == encoding.eot_token
    with pytest.raises(ValueError, match="special token"):
        ours.encode(text)
    assert ours.encode(text, disallowed_special=()) == encoding.encode(text, disallowed_special=())


@settings(max_examples=150, deadline=None)
@given(st.text(st.characters(exclude_categories=("Cs",)), max_size=120))
def test_any_text_gives_tiktokens_ids(openai: tuple, text: str) -> None:
    ours, encoding, _ = openai
    ids = ours.encode_ordinary(text)
    assert ids == encoding.encode_ordinary(text)
    assert ours.decode(ids) == text


def test_a_saved_rank_vocabulary_loads_in_hf_with_the_same_ids(openai: tuple, tmp_path: Path) -> None:
    ours, encoding, _ = openai
    ours.save(tmp_path)
    hf = HFTokenizer.from_file(str(tmp_path / "tokenizer.json"))
    reloaded = Tokenizer.load(tmp_path)
    assert reloaded.merges is None and reloaded.vocab_size == ours.vocab_size
    for text in [*TEXTS, "<|endoftext|>after<|endoftext|>"]:
        want = encoding.encode(text, allowed_special="all")
        assert hf.encode(text).ids == want == reloaded.encode(text, allowed_special="all"), text[:60]


@pytest.fixture(scope="module")
def gpt2_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return hf_gpt2_json(tmp_path_factory.mktemp("gpt2"))


def test_gpt2_files_and_tokenizer_json_keep_gpt2s_ids(gpt2_json: Path) -> None:
    vocab, merges = gpt2_files()
    hf = HFTokenizer.from_file(str(gpt2_json))
    from_json, from_files = Tokenizer.load(gpt2_json), Tokenizer.from_gpt2_files(vocab, merges)
    encoding = tiktoken.Encoding(
        "gpt2", pat_str=PRESETS["gpt2"], mergeable_ranks=data_gym_to_mergeable_bpe_ranks(str(merges), str(vocab)),
        special_tokens={"<|endoftext|>": 50256},
    )  # fmt: skip
    assert from_json.vocab_size == from_files.vocab_size == 50257 == encoding.n_vocab
    assert from_json.encode("Hello world") == [15496, 995]  # GPT-2's published ids
    for text in [*TEXTS, "x<|endoftext|>y"]:
        want = hf.encode(text).ids
        assert from_json.encode(text, allowed_special="all") == want, text[:60]
        assert from_files.encode(text, allowed_special="all") == want == encoding.encode(text, allowed_special="all")
        assert from_json.decode(want) == text


@pytest.mark.parametrize("name", ["llama3", "qwen3"])
def test_split_bytelevel_tokenizer_json_gives_hf_and_quicktok_ids(name: str, tmp_path: Path) -> None:
    path = hf_split_json(tmp_path, name)
    hf, ours, reference = HFTokenizer.from_file(str(path)), Tokenizer.load(path), quicktok.get_encoding(name)
    assert ours.pattern == {"llama3": "llama3", "qwen3": "qwen2"}[name]
    assert ours.definition.normalizer == ("NFC" if name == "qwen3" else None)
    for text in TEXTS:
        ids = ours.encode(text)
        assert ids == hf.encode(text, add_special_tokens=False).ids == reference.encode(text), text[:60]
    first = min(ours.special_ids, key=ours.special_ids.__getitem__)
    with_specials = f"{first}Hi{first} there"
    assert ours.encode(with_specials, allowed_special="all") == hf.encode(with_specials, add_special_tokens=False).ids
    ours.save(tmp_path / "saved")  # written back: HF reads the same ids, the post-processor kept
    again = HFTokenizer.from_file(str(tmp_path / "saved" / "tokenizer.json"))
    assert again.encode(TEXTS[0]).ids == hf.encode(TEXTS[0]).ids


def test_roberta_style_prefix_space_and_lstrip_mask_give_hfs_ids(tmp_path: Path) -> None:
    """RoBERTa's layout on GPT-2's files: ByteLevel with add_prefix_space, <s> </s> specials, <mask> with lstrip."""
    vocab, merges = gpt2_files()
    hf = HFTokenizer(models.BPE.from_file(str(vocab), str(merges)))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(["<s>", "</s>", AddedToken("<mask>", lstrip=True, special=True)])
    hf.save(str(tmp_path / "tokenizer.json"))
    ours = Tokenizer.load(tmp_path)
    assert ours.definition.prefix_space and ours.added["<mask>"].lstrip
    for text in [*TEXTS, "The capital of France is <mask>.", "<s>Hello  <mask> world</s>", "x<mask>y"]:
        want = hf.encode(text, add_special_tokens=False).ids
        assert ours.encode(text, allowed_special="all") == want, text[:60]
    ours.save(tmp_path / "saved")
    again = HFTokenizer.from_file(str(tmp_path / "saved" / "tokenizer.json"))
    assert again.encode(TEXTS[0]).ids == hf.encode(TEXTS[0]).ids


def test_hf_added_tokens_that_are_not_special_are_always_their_ids(gpt2_json: Path, tmp_path: Path) -> None:
    document = json.loads(gpt2_json.read_text())
    document["added_tokens"].append(
        {"id": 50257, "content": "<tool>", "single_word": False, "lstrip": True, "rstrip": False,
         "normalized": False, "special": False}
    )  # fmt: skip
    (tmp_path / "tokenizer.json").write_text(json.dumps(document))
    ours, hf = Tokenizer.load(tmp_path), HFTokenizer.from_file(str(tmp_path / "tokenizer.json"))
    text = "call  <tool> now<tool>"
    assert ours.encode(text) == hf.encode(text).ids and 50257 in ours.encode(text)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": {"type": "WordPiece", "vocab": {}}}, "model.type is WordPiece: gristmill reads byte-level BPE only"),
        ({"model": {"type": "Unigram", "vocab": []}}, "model.type is Unigram"),
        ({"pre_tokenizer": {"type": "Metaspace", "replacement": "▁"}}, "Metaspace pre-tokenizer (SentencePiece style)"),
        ({"normalizer": {"type": "Lowercase"}}, "normalizer Lowercase: gristmill reproduces none or one of NFC"),
        ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits"}, {"type": "ByteLevel"}]}},
         "pre-tokenizer steps Digits -> ByteLevel"),
    ],
)  # fmt: skip
def test_what_is_not_byte_level_bpe_is_refused_in_one_line(
    gpt2_json: Path, tmp_path: Path, change: dict, message: str
) -> None:
    document = json.loads(gpt2_json.read_text()) | change
    (tmp_path / "tokenizer.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=re.escape(message)):
        Tokenizer.load(tmp_path)


def test_byte_fallback_and_unknown_rank_files_are_refused(gpt2_json: Path, tmp_path: Path) -> None:
    document = json.loads(gpt2_json.read_text())
    document["model"]["byte_fallback"] = True
    (tmp_path / "tokenizer.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match="byte_fallback"):
        Tokenizer.load(tmp_path)
    odd = tmp_path / "mine.tiktoken"
    odd.write_text("YQ== 0\n")
    with pytest.raises(ValueError, match=r"not a known encoding .* give its pattern"):
        Tokenizer.load(odd)
