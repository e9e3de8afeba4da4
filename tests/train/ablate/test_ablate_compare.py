"""The table's differences and paired standard errors: for accuracy the standard error of the mean per-item
difference; for bits per byte a ratio of sums, which with equal-sized documents is the mean per-document
difference in bits per byte, and so must give the same standard error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from train.ablate.compare import comparison_rows, paired_mean, paired_ratio


def test_the_ratio_error_with_equal_documents_is_the_error_of_the_mean_difference():
    rng = np.random.default_rng(0)
    sizes = np.full(50, 400.0)
    first, other = rng.normal(1200, 80, 50), rng.normal(1150, 80, 50)
    delta, error = paired_ratio(first, other, sizes)
    per_document = (other - first) / 400
    assert delta == pytest.approx(per_document.mean())
    assert error == pytest.approx(per_document.std(ddof=1) / math.sqrt(50))


def test_accuracy_differences_are_paired_per_item():
    first, other = np.array([1, 0, 1, 1, 0, 0.0]), np.array([1, 1, 1, 0, 1, 0.0])
    delta, error = paired_mean(first, other)
    assert delta == pytest.approx(1 / 6)
    d = other - first
    assert error == pytest.approx(math.sqrt(((d - d.mean()) ** 2).sum() / 5 / 6))
    assert paired_mean(np.array([1.0]), np.array([0.0]))[1] is None


def test_rows_mark_a_difference_beyond_twice_its_error():
    sizes = [100] * 40
    same = {"bits": [300.0] * 40, "bytes": sizes}
    better = {"bits": [250.0 + (i % 3) for i in range(40)], "bytes": sizes}
    results = [
        {"texts": [{"set": "s"}], "tasks": [{"task": "t", "acc": 0.5}], "units": {"s": units},
         "items": {"t": {"acc": accuracy}}}
        for units, accuracy in ((same, [1.0, 0.0] * 20), (better, [0.0, 1.0] * 20), (same, [1.0, 0.0] * 20))
    ]  # fmt: skip
    rows = comparison_rows(["a", "b", "c"], results)
    bits, acc = rows
    assert bits["values"] == {"a": 3.0, "b": pytest.approx((250 + 39 / 40) / 100), "c": 3.0}
    assert [d["significant"] for d in bits["differences"]] == [True, False] and bits["lower_is_better"]
    assert acc["metric"] == "acc" and acc["differences"][0]["difference"] == 0.0
    assert acc["differences"][0]["significant"] is False and acc["differences"][1]["stderr"] == 0.0
