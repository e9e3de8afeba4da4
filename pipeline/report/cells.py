"""Numbers as the terminal and the HTML report both print them, so the two always read the same."""

from __future__ import annotations

from typing import Any


def share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def stage_counts(stage: dict[str, Any]) -> list[str]:
    """docs in, kept, removed, share removed: a funnel row."""
    return [
        f"{stage['docs_in']:,}",
        f"{stage['kept']:,}",
        f"{stage['removed']:,}",
        share(stage["removed"], stage["docs_in"]),
    ]


def score_line(scores: dict[str, Any]) -> str:
    """A scoring stage in one line: how many it scored and removed, where it cut, and the closest scores on
    either side of the cut."""
    cut = f"; threshold {scores['threshold']:.4g} ({scores['rule']})" if scores["threshold"] is not None else ""
    sides = [
        f"{side} {examples[0]['score']:.4g}"
        for side, examples in (
            ("lowest passed", scores["nearest_passed"]),
            ("highest removed", scores["nearest_removed"]),
        )
        if examples
    ]
    return (
        f"{scores['stage']} ({scores['column']}): {scores['documents']:,} scored, {scores['removed']:,} removed "
        f"({share(scores['removed'], scores['documents'])}){cut}" + (f"; {', '.join(sides)}" if sides else "")
    )
