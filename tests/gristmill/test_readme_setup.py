"""The README's set-up block is what CI runs: `.ci/run` reads it with `.ci/readme_commands.py`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands_module():
    spec = importlib.util.spec_from_file_location("readme_commands", ROOT / ".ci" / "readme_commands.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_has_the_two_setup_commands() -> None:
    commands = readme_commands_module().setup_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2
    install, tests = commands
    assert install.startswith('pip install -e ".[dev]" && gristmill run recipes/quickstart.toml')
    assert tests == "python -m pytest -q"


def test_ci_runs_the_readme_commands_in_a_fresh_environment() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 -m venv" in script
    assert "python .ci/readme_commands.py README.md" in script
    assert script.index("python3 -m venv") < script.index('pip install --quiet "torch==2.13.0"')
    assert script.index("torch==2.13.0") < script.index("readme_commands.py")


def test_setup_block_parsing_skips_comments_and_blank_lines() -> None:
    readme = "# x\n\n## Set up\n\ntext\n\n```bash\n# a comment\nfirst\n\nsecond\n```\n\n## Next\n```bash\nno\n```\n"
    assert readme_commands_module().setup_commands(readme) == ["first", "second"]
