"""What defines a byte-level BPE tokenizer, whatever file it came from: the readers (`tokenizer.hf_json`,
`tokenizer.tiktoken_file`) make one, `tokenizer.core.Tokenizer` is built from one, the writers write one.

Ids are the vocabulary's own: the byte tokens and merged tokens anywhere, special tokens at their ids, gaps
allowed. `merges` is the merge list (HF, GPT-2, gristmill) or None where the ids are tiktoken ranks: any two
adjacent tokens whose bytes join into a token merge, the lowest rank first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from tokenizer.patterns import DEFAULT

if TYPE_CHECKING:
    import regex

NORMALIZERS = ("NFC", "NFKC", "NFD", "NFKD")


@dataclass(frozen=True)
class Added:
    """A token found in the text before pre-tokenization: a special token (`special`: encoded as its id only
    where allowed, tiktoken's rule) or an HF added token that is not special (always its id). `lstrip` /
    `rstrip`: the white space before / after it belongs to it (HF's flags)."""

    content: str
    id: int
    special: bool = True
    lstrip: bool = False
    rstrip: bool = False


@dataclass
class Definition:
    vocab: dict[int, bytes]
    merges: list[tuple[bytes, bytes]] | None
    added: list[Added] = field(default_factory=list)
    pattern: str = DEFAULT
    whole_tokens_first: bool = False  # a piece that is a token is that token (tiktoken; HF `ignore_merges`)
    normalizer: str | None = None  # one of NORMALIZERS, applied to the text between added tokens
    prefix_space: bool = False  # HF ByteLevel `add_prefix_space`: " " before text that does not start with one
    post_processor: dict[str, Any] | None = None  # an HF file's, kept for the files gristmill writes

    @property
    def special_ids(self) -> dict[str, int]:
        return {a.content: a.id for a in sorted(self.added, key=lambda a: a.id) if a.special}


def specials_after(vocab: dict[int, bytes], special_tokens: list[str]) -> list[Added]:
    """Special tokens numbered after the largest vocab id, in the order given (gristmill's own layout)."""
    first = max(vocab, default=-1) + 1
    return [Added(token, first + i) for i, token in enumerate(dict.fromkeys(special_tokens))]


def with_specials(definition: Definition, tokens: list[str]) -> Definition:
    """`definition` plus those `tokens` it lacks, as special tokens at ids after its largest: no id changes."""
    present = {a.content for a in definition.added}
    taken = {**definition.vocab, **{a.id: b"" for a in definition.added}}
    new = specials_after(taken, [token for token in tokens if token not in present])
    return replace(definition, added=[*definition.added, *new])


def rank_splits(vocab: dict[int, bytes]) -> Iterator[tuple[int, int, int]]:
    """(rank, left id, right id) for every split of a token into two tokens: what tiktoken ranks merge (any two
    adjacent tokens that join into a token, the lowest rank first), as the encoder's pair table and as HF merges."""
    ids = {token: i for i, token in vocab.items()}
    for rank, token in sorted(vocab.items()):
        for cut in range(1, len(token)):
            left, right = ids.get(token[:cut]), ids.get(token[cut:])
            if left is not None and right is not None:
                yield rank, left, right


def added_finder(added: list[Added]) -> regex.Pattern[str] | None:
    """Matches any added token (group `token`), the longest first where two overlap (`<|a|>` before `<|a`),
    with the white space its `lstrip` / `rstrip` takes; None when there are none."""
    if not added:
        return None
    import regex  # here: reading a tokenizer's files (the command line's parsers) needs no regex engine

    ordered = sorted(added, key=lambda a: (-len(a.content), a.content))
    return regex.compile(
        "|".join(
            ("\\s*" if a.lstrip else "") + "(?P<token>" + regex.escape(a.content) + ")" + ("\\s*" if a.rstrip else "")
            for a in ordered
        )
    )
