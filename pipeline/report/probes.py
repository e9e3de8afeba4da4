"""The measured value a filter rule sees on a document it kept.

A stage function reports its measurement only when a rule removes a document (`words=12 < 50`). To show
the same measurement on kept documents, the report runs the stage again on them with that one rule's
threshold set where no value can pass (`min_words = inf`): the rule then fires on every document and
reports what it measured, with exactly the code that decided during the run. Rules with nothing to
measure (URL lists, lorem ipsum, a curly bracket) have no probe.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.filters.chain import build_runner

INF = float("inf")
NEVER = -1.0  # for "> limit" rules: every measured value (a count or a share) is above it

_PROBES: dict[str, dict[str, Any]] = {
    "gopher_word_count": {"min_words": INF},
    "gopher_mean_word_length": {"min_mean_word_length": INF},
    "gopher_hash_ratio": {"max_hash_ratio": NEVER},
    "gopher_ellipsis_ratio": {"max_ellipsis_ratio": NEVER},
    "gopher_bullet_lines": {"max_bullet_lines": NEVER},
    "gopher_ellipsis_lines": {"max_ellipsis_lines": NEVER},
    "gopher_alpha_words": {"min_alpha_words": INF},
    "gopher_stop_words": {"min_stop_words": INF},
    "gopher_duplicate_paragraphs": {"max_duplicate_paragraphs": NEVER},
    "gopher_duplicate_paragraph_chars": {"max_duplicate_paragraph_chars": NEVER},
    "gopher_duplicate_lines": {"max_duplicate_lines": NEVER},
    "gopher_duplicate_line_chars": {"max_duplicate_line_chars": NEVER},
    "c4_sentences": {"min_sentences": INF},
    "fineweb_punctuated_lines": {"min_punctuated_lines": INF},
    "fineweb_duplicate_line_chars": {"max_duplicate_line_chars": NEVER},
    "fineweb_short_lines": {"max_short_lines": NEVER},
    "fineweb_list_ratio": {"max_newlines_per_word": NEVER},
    "length_chars": {"min_chars": INF},
    "length_words": {"min_words": INF},
    "length_lines": {"min_lines": INF},
    "lang_low_score": {"min_score": INF},
    "lang_not_kept": {"keep": ["-"]},
}
_NGRAM_PROBES = (
    (re.compile(r"gopher_top_(\d+)gram"), lambda n: {"max_top_ngram_chars": {n: NEVER}}),
    (
        re.compile(r"gopher_duplicate_(\d+)grams"),
        lambda n: {"max_top_ngram_chars": {}, "max_duplicate_ngram_chars": {n: NEVER}},
    ),
)
MEASURED = re.compile(r"^(?P<name>[\w/]+)=(?P<value>\S+?)(?: (?P<op><=|>=|<|>) (?P<threshold>\S+))?(?: |$)")


def probe_overrides(rule: str) -> dict[str, Any] | None:
    if rule in _PROBES:
        return _PROBES[rule]
    for pattern, overrides in _NGRAM_PROBES:
        if match := pattern.fullmatch(rule):
            return overrides(match[1])
    return None


def measure(options: Any, rule: str, documents: list[tuple[str, str | None]]) -> list[str | None] | None:
    """`name=value` for each (text, url) as the rule measures it, or None where the rule has no probe."""
    overrides = probe_overrides(rule)
    if overrides is None:
        return None
    runner = build_runner(options.model_copy(update=overrides))
    values: list[str | None] = []
    for text, url in documents:
        verdict = runner(text, url)
        match = MEASURED.match(verdict.removed_detail or "") if verdict.removed_by == rule else None
        values.append(f"{match['name']}={match['value']}" if match else None)
    return values


def threshold_of(detail: str | None) -> tuple[str, float] | None:
    """(comparison, threshold) from a removal detail such as `words=12 < 50`."""
    match = MEASURED.match(detail or "")
    if not match or not match["op"]:
        return None
    try:
        return match["op"], float(match["threshold"])
    except ValueError:
        return None


def number_of(measured: str) -> float | None:
    try:
        return float(measured.split("=", 1)[1])
    except (IndexError, ValueError):
        return None
