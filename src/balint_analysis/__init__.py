"""balint-analysis: do Balint groups reduce burnout? Survey exports in, an honest report out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("balint-analysis")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
