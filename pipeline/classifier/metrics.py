"""How well a classifier separates held-out documents: precision, recall and F1 at a threshold, ROC AUC over
all thresholds, and the share of documents each threshold would keep (what a recipe's `min_score` costs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class HeldOutMetrics:
    documents: int
    positives: int
    precision: float
    recall: float
    f1: float
    roc_auc: float
    threshold: float
    kept_share: dict[str, float]  # threshold -> share of held-out documents with a score >= it

    def as_dict(self) -> dict:
        return asdict(self)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The probability that a random positive outscores a random negative (ties count half): the
    Mann-Whitney form, exact, from the ranks of the scores."""
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def held_out_metrics(scores: list[float], positive: list[bool], threshold: float = 0.5) -> HeldOutMetrics:
    """`scores`: each document's probability of the positive label; `positive`: its true class."""
    values, truth = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    predicted = values >= threshold
    true_positives = int((predicted & truth).sum())
    precision = true_positives / max(int(predicted.sum()), 1)
    recall = true_positives / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    kept = {f"{t:.1f}": float((values >= t).mean()) if len(values) else 0.0 for t in THRESHOLDS}
    return HeldOutMetrics(len(values), int(truth.sum()), precision, recall, f1, roc_auc(values, truth), threshold, kept)
