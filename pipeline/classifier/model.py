"""A fastText classifier ready to score: a model folder written by `gristmill classifier train` (model.bin,
preparation.json, card.json) or any fastText `.bin` / `.ftz` file (DCLM's, a toxicity model, ...), local or
at an fsspec URL. Scoring goes through `ClassifierModel.scores` everywhere (the CLI, the library and the
recipe stage), so all three give the same numbers.

The model is read with `fasttext_new` (a Rust port of fastText that trains, predicts like the C++ package
and refuses a damaged file with an error); its import name differs from the `fasttext` module that
language ID uses, so no import depends on which package was installed last.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import fasttext_new
import fsspec

from gristmill_base.errors import UserError
from pipeline.classifier.preparation import TextPreparation
from pipeline.inputs import is_url

MODEL_FILE = "model.bin"
CARD_FILE = "card.json"
LABEL_PREFIX = "__label__"


class ClassifierModel:
    def __init__(self, model: fasttext_new.FastText._FastText, preparation: TextPreparation, location: str):
        self._model = model
        self.preparation = preparation
        self.location = location
        self.labels: tuple[str, ...] = tuple(label.removeprefix(LABEL_PREFIX) for label in model.get_labels())

    @classmethod
    def load(cls, location: str | Path) -> ClassifierModel:
        """A model folder, or a bare fastText file (scored as one line of the whole text)."""
        where = str(location)
        if not is_url(where) and Path(where).is_dir():
            folder = Path(where)
            if not (folder / MODEL_FILE).is_file():
                raise UserError(f"model {where}: a folder without {MODEL_FILE} (not a `gristmill classifier` model)")
            return cls(_read_model(folder / MODEL_FILE, where), TextPreparation.load(folder), where)
        if is_url(where):
            return cls(_download_and_read(where), TextPreparation(), where)
        if not Path(where).is_file():
            raise UserError(f"model {where}: no such file or folder")
        return cls(_read_model(Path(where), where), TextPreparation(), where)

    def require_label(self, label: str, option: str = "keep_label") -> None:
        """`option`: where the user named the label (a recipe's keep_label, the command line's --label)."""
        if label.removeprefix(LABEL_PREFIX) not in self.labels:
            raise UserError(
                f"model {self.location}: no label {label!r}; its labels: {', '.join(self.labels)} (from {option})"
            )

    def save(self, path: Path) -> None:
        self._model.save_model(str(path))

    def scores(self, texts: list[str], label: str | None = None) -> list[tuple[str, float]]:
        """(top label, probability) per text; with `label`, the probability of that label instead. One
        `predict` per text: as fast as a batch call here (measured), and the same call for every caller."""
        wanted = LABEL_PREFIX + label.removeprefix(LABEL_PREFIX) if label else None
        out = []
        for text in texts:
            names, values = self._model.predict(self.preparation.apply(text), k=-1)
            top = names[0].removeprefix(LABEL_PREFIX) if names else ""
            if wanted is None:
                out.append((top, float(values[0]) if names else 0.0))
            else:
                out.append((top, float(values[names.index(wanted)]) if wanted in names else 0.0))
        return out


def model_fingerprint(location: str) -> str:
    """Changes when a local model (a file, or the files of a model folder) changes: sizes and modification
    times, cheap for a model of gigabytes; a URL stands for itself."""
    if is_url(location):
        return location
    path = Path(location)
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return ",".join(f"{file.name}:{file.stat().st_size}:{file.stat().st_mtime_ns}" for file in files if file.exists())


def _read_model(path: Path, location: str) -> fasttext_new.FastText._FastText:
    try:
        return fasttext_new.load_model(str(path))
    except (ValueError, OSError) as error:
        raise UserError(f"model {location}: not a readable fastText model ({error})") from None


def _download_and_read(url: str) -> fasttext_new.FastText._FastText:
    """The fastText reader takes a path: the file is copied to a temporary file, read and deleted."""
    handle, temporary = tempfile.mkstemp(suffix=".bin")
    os.close(handle)
    try:
        try:
            with fsspec.open(url, "rb") as source, open(temporary, "wb") as target:
                while chunk := source.read(1 << 24):
                    target.write(chunk)
        except Exception as error:  # any fsspec backend error
            raise UserError(f"model {url}: cannot download ({type(error).__name__}: {error})") from None
        return _read_model(Path(temporary), url)
    finally:
        os.unlink(temporary)
