"""gristmill: from raw web crawl to a pretrained language model."""

from gristmill_base.version import __version__

__all__ = ["__version__"]
