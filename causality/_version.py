"""The package version, read from the installed metadata."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("causality")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0+unknown"
