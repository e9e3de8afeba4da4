"""What one filter stage decided about one document.

Every stage function returns a `Verdict`: the (possibly rewritten) text, the rule that removed the
document if any, the measured value against the threshold in words, and the typed columns the stage
adds to the document (e.g. `lang`, `pii_email`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Verdict:
    text: str
    removed_by: str | None = None
    removed_detail: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> bool:
        return self.removed_by is None


def removed(text: str, rule: str, measured: str, value: float, comparison: str, threshold: float) -> Verdict:
    """A removal whose detail reads like `words=12 < min 50`, so users can judge the threshold."""
    return Verdict(text, rule, f"{measured}={_number(value)} {comparison} {_number(threshold)}")


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}"
