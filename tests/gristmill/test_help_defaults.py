"""`--help` states every option's default: added from the parser where it is concrete, written in words where
it is decided at run time; and the version is read only when asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gristmill.cli import build_parser, main
from gristmill.help_defaults import options_without_a_default


def test_no_option_leaves_its_default_to_be_guessed() -> None:
    assert options_without_a_default(build_parser()) == []


def test_a_concrete_default_is_shown_once(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["pack", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "share of documents for val (default: 0.0)" in shown
    assert "(default <|endoftext|>)" in shown and "default: <|endoftext|>" not in shown  # stated: not added again
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "default: 200" in shown and "(default 0.8)" in shown and "(default: 0.8)" not in shown


def test_the_checker_finds_an_option_without_a_default() -> None:
    parser = build_parser()
    parser.add_argument("--mystery", metavar="X", help="does something")
    assert options_without_a_default(parser) == ["gristmill --mystery"]


def test_version_is_printed_and_help_imports_nothing_heavy() -> None:
    from gristmill_base.version import __version__

    printed = subprocess.run([sys.executable, "-m", "gristmill", "--version"], capture_output=True, text=True)
    assert printed.stdout.strip() == f"gristmill {__version__}"
    probe = "import sys, gristmill.cli as c; c.build_parser(); print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    for heavy in ("torch", "numpy", "numba", "pyarrow", "polars", "scipy", "rich", "datatrove", "fasttext_new"):
        assert f"'{heavy}'" not in loaded, heavy
