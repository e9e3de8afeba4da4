"""The ablation's table: per evaluation set and metric, each run's score, its difference from the first run
and whether that difference exceeds twice its standard error.

The runs are scored on the same documents and items, so the standard error is that of the paired difference
(which cancels what the items have in common and is much smaller than either run's own): for accuracy the
standard error of the mean per-item difference; for bits per byte, a ratio of sums, the delta-method standard
error of sum(bits_B - bits_A) / sum(bytes) over documents.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def paired_ratio(first: np.ndarray, other: np.ndarray, sizes: np.ndarray) -> tuple[float, float | None]:
    """(difference, standard error) of sum(other - first) / sum(sizes), per unit pairs."""
    differences, total = other - first, float(sizes.sum())
    delta = float(differences.sum()) / total
    n = len(sizes)
    if n < 2:
        return delta, None
    residuals = differences - delta * sizes
    return delta, math.sqrt(n / (n - 1) * float((residuals**2).sum())) / total


def paired_mean(first: np.ndarray, other: np.ndarray) -> tuple[float, float | None]:
    differences = other - first
    if len(differences) < 2:
        return float(differences.mean()), None
    return float(differences.mean()), float(differences.std(ddof=1) / math.sqrt(len(differences)))


def comparison_rows(names: list[str], results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (set or task, metric); `results[i]` is run i's stored evaluation (see `train.ablate.steps`)."""
    rows = []
    for figures in results[0]["texts"]:
        name = figures["set"]
        units = [result["units"][name] for result in results]
        sizes = np.asarray(units[0]["bytes"], float)
        values = [float(np.sum(u["bits"]) / np.sum(u["bytes"])) for u in units]
        pairs = [paired_ratio(np.asarray(units[0]["bits"]), np.asarray(u["bits"]), sizes) for u in units[1:]]
        rows.append(_row(name, "bits_per_byte", names, values, pairs, lower_is_better=True))
    for figures in results[0]["tasks"]:
        name = figures["task"]
        for metric in ("acc", "acc_norm"):
            if metric not in figures:
                continue
            right = [np.asarray(result["items"][name][metric], float) for result in results]
            pairs = [paired_mean(right[0], other) for other in right[1:]]
            rows.append(_row(name, metric, names, [float(r.mean()) for r in right], pairs, lower_is_better=False))
    return rows


def _row(
    name: str,
    metric: str,
    runs: list[str],
    values: list[float],
    pairs: list[tuple[float, float | None]],
    lower_is_better: bool,
) -> dict[str, Any]:
    differences = [
        {
            "run": run,
            "difference": delta,
            "stderr": error,
            "significant": None if error is None else abs(delta) > 2 * error,
        }
        for run, (delta, error) in zip(runs[1:], pairs, strict=True)
    ]
    return {
        "set": name,
        "metric": metric,
        "lower_is_better": lower_is_better,
        "values": dict(zip(runs, values, strict=True)),
        "differences": differences,
    }
