"""gristmill: from raw web crawl to a pretrained language model."""

from typing import Any

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    """`gristmill.__version__` read on first use: the CLI imports this package for every command."""
    if name == "__version__":
        from gristmill_base.version import __version__

        return __version__
    raise AttributeError(name)
