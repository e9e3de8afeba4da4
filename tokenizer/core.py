"""The byte-level BPE tokenizer (docs/formats.md): any byte-level vocabulary with its own ids (gristmill's,
GPT-2's, cl100k, o200k, Llama 3, Qwen, ...), special tokens at their ids; `vocab_size` is the largest id + 1.

Encoding finds the added tokens first (special ones become their ids where allowed, tiktoken's
`allowed_special` / `disallowed_special` rules; HF's non-special added tokens always), normalizes the text
between them where the vocabulary says so, then pre-tokenizes and applies BPE in compiled code
(`tokenizer.engine`). Decoding joins the bytes and replaces what is not valid UTF-8.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from tokenizer.definition import Added, Definition, added_finder, specials_after
from tokenizer.engine import Engine
from tokenizer.files import read_any, save_folder
from tokenizer.parallel import encode_in_processes
from tokenizer.patterns import DEFAULT

Specials = Literal["all"] | Collection[str]


class Tokenizer:
    def __init__(
        self,
        vocab: dict[int, bytes],
        merges: Sequence[tuple[bytes, bytes]] | None,
        special_tokens: Sequence[str] | None = None,
        pattern: str = DEFAULT,
        *,
        added: Sequence[Added] | None = None,
        whole_tokens_first: bool | None = None,
        normalizer: str | None = None,
        prefix_space: bool = False,
        post_processor: dict[str, Any] | None = None,
    ):
        """`merges` None: the ids are tiktoken ranks (and whole tokens win, as in tiktoken). Special tokens
        are either `special_tokens` (numbered after the vocab) or `added` (at their own ids)."""
        self.definition = Definition(
            vocab=dict(vocab),
            merges=None if merges is None else list(merges),
            added=list(added) if added is not None else specials_after(vocab, list(special_tokens or [])),
            pattern=pattern,
            whole_tokens_first=merges is None if whole_tokens_first is None else whole_tokens_first,
            normalizer=normalizer,
            prefix_space=prefix_space,
            post_processor=post_processor,
        )
        self.vocab = self.definition.vocab
        self.merges = self.definition.merges
        self.pattern = pattern
        self.added = {a.content: a for a in self.definition.added}
        self.special_ids = self.definition.special_ids
        self.special_tokens = list(self.special_ids)
        self._engine = Engine(self.definition, {a.id for a in self.definition.added})
        self._added_finder = added_finder(self.definition.added)
        self._first_characters = {a.content[0] for a in self.definition.added if a.content}
        self._always = {a.content for a in self.definition.added if not a.special}
        self._bytes_of = _bytes_by_id(self.vocab, self.definition.added)
        self.training: Any = None  # what `train_bpe` made it from (a `tokenizer.train.TrainingStats`)

    @classmethod
    def from_definition(cls, definition: Definition) -> Tokenizer:
        return cls(
            definition.vocab, definition.merges, None, definition.pattern, added=definition.added,
            whole_tokens_first=definition.whole_tokens_first, normalizer=definition.normalizer,
            prefix_space=definition.prefix_space, post_processor=definition.post_processor,
        )  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        """For worker processes: the definition only; each rebuilds its tables and cache."""
        return {"definition": self.definition}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(Tokenizer.from_definition(state["definition"]).__dict__)

    @property
    def vocab_size(self) -> int:
        """The largest id + 1: the rows an embedding needs (ids in gaps are never produced)."""
        return len(self._bytes_of)

    def encode(self, text: str, allowed_special: Specials = (), disallowed_special: Specials = "all") -> list[int]:
        """Ids of `text`. A special token in the text is its id when allowed; when disallowed (by default every
        special not allowed) it is an error, as in tiktoken; pass `disallowed_special=()` to encode it as text."""
        return self.encode_batch([text], allowed_special=allowed_special, disallowed_special=disallowed_special)[0]

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of `text` with any special token in it encoded as text (tiktoken's `encode_ordinary`)."""
        return self.encode(text, disallowed_special=())

    def encode_batch(
        self,
        texts: Sequence[str],
        workers: int = 1,
        allowed_special: Specials = (),
        disallowed_special: Specials = "all",
    ) -> list[list[int]]:
        """Ids of each text; `workers` > 1 spreads a large batch over processes."""
        options = {"allowed_special": allowed_special, "disallowed_special": disallowed_special}
        if workers > 1 and len(texts) >= 64:
            return encode_in_processes(self, texts, workers, options)
        allowed = set(self.special_ids) if allowed_special == "all" else set(allowed_special)
        disallowed = set(self.special_ids) - allowed if disallowed_special == "all" else set(disallowed_special)
        wanted = allowed | disallowed | self._always
        plain: list[str] = []
        layout: list[list[int | str]] = []  # per text: ids of added tokens and the texts between them
        for text in texts:
            parts = self._parts(text, wanted, allowed | self._always)
            layout.append(parts)
            plain += [part for part in parts if isinstance(part, str)]
        encoded = iter(self._engine.encode_texts(plain))
        found: list[list[int]] = []
        for parts in layout:
            if len(parts) == 1 and isinstance(parts[0], str):
                found.append(next(encoded))
                continue
            ids: list[int] = []
            for part in parts:
                if isinstance(part, str):
                    ids += next(encoded)
                else:
                    ids.append(part)
            found.append(ids)
        return found

    def _parts(self, text: str, wanted: set[str], allowed: set[str]) -> list[int | str]:
        """The text cut at the added tokens it holds: their ids and the (normalized) texts between them."""
        rules = self.definition
        if self._added_finder is None or not wanted or not any(c in text for c in self._first_characters):
            pieces: list[tuple[str, str | None]] = [(text, None)]
        else:
            pieces = []
            start = 0
            for match in self._added_finder.finditer(text):
                token = match["token"]
                if token not in wanted:
                    continue
                if token not in allowed:
                    raise ValueError(
                        f"text contains the special token {token!r}: pass allowed_special to encode it as its id, "
                        f"or disallowed_special=() to encode it as ordinary text"
                    )
                added = self.added[token]
                cut_start = match.start() if added.lstrip else match.start("token")
                pieces.append((text[start:cut_start], None))
                pieces.append(("", token))
                start = match.end() if added.rstrip else match.end("token")
            pieces.append((text[start:], None))
        parts: list[int | str] = []
        for piece, token in pieces:
            if token is not None:
                parts.append(self.added[token].id)
                continue
            if rules.normalizer:
                piece = unicodedata.normalize(rules.normalizer, piece)
            if rules.prefix_space and piece and not piece.startswith(" "):
                piece = " " + piece
            if piece or len(pieces) == 1:
                parts.append(piece)
        return parts

    def encode_iterable(self, texts: Iterable[str]) -> Iterator[int]:
        """The ids of the concatenated texts, streamed: exactly `encode_ordinary("".join(texts))` for a
        vocabulary without normalizer or prefix space, holding only the unfinished last pieces between chunks."""
        pending = ""
        for chunk in texts:
            pending += chunk
            pieces = [m.start() for m in self._engine.cutter.regex.finditer(pending)]
            if len(pieces) > 2:  # the last two pieces may still grow or split with the next chunk
                cut = pieces[-2]
                yield from self.encode_ordinary(pending[:cut])
                pending = pending[cut:]
        yield from self.encode_ordinary(pending)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        ids = ids if isinstance(ids, (list, tuple)) else list(ids)
        try:
            if ids and min(ids) < 0:  # a Python index from the end, never an id
                raise IndexError
            return b"".join(map(self._bytes_of.__getitem__, ids))
        except (IndexError, TypeError):
            bad = next(i for i in ids if not 0 <= i < len(self._bytes_of) or self._bytes_of[i] is None)
            raise ValueError(f"id {bad} is not in this tokenizer (vocab size {self.vocab_size})") from None

    def id_of(self, token: str | int) -> int:
        """The id of a special/added token named by its text, or an id given as such (checked)."""
        if isinstance(token, int) or token.isdigit():
            number = int(token)
            if not 0 <= number < len(self._bytes_of) or self._bytes_of[number] is None:
                raise ValueError(f"id {number} is not in this tokenizer (vocab size {self.vocab_size})")
            return number
        if token not in self.added:
            known = ", ".join(list(self.added)[:8]) or "none"
            raise ValueError(f"{token!r} is not a special token of this tokenizer (its special tokens: {known})")
        return self.added[token].id

    def save(self, folder: str | Path, extends: list[str] | None = None) -> None:
        save_folder(self.definition, folder, extends)

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        """A tokenizer folder, an HF `tokenizer.json`, a tiktoken `.tiktoken(.gz)` file of a known encoding
        (cl100k_base, o200k_base, ...), or GPT-2 `vocab.json` + `merges.txt` (the folder or the vocab.json)."""
        return cls.from_definition(read_any(path))

    @classmethod
    def from_gpt2_files(cls, vocab_json: str | Path, merges_txt: str | Path, pattern: str = "gpt2") -> Tokenizer:
        """GPT-2-style `vocab.json` + `merges.txt`, ids as they are."""
        from tokenizer.hf_json import read_gpt2_files

        return cls.from_definition(read_gpt2_files(vocab_json, merges_txt, pattern))


def _bytes_by_id(vocab: dict[int, bytes], added: list[Added]) -> list[bytes | None]:
    size = max([*vocab, *(a.id for a in added)], default=-1) + 1
    table: list[bytes | None] = [None] * size
    for i, token in vocab.items():
        table[i] = token
    for a in added:
        table[a.id] = a.content.encode("utf-8")
    return table
