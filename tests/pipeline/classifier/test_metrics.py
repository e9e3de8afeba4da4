"""The held-out metrics against scikit-learn's (and, for the histogram and kept shares, plain counting) on
random scores with many ties, both classes in any proportion, and the degenerate cases: one class only,
nothing over the threshold, scores of exactly 0 and 1."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, log_loss, precision_score, recall_score, roc_auc_score

from pipeline.classifier.metrics import THRESHOLDS, held_out_metrics, mean_log_loss

# a few distinct values (many ties, the edges 0 and 1 and bin edges included) or any probability
SCORES = st.one_of(st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0]), st.floats(0.0, 1.0))
DOCUMENTS = st.lists(st.tuples(SCORES, st.booleans()), min_size=1, max_size=60)


def sklearn_figures(scores: list[float], truth: list[bool], threshold: float) -> dict[str, float | None]:
    """scikit-learn's figures; its undefined ones as gristmill promises them: 0 for precision and recall
    (zero_division=0), ROC AUC None (scikit-learn warns and gives NaN)."""
    predicted = [score >= threshold for score in scores]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UndefinedMetricWarning in the degenerate cases
        auc = roc_auc_score(truth, scores)
        return {
            "precision": precision_score(truth, predicted, zero_division=0),
            "recall": recall_score(truth, predicted, zero_division=0),
            "f1": f1_score(truth, predicted, zero_division=0),
            "roc_auc": None if np.isnan(auc) else auc,
            "log_loss": log_loss(truth, scores, labels=[False, True]),
        }


@settings(max_examples=200, deadline=None)
@given(DOCUMENTS, st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0]))
def test_the_metrics_equal_scikit_learns(documents: list[tuple[float, bool]], threshold: float):
    scores, truth = [score for score, _ in documents], [positive for _, positive in documents]
    ours = held_out_metrics(scores, truth, threshold)
    reference = sklearn_figures(scores, truth, threshold)
    for name, expected in reference.items():
        value = getattr(ours, name)
        assert (value is None) == (expected is None), name
        if expected is not None:
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), name
    assert ours.documents == len(scores) and ours.positives == sum(truth)


@settings(max_examples=100, deadline=None)
@given(DOCUMENTS)
def test_the_histograms_and_kept_shares_count_the_scores(documents: list[tuple[float, bool]]):
    scores, truth = [score for score, _ in documents], [positive for _, positive in documents]
    ours = held_out_metrics(scores, truth)

    def tenth(score: float) -> int:  # [0, 0.1) -> 0 ... [0.9, 1] -> 9, by exact comparison with k / 10
        return next(k for k in range(9, -1, -1) if score >= k / 10)

    for histogram, wanted in ((ours.positive_histogram, True), (ours.negative_histogram, False)):
        assert histogram == [sum(tenth(s) == k for s, t in documents if t == wanted) for k in range(10)]
    assert ours.kept_share == {f"{t:.1f}": sum(s >= t for s in scores) / len(scores) for t in THRESHOLDS}


def test_one_class_only_has_no_roc_auc_and_still_the_other_figures():
    ours = held_out_metrics([0.2, 0.7, 0.9], [True, True, True])
    assert ours.roc_auc is None
    assert (ours.precision, ours.recall) == (1.0, pytest.approx(2 / 3))
    nothing_kept = held_out_metrics([0.2, 0.3], [False, False])
    assert (nothing_kept.precision, nothing_kept.recall, nothing_kept.f1, nothing_kept.roc_auc) == (0, 0, 0, None)


def test_the_mean_log_loss_of_several_labels_equals_scikit_learns():
    rng = np.random.default_rng(7)
    probabilities = rng.dirichlet(np.ones(4), size=300)  # four labels, rows summing to 1
    probabilities[:5] = np.eye(4)[[0, 1, 2, 3, 0]]  # certain, and for two documents certainly wrong
    truth = rng.integers(0, 4, size=300)
    truth[:5] = [0, 1, 2, 0, 1]
    ours = mean_log_loss(probabilities[np.arange(300), truth])
    assert ours == pytest.approx(log_loss(truth, probabilities, labels=[0, 1, 2, 3]), rel=1e-12)
    assert np.isfinite(ours)
