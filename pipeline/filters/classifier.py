"""Recipe stage `kind = "classifier"`: score every document with a fastText classifier (one trained by
`gristmill classifier train`, or a third party's such as DCLM's quality model) and keep by its score.

Columns `<name>_label` (the top label) and `<name>_score` (the probability of `keep_label`, or of the top
label when no label is named). Keep rules: with `min_score`, a document whose score is under it is removed
(`classifier_score`); with `keep_label` alone, a document whose top label is another is removed
(`classifier_label`); with `keep_top_fraction`, the best-scored share of the whole run is kept
(`classifier_rank`, see `pipeline.steps.rank`); with none, every document is kept and only scored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

import pyarrow as pa
from pydantic import Field, model_validator

from pipeline.classifier.model import ClassifierModel
from pipeline.filters.verdict import Verdict
from pipeline.section import Section, switchable

Score = switchable(Annotated[float, Field(ge=0, le=1)])
Fraction = switchable(Annotated[float, Field(gt=0, le=1)])


class ScoringRules(Section):
    """What a scoring stage keeps; `<name>_label` and `<name>_score` are its columns."""

    keep_label: Annotated[str, Field(min_length=1)] | None = None
    keep_top_fraction: Fraction = None

    @model_validator(mode="after")
    def _one_keep_rule(self) -> ScoringRules:
        if self.keep_top_fraction is not None and getattr(self, "min_score", None) is not None:
            raise ValueError("keep_top_fraction and min_score: give one of them")
        return self

    @property
    def ranks_the_run(self) -> bool:
        """Keeping a top share needs every score of the run first: the stage ends a job (see pipeline.steps.rank)."""
        return self.keep_top_fraction is not None


class ClassifierStage(ScoringRules):
    kind: Literal["classifier"] = "classifier"
    model: Annotated[str, Field(min_length=1, description="model folder, fastText .bin/.ftz file, or URL")]
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="column prefix")] = "classifier"
    min_score: Score = None

    @model_validator(mode="after")
    def _label_to_rank_by(self) -> ClassifierStage:
        if self.keep_top_fraction is not None and not self.keep_label:
            raise ValueError("keep_top_fraction ranks by one label's probability: give keep_label too")
        return self


class Scorer(Protocol):
    def scores(self, texts: list[str], label: str | None = None) -> list[tuple[str | None, float]]: ...


def scoring_columns(options: ClassifierStage) -> tuple[pa.Field, ...]:
    return (pa.field(f"{options.name}_label", pa.string()), pa.field(f"{options.name}_score", pa.float64()))


def load_checked(options: ClassifierStage) -> ClassifierModel:
    """The stage's model, with `keep_label` among its labels (a UserError otherwise)."""
    model = ClassifierModel.load(options.model)
    if options.keep_label:
        model.require_label(options.keep_label)
    return model


def classify_batch(texts: list[str], scorer: Scorer, options: Any) -> list[Verdict]:
    """Each text scored and judged by the stage's keep rules (a top fraction is decided later, run-wide)."""
    scores = scorer.scores(texts, options.keep_label)
    return [judge(text, label, score, options) for text, (label, score) in zip(texts, scores, strict=True)]


def classify(text: str, scorer: Scorer, options: Any) -> Verdict:
    return classify_batch([text], scorer, options)[0]


def judge(text: str, label: str | None, score: float, options: Any) -> Verdict:
    columns = {f"{options.name}_label": label, f"{options.name}_score": score}
    scored = f"{options.keep_label or label or 'output'}"
    if options.min_score is not None and score < options.min_score:
        detail = f"{options.name}: score({scored})={score:.4g} < min_score {options.min_score}"
        return Verdict(text, f"{options.kind}_score", detail, columns)
    if options.min_score is None and options.keep_label and label != options.keep_label.removeprefix("__label__"):
        detail = f"{options.name}: top label {label} ({score:.4g}), not keep_label {options.keep_label}"
        return Verdict(text, f"{options.kind}_label", detail, columns)
    return Verdict(text, columns=columns)
