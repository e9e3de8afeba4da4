"""One base model (tokenizer with chat tokens + tiny random GPT checkpoint) shared by the fine-tuning tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_factory import base_model


@pytest.fixture(scope="session")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tokenizer folder, base checkpoint output folder); read-only for the tests."""
    return base_model(tmp_path_factory.mktemp("base"))
