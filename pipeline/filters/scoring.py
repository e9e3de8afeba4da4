"""The stages that score documents with a model (fastText `classifier`, Hugging Face `hf_classifier`): one
way to load their model, checked against the stage's keep rules, for the chain, the run-wide rank and the
checks before a run."""

from __future__ import annotations

from pipeline.filters.classifier import ClassifierStage, Scorer, load_checked
from pipeline.filters.hf_classifier import HfClassifierStage, load_hf_checked

ScoringStage = ClassifierStage | HfClassifierStage
SCORING_STAGES = (ClassifierStage, HfClassifierStage)


def load_scorer(options: ScoringStage) -> Scorer:
    """The stage's model, ready to score; a missing, damaged or unsuitable one is a UserError."""
    if isinstance(options, HfClassifierStage):
        return load_hf_checked(options)
    return load_checked(options)
