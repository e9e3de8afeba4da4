"""Real processes for the lifetime and folder-lock tests, none left behind whatever a test asserts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from process_factory import Processes


@pytest.fixture
def processes() -> Iterator[Processes]:
    with Processes() as started:
        yield started
