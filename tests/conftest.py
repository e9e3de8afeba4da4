"""Test-wide setup: the repository root goes first on sys.path.

tests/pipeline mirrors the `pipeline` package. With `pythonpath = ["tests"]`, a bare `pytest` (whose
sys.path lacks the working directory, unlike `python -m pytest`) would otherwise import that folder as
a namespace package in place of the real `pipeline`, since the editable install's finder comes last.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parent.parent)
if sys.path[:1] != [ROOT]:
    sys.path.insert(0, ROOT)
