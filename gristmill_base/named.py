"""`[NAME=]PATH` arguments (`--text web=held-out.jsonl`, `--task arc=ARC-Easy.jsonl`): one rule for every
command that takes them, so a path that holds `=` (a hive folder `lang=en/`) is never cut into a name."""

from __future__ import annotations


def split_named(spec: str) -> tuple[str, str]:
    """(NAME, PATH): NAME is the text before the first `=` when that text is a bare name (no `/`); otherwise
    there is no name ("") and the whole of `spec` is the path."""
    name, sep, path = spec.partition("=")
    if sep and name and "/" not in name and "\\" not in name:
        return name, path
    return "", spec
