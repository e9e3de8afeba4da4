"""Log-likelihood requests, batched: the context and continuation of a text, tokenized the way
lm-evaluation-harness 0.4 does it (so figures compare with it: `bench/eval_parity.py` measures it), cut to the
model's length, scored in batches of similar length (longest first: a batch that does not fit in memory fails
at once, not at the end).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from train.eval.models import Scored, ScoringModel


@dataclass(frozen=True)
class Request:
    """Score the last `scored` tokens of `tokens` given the ones before them."""

    tokens: tuple[int, ...]
    scored: int


def continuation_request(model: ScoringModel, context: str, continuation: str) -> Request:
    """The continuation's tokens after the context's, as lm-evaluation-harness forms them: spaces that end the
    context move to the continuation; the context starts as the model's prefix rule says (`context_ids`); the
    continuation's ids are those of the whole text past the context's ids; an empty context is the prefix token
    alone (or, where the continuation itself begins with that token, that first token). Longer than the model's
    length, the context is cut on the left."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    if context:
        context_ids = model.context_ids(context)
        continuation_ids = model.context_ids(context + continuation)[len(context_ids) :]
    else:
        ids = model.encode(continuation)
        starts_with_prefix = ids[:1] == [model.prefix_id]
        context_ids, continuation_ids = (ids[:1], ids[1:]) if starts_with_prefix else ([model.prefix_id], ids)
    tokens = [*context_ids, *continuation_ids][-(model.max_length + 1) :]
    return Request(tuple(tokens), min(len(continuation_ids), len(tokens) - 1))


def context_prefix(model: ScoringModel) -> str | None:
    """The token text the model's rule puts before a context (None: nothing), for the table and `--json`."""
    probe = "the"
    added = model.context_ids(probe)[: -len(model.encode(probe))]
    return "".join(model.token_text(token) for token in added) or None


def score_requests(
    model: ScoringModel, requests: list[Request], batch_size: int, advance: Callable[[int], None] | None = None
) -> list[Scored]:
    """Scored tokens of every request, in the order given."""
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i].tokens))
    results: list[Scored | None] = [None] * len(requests)
    for start in range(0, len(order), batch_size):
        chosen = [i for i in order[start : start + batch_size] if requests[i].scored > 0]
        if chosen:
            scored = model.score([list(requests[i].tokens) for i in chosen], [requests[i].scored for i in chosen])
            for i, result in zip(chosen, scored, strict=True):
                results[i] = result
        if advance:
            advance(len(order[start : start + batch_size]))
    empty = Scored(np.zeros(0), np.zeros(0, bool))  # nothing to score: a continuation with no tokens
    return [result if result is not None else empty for result in results]
