"""`gristmill tokenizer import` end to end, on the real vocabularies dev packages ship: each kind of source it
takes becomes a folder whose ids, through `gristmill tokenizer encode` and `decode`, are those of another
library's encoder of the same vocabulary (quicktok, tiktoken) and of HF `tokenizers` on the folder's file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import quicktok
import tiktoken
from crawl_factory import PARAGRAPHS
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str
from tokenizers import Tokenizer as HFTokenizer
from vocab_factory import gpt2_files, hf_split_json, rank_file

from gristmill.cli import main

PROSE = "\n\n".join(PARAGRAPHS.values()) + (
    "\ndef grind(sacks: list[int]) -> int:\n\treturn sum(s * 2 for s in sacks)  # flour\n"
    "Emoji 🙂👍🏽👨‍👩‍👧, digits 1234567 and 3.14, I'm DON'T, e\u0301 Å ﬁ,   spaces \n\n trailing  "
)


class Reference:
    """Another library's encoder of the vocabulary: ids of a text whose special tokens are allowed, the text of
    ids (Qwen's normalizes to NFC), and one of its special tokens."""

    def __init__(self, encoding: quicktok.Tokenizer | tiktoken.Encoding, special: str):
        self.encoding, self.special = encoding, special

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode(text, allowed_special="all")

    def decode(self, ids: list[int]) -> str:
        return self.encoding.decode(ids)


def quicktok_reference(name: str) -> Reference:
    encoding = quicktok.get_encoding(name)
    return Reference(encoding, encoding.decode([encoding.eot_token]))


def gpt2_reference() -> Reference:
    """tiktoken's GPT-2 from the same two files, with tiktoken's own pattern and end-of-text id."""
    vocab, merges = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(str(merges), str(vocab))
    encoding = tiktoken.Encoding("gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                 special_tokens={"<|endoftext|>": 50256})  # fmt: skip
    return Reference(encoding, "<|endoftext|>")


def source_of(kind: str, folder: Path) -> tuple[Path, list[str], Reference]:
    """The path to import, extra arguments, and the reference encoder."""
    if kind in ("cl100k_base", "o200k_base"):
        return rank_file(kind), [], quicktok_reference(kind)
    if kind == "renamed rank file":  # a name tiktoken does not know: the pattern and specials are given
        copy = Path(shutil.copy(rank_file("cl100k_base"), folder / "ranks.tiktoken.gz"))
        return copy, ["--pattern", "gpt4", "--special-token", "<|endoftext|>=100257"], quicktok_reference("cl100k_base")
    if kind == "gpt2 encoder.json":
        return gpt2_files()[0], [], gpt2_reference()
    (folder / kind).mkdir()  # llama3 / qwen3: the tokenizer.json HF writes for them, by its folder
    hf_split_json(folder / kind, kind)
    return folder / kind, [], quicktok_reference(kind)


KINDS = [
    pytest.param("cl100k_base", marks=pytest.mark.slow),
    pytest.param("o200k_base", marks=pytest.mark.slow),
    pytest.param("renamed rank file", marks=pytest.mark.slow),
    "gpt2 encoder.json",
    pytest.param("llama3", marks=pytest.mark.slow),
    pytest.param("qwen3", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind", KINDS)
def test_an_imported_folder_encodes_as_the_vocabularys_own_encoder(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, extra, reference = source_of(kind, tmp_path)
    folder = tmp_path / "imported"
    assert main(["tokenizer", "import", str(source), "--output", str(folder), *extra]) == 0
    assert "loads the folder's tokenizer.json with the same ids" in capsys.readouterr().out
    assert sorted(path.name for path in folder.iterdir()) == ["gristmill.json", "tokenizer.json"]

    text = f"{PROSE}{reference.special}{PROSE.upper()}"
    (tmp_path / "text.txt").write_text(text, encoding="utf-8")
    assert main(["tokenizer", "encode", str(folder), str(tmp_path / "text.txt"), "--allow-special"]) == 0
    out, err = capsys.readouterr()
    ids = [int(i) for i in out.split()]
    assert ids == reference.encode(text)
    assert err == ""  # a gristmill folder: nothing assumed
    assert HFTokenizer.from_file(str(folder / "tokenizer.json")).encode(text, add_special_tokens=False).ids == ids

    assert main(["tokenizer", "decode", str(folder), *map(str, ids)]) == 0
    assert capsys.readouterr().out == reference.decode(ids)
