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
