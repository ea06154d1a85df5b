"""Faults of the machine, not of the input, as one line: the file and the fix.

A read-only folder, a full disk, a file-size limit, too many open files or exhausted memory
stop a stage with an :class:`OSError` or :class:`MemoryError` deep inside pandas or the
standard library. :func:`fault_line` turns them into the one line the CLI and every workflow
job print (never a traceback, never file content), and :func:`names_file` attaches the file
being read when memory runs out, so the line can say which export to split.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "ReadingOutOfMemoryError",
    "fault_line",
    "ignore_file_size_signal",
    "names_file",
    "unwritable_folder",
]

F = TypeVar("F", bound=Callable[..., Any])

#: What to do about each errno, after the file it happened to.
_FIXES = {
    errno.EACCES: "permission denied; make the folder writable (and the file readable) for "
                  "you, or run from a project folder you own",
    errno.EPERM: "operation not permitted; make the folder writable for you, or run from a "
                 "project folder you own",
    errno.EROFS: "the folder is on a read-only file system; run from a writable copy of the "
                 "project (or mount it read-write)",
    errno.ENOSPC: "no space left on the device; free disk space and run again",
    errno.EDQUOT: "disk quota exceeded; free space in your quota and run again",
    errno.EFBIG: "file too large for this session's file-size limit (`ulimit -f`) or the file "
                 "system; raise the limit and run again",
    errno.EMFILE: "too many open files in this process; raise the limit (`ulimit -n 4096`) "
                  "and run again",
    errno.ENFILE: "too many open files on this machine; close other programs and run again",
    errno.ENOENT: "no such file or directory; check the path (it may have been moved while "
                  "the workflow ran)",
}  # fmt: skip

_MEMORY_FIX = ("free memory (close other programs, or give the job more memory) or split the "
               "export into smaller files")  # fmt: skip


class ReadingOutOfMemoryError(MemoryError):
    """Memory ran out while reading ``path`` (raised by functions wrapped in
    :func:`names_file`)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _out_of_memory(exc: BaseException) -> bool:
    """A :class:`MemoryError`, or pandas' C parser reporting one as a ``ParserError``."""
    if isinstance(exc, MemoryError):
        return True
    return type(exc).__name__ == "ParserError" and "out of memory" in str(exc).lower()


def names_file(read: F) -> F:
    """Decorate a reader whose first argument is a path: running out of memory inside it
    raises :class:`ReadingOutOfMemoryError` naming that path."""

    @functools.wraps(read)
    def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return read(path, *args, **kwargs)
        except ReadingOutOfMemoryError:
            raise
        except Exception as exc:  # a ParserError is only a memory fault when it says so
            if _out_of_memory(exc):
                raise ReadingOutOfMemoryError(str(path)) from None
            raise

    return wrapper  # type: ignore[return-value]


def fault_line(exc: BaseException, where: str = "a file of this step") -> str | None:
    """The one-line message of a machine fault, or ``None`` when ``exc`` is not one.

    Parameters
    ----------
    exc
        The exception a stage or command stopped with.
    where
        What to name when the error carries no file name (a write to an open file).
    """
    if isinstance(exc, ReadingOutOfMemoryError):
        return f"out of memory while reading {exc.path}: {_MEMORY_FIX}."
    if _out_of_memory(exc):
        return f"out of memory while working on {where}: {_MEMORY_FIX}."
    if isinstance(exc, OSError):
        name = exc.filename if exc.filename is not None else where
        fix = _FIXES.get(exc.errno or 0)
        if fix is None:
            reason = exc.strerror or type(exc).__name__
            fix = f"{reason}; fix the file or folder and run again"
        return f"{name}: {fix}."
    return None


def ignore_file_size_signal() -> None:
    """Make a write beyond the file-size limit (``ulimit -f``) fail with ``EFBIG`` instead of
    killing the process with ``SIGXFSZ``, so the fault can be reported as one line."""
    sigxfsz = getattr(signal, "SIGXFSZ", None)
    if sigxfsz is None:
        return
    with contextlib.suppress(ValueError):  # not the main thread: the default stays
        signal.signal(sigxfsz, signal.SIG_IGN)


def unwritable_folder(folders: list[str | Path]) -> str | None:
    """The one-line fault of the first output folder that cannot be written, else ``None``.

    Each folder (or, before it exists, its nearest existing parent) gets a temporary file
    created and removed: as root, permission bits say nothing, and only a write shows a
    read-only file system, a full disk or a missing permission.
    """
    for folder in folders:
        existing = Path(folder)
        while not existing.is_dir() and existing != existing.parent:
            existing = existing.parent
        try:
            with tempfile.TemporaryFile(dir=existing):
                pass
        except OSError as exc:
            return fault_line(OSError(exc.errno, exc.strerror, str(folder)))
    return None
