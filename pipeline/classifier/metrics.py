"""How well a classifier separates held-out documents: precision, recall and F1 at a threshold, ROC AUC over
all thresholds, log-loss, each class's score histogram (do the scores spread, so that a `min_score` means
something?) and the share of documents each threshold would keep (what a recipe's `min_score` costs).

Written here, not taken from scikit-learn (a large runtime dependency for these few lines); the tests check
every figure against scikit-learn's on random scores with ties. Undefined figures have a fixed outcome: ROC
AUC is None when the held-out documents are of one class; precision is 0 when no score reaches the threshold,
recall 0 without positives, F1 0 when both are 0 (scikit-learn's `zero_division=0`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
BIN_EDGES = np.arange(11) / 10  # score tenths: [0, 0.1), [0.1, 0.2) ... [0.9, 1]
EPSILON = float(np.finfo(np.float64).eps)  # the smallest probability a log-loss counts, as scikit-learn's


@dataclass(frozen=True)
class HeldOutMetrics:
    documents: int
    positives: int
    precision: float
    recall: float
    f1: float
    roc_auc: float | None  # None: held-out documents of one class only
    log_loss: float
    threshold: float
    kept_share: dict[str, float]  # threshold -> share of held-out documents with a score >= it
    positive_histogram: list[int]  # held-out positives per score tenth (BIN_EDGES)
    negative_histogram: list[int]  # the other held-out documents per score tenth

    def as_dict(self) -> dict:
        return asdict(self)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """The probability that a random positive outscores a random negative (ties count half): the
    Mann-Whitney form, exact, from the ranks of the scores."""
    positives, negatives = int(positive.sum()), int((~positive).sum())
    if not positives or not negatives:
        return None
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def mean_log_loss(true_label_probabilities: Sequence[float] | np.ndarray) -> float:
    """The mean of -log(probability given to the document's true label). fastText's probabilities can reach 0
    (a confident miss then costs -log(EPSILON) = 36 nats, not infinity) and exceed 1 by 1e-5 (clipped to 1)."""
    probabilities = np.clip(np.asarray(true_label_probabilities, dtype=np.float64), EPSILON, 1.0)
    return float(-np.log(probabilities).mean())


def score_histogram(scores: np.ndarray) -> list[int]:
    """Documents per score tenth; a score a hair over 1 (fastText's) counts in the last."""
    return [int(count) for count in np.histogram(np.clip(scores, 0.0, 1.0), bins=BIN_EDGES)[0]]


def held_out_metrics(scores: list[float], positive: list[bool], threshold: float = 0.5) -> HeldOutMetrics:
    """`scores`: each document's probability of the positive label; `positive`: its true class."""
    values, truth = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    predicted = values >= threshold
    true_positives = int((predicted & truth).sum())
    precision = true_positives / max(int(predicted.sum()), 1)
    recall = true_positives / max(int(truth.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    kept = {f"{t:.1f}": float((values >= t).mean()) if len(values) else 0.0 for t in THRESHOLDS}
    return HeldOutMetrics(
        documents=len(values),
        positives=int(truth.sum()),
        precision=precision,
        recall=recall,
        f1=f1,
        roc_auc=roc_auc(values, truth),
        log_loss=mean_log_loss(np.where(truth, values, 1.0 - values)),
        threshold=threshold,
        kept_share=kept,
        positive_histogram=score_histogram(values[truth]),
        negative_histogram=score_histogram(values[~truth]),
    )
