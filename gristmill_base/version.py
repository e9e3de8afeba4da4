"""The installed gristmill version, recorded in run manifests and recipes so a run says what made it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gristmill")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+local"
