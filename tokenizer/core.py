"""The byte-level BPE tokenizer (docs/formats.md): ids 0..255 are the bytes, then one id per merge, then the
special tokens; `vocab_size` counts all three.

Encoding splits out special tokens first (those allowed become their ids; tiktoken's `allowed_special` /
`disallowed_special` rules), then pre-tokenizes with the pattern and applies BPE to each piece, caching
the ids of pieces already seen. Decoding joins the bytes and replaces what is not valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, Literal

import regex

from tokenizer.encoder import bpe, rank_table
from tokenizer.files import read_folder, read_gpt2_files, save_folder
from tokenizer.parallel import encode_in_processes
from tokenizer.patterns import DEFAULT, resolve_pattern, special_splitter, splitter

CACHE_LIMIT = 200_000
Specials = Literal["all"] | Collection[str]


class Tokenizer:
    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: Sequence[str] | None = None,
        pattern: str = DEFAULT,
    ):
        if any(vocab.get(i) != bytes([i]) for i in range(256)):
            raise ValueError("vocab: ids 0..255 must be the 256 single bytes, in byte order")
        self.vocab = dict(vocab)
        self.merges = list(merges)
        self.pattern = pattern
        self._regex = regex.compile(resolve_pattern(pattern))
        self._pieces = splitter(pattern)
        ids = {token: i for i, token in self.vocab.items()}
        if len(ids) != len(self.vocab):
            raise ValueError("vocab: two ids have the same bytes")
        pairs: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (left, right) in enumerate(self.merges):
            try:
                pair, merged = (ids[left], ids[right]), ids[left + right]
            except KeyError:
                raise ValueError(
                    f"merges[{rank}]: {left!r} + {right!r}: a part or the result is not in vocab"
                ) from None
            pairs.setdefault(pair, (rank, merged))
        self._ranks = rank_table(pairs)
        self.special_tokens = list(special_tokens or [])
        first = max(self.vocab) + 1
        self.special_ids = {token: first + i for i, token in enumerate(self.special_tokens)}
        self._specials = special_splitter(self.special_tokens)
        self._cache = _PieceCache(self._ranks)
        self.training: Any = None  # what `train_bpe` made it from (a `tokenizer.train.TrainingStats`)

    def __getstate__(self) -> dict[str, Any]:
        """For worker processes: the definition only; each rebuilds its tables and cache."""
        return {
            "vocab": self.vocab,
            "merges": self.merges,
            "special_tokens": self.special_tokens,
            "pattern": self.pattern,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + len(self.special_tokens)

    def encode(self, text: str, allowed_special: Specials = (), disallowed_special: Specials = "all") -> list[int]:
        """Ids of `text`. A special token in the text is its id when allowed; when disallowed (by default every
        special not allowed) it is an error, as in tiktoken; pass `disallowed_special=()` to encode it as text."""
        allowed = set(self.special_tokens) if allowed_special == "all" else set(allowed_special)
        disallowed = set(self.special_tokens) - allowed if disallowed_special == "all" else set(disallowed_special)
        out: list[int] = []
        for part, is_special in self._split_specials(text, allowed | disallowed):
            if not is_special:
                out += self._encode_ordinary(part)
            elif part in allowed:
                out.append(self.special_ids[part])
            else:
                raise ValueError(
                    f"text contains the special token {part!r}: pass allowed_special to encode it as its id, or "
                    f"disallowed_special=() to encode it as ordinary text"
                )
        return out

    def encode_batch(self, texts: Sequence[str], workers: int = 1, **options: Specials) -> list[list[int]]:
        """Ids of each text; `workers` > 1 spreads a large batch over processes."""
        if workers <= 1 or len(texts) < 64:
            return [self.encode(text, **options) for text in texts]
        return encode_in_processes(self, texts, workers, options)

    def encode_iterable(self, texts: Iterable[str]) -> Iterator[int]:
        """The ids of the concatenated texts, streamed: exactly `encode("".join(texts))` with special tokens
        as text, holding only the unfinished last pieces between chunks."""
        pending = ""
        for chunk in texts:
            pending += chunk
            pieces = [m.start() for m in self._regex.finditer(pending)]
            if len(pieces) > 2:  # the last two pieces may still grow or split with the next chunk
                cut = pieces[-2]
                yield from self._encode_ordinary(pending[:cut])
                pending = pending[cut:]
        yield from self._encode_ordinary(pending)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        specials = {i: token.encode("utf-8") for token, i in self.special_ids.items()}
        try:
            return b"".join(self.vocab[i] if i in self.vocab else specials[i] for i in ids)
        except KeyError as error:
            raise ValueError(f"id {error.args[0]} is not in this tokenizer (vocab size {self.vocab_size})") from None

    def _split_specials(self, text: str, wanted: set[str]) -> Iterator[tuple[str, bool]]:
        if self._specials is None or not any(token in text for token in wanted):  # substring search: fast path
            yield text, False
            return
        start = 0
        for match in self._specials.finditer(text):
            if match[0] not in wanted:
                continue
            yield text[start : match.start()], False
            yield match[0], True
            start = match.end()
        yield text[start:], False

    def _encode_ordinary(self, text: str) -> list[int]:
        if len(self._cache) > CACHE_LIMIT:
            self._cache.clear()
        return list(chain.from_iterable(map(self._cache.__getitem__, self._pieces(text))))

    def save(self, folder: str | Path) -> None:
        save_folder(self, folder)

    @classmethod
    def load(cls, folder: str | Path) -> Tokenizer:
        """A tokenizer folder (or any byte-level BPE tokenizer.json's folder)."""
        return cls(**read_folder(folder))

    @classmethod
    def from_gpt2_files(cls, vocab_json: str | Path, merges_txt: str | Path, pattern: str = "gpt2") -> Tokenizer:
        """GPT-2-style `vocab.json` + `merges.txt`."""
        return cls(**read_gpt2_files(vocab_json, merges_txt, pattern))


class _PieceCache(dict):
    """Ids of pieces already seen; a miss runs BPE (so the hot loop of `_encode_ordinary` stays in C)."""

    def __init__(self, ranks: dict):
        super().__init__()
        self.ranks = ranks

    def __missing__(self, piece: str) -> list[int]:
        ids = self[piece] = bpe(piece.encode("utf-8", errors="surrogatepass"), self.ranks)
        return ids
