"""One JSONL line as a JSON object, or one clear error naming the file and line: every reader of user JSONL
(classifier sources, decontamination and task files) refuses a bad line the same way."""

from __future__ import annotations

import json
from typing import Any

from gristmill_base.errors import UserError


def json_object(line: str, where: str) -> dict[str, Any]:
    """`where` is `path:line`."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        raise UserError(f"{where}: not a JSON object") from None
    if not isinstance(row, dict):
        raise UserError(f"{where}: not a JSON object")
    return row
