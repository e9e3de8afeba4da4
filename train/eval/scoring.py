"""Task figures from per-choice log-likelihoods, as lm-evaluation-harness defines them: `acc` picks the choice
with the highest summed log-likelihood, `acc_norm` the highest per character of the choice; a cloze item is
right when every target token is the model's most likely one (`acc`), and `perplexity` is exp of the mean
negative log-likelihood of the targets per item. Standard errors are the sample standard deviation of the
per-item scores over the square root of their number. Ties go to the first choice.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from train.eval.likelihood import Request, continuation_request, score_requests
from train.eval.models import ScoringModel
from train.eval.tasks import Task


def stderr(values: np.ndarray) -> float | None:
    """None for one item: no spread to measure."""
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else None


def task_requests(model: ScoringModel, task: Task) -> list[Request]:
    return [
        continuation_request(model, c, k)
        for item in task.items
        for c, k in zip(item.contexts, item.continuations, strict=True)
    ]


def evaluate_task(
    model: ScoringModel, task: Task, batch_size: int, advance: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(figures, one record per item) of a task."""
    scored = iter(score_requests(model, task_requests(model, task), batch_size, advance))
    records = []
    for item in task.items:
        results = [next(scored) for _ in item.continuations]
        lls = [float(result.logprobs.sum()) for result in results]
        record: dict[str, Any] = {
            "id": item.id,
            "gold": item.gold,
            "loglikelihoods": lls,
            "contexts": item.contexts,  # the strings scored, per choice: lm-evaluation-harness's `arguments`
            "continuations": item.continuations,
        }
        if item.cloze:
            record["greedy"] = bool(results[0].greedy.all())
        else:
            record["pred"] = int(np.argmax(lls))
            record["pred_norm"] = int(np.argmax(np.array(lls) / np.array(item.lengths, float)))
        records.append(record)
    return figures(task, records), records


def figures(task: Task, records: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {"task": task.name, "format": task.format, "items": len(records)}
    if task.format == "cloze":
        right = np.array([r["greedy"] for r in records], float)
        mean_ll = float(np.mean([r["loglikelihoods"][0] for r in records]))
        return found | {"acc": float(right.mean()), "acc_stderr": stderr(right), "perplexity": math.exp(-mean_ll)}
    right = np.array([r["pred"] == r["gold"] for r in records], float)
    right_norm = np.array([r["pred_norm"] == r["gold"] for r in records], float)
    chance = float(np.mean([1 / len(r["loglikelihoods"]) for r in records]))
    return found | {
        "acc": float(right.mean()),
        "acc_stderr": stderr(right),
        "acc_norm": float(right_norm.mean()),
        "acc_norm_stderr": stderr(right_norm),
        "chance": chance,
    }
