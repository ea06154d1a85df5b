"""The one exception type users see: a problem with their input, stated in one line."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(Exception):
    """Unusable input (file, config, definition). The message names the file and the fix.

    The workflow scripts and the CLI print ``str(exc)`` and exit non-zero, without a traceback.
    """
