"""Recipe stage `kind = "hf_classifier"`: score every document with a local Hugging Face sequence
classification or regression model (FineWeb-Edu's classifier is an encoder with a one-output regression
head; its dataset keeps documents whose rounded score is >= 3) and keep by the same rules as `classifier`:
`min_score` (`hf_classifier_score`), `keep_label` (`hf_classifier_label`) or `keep_top_fraction`
(`hf_classifier_rank`, run-wide). A regression model's score is its output and its label is empty; a
classifier's score is the probability of `keep_label`, or of the top label.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from gristmill_base.errors import UserError
from pipeline.classifier.hf_model import HfModel
from pipeline.filters.classifier import ScoringRules
from pipeline.section import switchable


class HfClassifierStage(ScoringRules):
    kind: Literal["hf_classifier"] = "hf_classifier"
    model: Annotated[str, Field(min_length=1, description="local folder: config.json, tokenizer, *.safetensors")]
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", description="column prefix")] = "hf_classifier"
    min_score: switchable(float) = None  # type: ignore[valid-type]  # a regression output has any range
    batch_size: Annotated[int, Field(ge=1, le=4096)] = 32
    max_tokens: Annotated[int, Field(ge=8, le=8192)] = 512
    device: Literal["auto", "cpu", "cuda"] = "auto"


def load_hf_checked(options: HfClassifierStage) -> HfModel:
    """The stage's model; `keep_label` among its labels, and a label to rank by when it has several."""
    model = HfModel.load(options.model, options.device, options.max_tokens, options.batch_size)
    if options.keep_label:
        model.require_label(options.keep_label)
    elif options.keep_top_fraction is not None and not model.regression:
        raise UserError(f"model {options.model}: keep_top_fraction on a classifier needs keep_label, to rank by")
    return model
