"""Writes classifier-positive.jsonl.gz and classifier-negative.jsonl.gz: two real sources that differ in kind,
for the classifier quickstart (recipes/classifier.toml) and its tests.

- positive: docstrings of the Python standard library's modules, classes, functions and methods
  (explanatory reference prose), 300 characters or longer, from the Python that runs this script
  (3.11.7 for the files in the repository);
- negative: Debian changelog entries (terse lists of package changes) from /usr/share/doc/*/changelog.Debian.gz,
  200 characters or longer, without the maintainer's sign-off line.

    python recipes/samples/make_classifier_sample.py
"""

from __future__ import annotations

import gzip
import importlib
import inspect
import json
import pkgutil
import random
import re
import sys
from pathlib import Path

PER_SOURCE = 1200
HERE = Path(__file__).resolve().parent
SKIP = ("antigravity", "this", "idlelib", "tkinter", "turtle", "test", "lib2to3", "ensurepip", "venv", "pydoc_data")


def docstrings() -> list[dict]:
    found: dict[str, str] = {}
    for module_info in sorted(pkgutil.iter_modules(), key=lambda m: m.name):
        name = module_info.name
        if name.startswith("_") or name in SKIP or name not in sys.stdlib_module_names:
            continue
        try:
            module = importlib.import_module(name)
        except Exception:  # a module that needs what this machine lacks
            continue
        members = [(name, module)]
        for attribute, value in inspect.getmembers(module):
            if getattr(value, "__module__", None) == name:
                members.append((f"{name}.{attribute}", value))
                if inspect.isclass(value):
                    methods = sorted((k, v) for k, v in vars(value).items() if inspect.isroutine(v))
                    members += [(f"{name}.{attribute}.{key}", method) for key, method in methods]
        for key, value in members:
            doc = value.__doc__ if isinstance(getattr(value, "__doc__", None), str) else None
            if doc and len(doc) >= 300:
                found.setdefault(key, inspect.cleandoc(doc))
    unique = {text: key for key, text in sorted(found.items(), reverse=True)}  # a doc inherited by many: once
    found = {key: text for text, key in unique.items()}
    return [{"id": key, "text": text, "source": "python-stdlib-docstring"} for key, text in sorted(found.items())]


ENTRY_START = re.compile(r"^\S+ \([^)]+\) [^;]+; urgency=", re.M)


def changelog_entries() -> list[dict]:
    entries = []
    for path in sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        starts = [m.start() for m in ENTRY_START.finditer(text)]
        for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(text)], strict=True)):
            entry = "\n".join(line for line in text[start:end].splitlines() if not line.startswith(" -- ")).strip()
            if len(entry) >= 200:
                entries.append({"id": f"{path.parent.name}#{number}", "text": entry, "source": "debian-changelog"})
    return entries


def write(name: str, rows: list[dict]) -> None:
    rows = random.Random(0).sample(rows, min(PER_SOURCE, len(rows)))
    with gzip.GzipFile(HERE / name, "wb", mtime=0) as handle:
        handle.write("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8"))
    print(f"{name}: {len(rows)} documents")


if __name__ == "__main__":
    write("classifier-positive.jsonl.gz", docstrings())
    write("classifier-negative.jsonl.gz", changelog_entries())
