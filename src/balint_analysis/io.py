"""File I/O at the edges: atomic, deterministic, formula-safe writers and checksums."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from balint_analysis.csv_text import write_frame
from balint_analysis.privacy import neutralise_formulas

__all__ = ["atomic_write", "floats_as_text", "read_csv", "release_freed_memory", "sha256",
           "write_csv", "write_csv_parts", "write_json"]


def release_freed_memory() -> None:
    """Hand memory the process has freed back to the system (glibc's ``malloc_trim``).

    A step's large tables, once let go, stay in the C heap's free lists, and the next step's
    tables are often placed beside them rather than in them: the resident size grows by
    each step's high-water mark. Called between ``prepare``'s steps; a no-op where the C
    library has no ``malloc_trim`` (macOS, musl).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is not None:
        trim(0)


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path`` so readers never see a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        # Named after the output, not the hidden temporary file (or no file) it happened to.
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(
    df: pd.DataFrame, path: str | Path, *, float_digits: int = 6, neutralise: bool = True
) -> Path:
    """Write a tidy CSV: formulas neutralised, floats rounded, ``\\n`` line ends, atomically.

    Rounding to a fixed number of significant digits keeps outputs byte-identical across runs
    that differ only in the last floating-point bits.
    """
    # Interim files between stages (``neutralise=False``) keep the text exactly as exported:
    # they are read back by the next stage, never opened in a spreadsheet.
    safe = neutralise_formulas(df) if neutralise else df
    float_format = f"%.{float_digits}g"

    def _write(tmp: Path) -> None:
        # Each distinct value formatted once, rows joined in chunks: the bytes of ``to_csv``.
        write_frame(safe, tmp, float_format)

    return atomic_write(path, _write)


def write_csv_parts(
    parts: Iterable[pd.DataFrame], columns: list[str], path: str | Path, *,
    float_digits: int = 6, neutralise: bool = True,
) -> Path:  # fmt: skip
    """:func:`write_csv` of the parts stacked (``pd.concat``), written one part at a time, so
    a long table (``scores.csv``) is never held whole. Every part has ``columns``."""
    float_format = f"%.{float_digits}g"

    def _write(tmp: Path) -> None:
        write_frame(pd.DataFrame(columns=columns), tmp, float_format)  # the header
        cache: dict = {}  # categories the parts share (labels), encoded once
        for part in parts:
            safe = neutralise_formulas(part) if neutralise else part
            write_frame(safe, tmp, float_format, header=False, append=True, cache=cache)
            del part, safe
            release_freed_memory()  # each part's memory back before the next is made

    return atomic_write(path, _write)


def floats_as_text(df: pd.DataFrame, float_format: str = "%.6g") -> pd.DataFrame:
    """``df`` with float columns of few distinct values as the text ``to_csv`` would write.

    ``to_csv(float_format=...)`` formats every cell in Python (~8 s per million cells of
    answers); an item column holds a handful of distinct answers, so each distinct value is
    formatted once, by the same format, and missing stays missing: the written file is
    byte-identical. Columns of many distinct values (scores) are left to ``to_csv``, which
    formats them with ``float_format`` as before.
    """
    import numpy as np

    texts = {}
    for position, dtype in enumerate(df.dtypes):
        if not (isinstance(dtype, np.dtype) and dtype.kind == "f"):
            continue
        values = df.iloc[:, position].to_numpy()
        # Distinct by bit pattern: 0.0 and -0.0 are equal but written "0" and "-0".
        index, uniques = pd.factorize(values.view(f"i{values.itemsize}"))
        if len(uniques) > max(len(df) // 10, 100):
            continue
        formatted = [float_format % u for u in uniques.view(dtype)]
        table = np.array(formatted + [np.nan], dtype=object)
        index[np.isnan(values)] = len(formatted)
        texts[position] = pd.Series(table[index], index=df.index, dtype=object)
    if not texts:
        return df
    out = df.copy(deep=False)
    for position, column in texts.items():
        out.isetitem(position, column)
    return out


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON with sorted keys and a trailing newline, atomically."""

    def _write(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n", "utf-8")

    return atomic_write(path, _write)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a CSV written by this package (ids and labels stay strings)."""
    return pd.read_csv(path, keep_default_na=True, **kwargs)
