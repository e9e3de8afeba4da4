"""What the source imports, read from the source itself (every `import` statement, at any depth):

- each third-party module is a declared dependency: the packages' imports in `[project] dependencies` (or,
  for optional features, an extra), the tests' in the dependencies or `.[dev]`, so an undeclared import
  fails here in seconds on any machine, not only on a fresh one;
- the project's packages import one way: `gristmill_base` (the ground floor) imports none of them, and no
  module is part of an import cycle.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gristmill_base", "tokenizer", "model", "pipeline", "train", "gristmill")
# what each package may import of the others (the ground floor first, the CLI last)
ALLOWED = {
    "gristmill_base": set(),
    "tokenizer": {"gristmill_base"},
    "model": {"gristmill_base"},
    "pipeline": {"gristmill_base", "tokenizer"},
    "train": {"gristmill_base", "tokenizer", "model", "pipeline"},
    "gristmill": set(PACKAGES),
}


def canonical(name: str) -> str:
    """PEP 503 names: `fasttext_predict`, `Fasttext.Predict` and `fasttext-predict` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return canonical(match[1])


@cache
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def declared(extras: tuple[str, ...]) -> set[str]:
    """Distributions `pip install .[extras]` brings directly, following `gristmill[...]` self-references."""
    project = pyproject()["project"]
    names = {requirement_name(r) for r in project["dependencies"]}
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in project["optional-dependencies"][extra]:
            name = requirement_name(requirement)
            if name == "gristmill":
                pending += re.findall(r"[A-Za-z0-9_-]+", requirement.split("[", 1)[1].split("]")[0])
            else:
                names.add(name)
    return names


def imported_modules(path: Path, module_level_only: bool = False) -> set[str]:
    """Absolute imports of a file: every one, or only those at its top level (which run on import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in tree.body if module_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


def local_test_modules() -> set[str]:
    """Helper modules and folders of tests/, importable because pytest puts tests/ on the path."""
    return {p.stem for p in (ROOT / "tests").glob("*.py")} | {p.name for p in (ROOT / "tests").iterdir() if p.is_dir()}


def undeclared(files: list[Path], always: set[str], optional: set[str], local: set[str]) -> dict[str, list[str]]:
    """Third-party modules whose distribution is not declared: imports at a module's top level must come from
    `always` (what every install has); imports inside functions, which run only for an optional feature,
    may also come from `optional` (the extras)."""
    distributions = packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in files:
        top_level = {m.split(".")[0] for m in imported_modules(path, module_level_only=True)}
        for module in sorted({m.split(".")[0] for m in imported_modules(path)}):
            if module in sys.stdlib_module_names or module in local or module == "__future__":
                continue
            owners = {canonical(d) for d in distributions.get(module, [])} or {canonical(module)}
            if not owners & (always if module in top_level else always | optional):
                missing.setdefault(f"{module} (from {', '.join(sorted(owners))})", []).append(path.name)
    return missing


def extras() -> tuple[str, ...]:
    return tuple(pyproject()["project"]["optional-dependencies"])


def test_package_imports_are_declared_dependencies() -> None:
    """`pip install .` imports every module; a feature behind an extra (Ray, tracking, transformers) imports
    its package inside the function that needs it."""
    missing = undeclared(python_files(*PACKAGES), declared(()), declared(extras()), set(PACKAGES))
    assert not missing, f"undeclared imports (add them to [project] dependencies in pyproject.toml): {missing}"


def test_test_imports_are_declared_in_dev() -> None:
    """`pip install .[dev]` collects every test file; a test that needs another extra imports it inside."""
    local = set(PACKAGES) | local_test_modules()
    missing = undeclared(python_files("tests"), declared(("dev",)), declared(extras()), local)
    assert not missing, f"the tests import packages that `.[dev]` does not bring: {missing}"


def test_the_check_catches_an_undeclared_import(tmp_path: Path) -> None:
    """The check itself: an import no requirement names is reported, and an extra's package is accepted only
    inside a function."""
    module = tmp_path / "uses_undeclared.py"
    source = "import json\nimport numpy\nfrom jsonschema import validate\nimport ray\n\ndef f():\n    import ray\n"
    module.write_text(source, encoding="utf-8")
    missing = undeclared([module], {"numpy"}, {"ray"}, set())
    assert sorted(missing) == ["jsonschema (from jsonschema)", "ray (from ray)"]
    module.write_text(source.replace("import ray\n\n", "\n"), encoding="utf-8")
    assert sorted(undeclared([module], {"numpy"}, {"ray"}, set())) == ["jsonschema (from jsonschema)"]


def project_module_of(name: str, modules: set[str]) -> str | None:
    """The project module an import names: `pipeline.jobs.Job` -> `pipeline.jobs`; None for other code."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (importing `a.b.c` also runs `a` and `a.b`)."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in python_files(*PACKAGES)}
    names = {name.removesuffix(".__init__"): path for name, path in paths.items()}
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        targets = {project_module_of(m, set(names)) for m in imported_modules(path)} - {None, name}
        graph[name] = {t for t in targets if t is not None and not name.startswith(f"{t}.")}
    return graph


def test_packages_import_one_way() -> None:
    wrong = sorted(
        f"{source} -> {target}"
        for source, targets in module_graph().items()
        for target in targets
        if (package := source.split(".")[0]) != (other := target.split(".")[0]) and other not in ALLOWED[package]
    )
    assert not wrong, f"imports against the package order {PACKAGES}: {wrong}"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles() -> None:
    """Counted with every import (inside functions and under TYPE_CHECKING too): a cycle hidden in a
    function is still two modules that cannot be understood or changed one at a time."""
    assert cycles(module_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected
