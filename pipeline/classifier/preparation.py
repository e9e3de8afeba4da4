"""The text a classifier sees. Training and scoring must prepare text identically, so the settings are saved
in the model folder and read back with the model: a model trained on lowercased text scores lowercased text."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gristmill_base.atomic import write_json_atomic
from gristmill_base.errors import UserError

FILE = "preparation.json"


@dataclass(frozen=True)
class TextPreparation:
    """`max_chars`: only the start of a long document is read (0: all of it); fastText averages its word
    vectors, so the start of a page says as much as the whole at a fraction of the cost."""

    lowercase: bool = False
    max_chars: int = 0

    def apply(self, text: str) -> str:
        """One line (fastText reads a line per example): line breaks become spaces and nothing else changes,
        so a third party's model sees its words as fastText's own tools give them (fastText splits on ASCII
        whitespace only: a no-break space stays inside a word). Lone surrogates are replaced: the binding
        takes valid UTF-8 only."""
        if self.max_chars:
            text = text[: self.max_chars]
        if self.lowercase:
            text = text.lower()
        line = text.replace("\r", " ").replace("\n", " ").strip()
        return line.encode("utf-8", "replace").decode("utf-8")

    def save(self, folder: Path) -> None:
        write_json_atomic(folder / FILE, asdict(self))

    @classmethod
    def load(cls, folder: Path) -> TextPreparation:
        path = folder / FILE
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            return cls(lowercase=bool(values["lowercase"]), max_chars=int(values["max_chars"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"{path}: not a preparation file ({type(error).__name__}: {error})") from None
