"""One column of the in-memory hand-over, computed from its distinct values.

``pipeline._csv_round_trip`` gives the next step of ``prepare`` exactly the values a CSV
written and read back would give it. A column of a million rows holds a few answers (items,
timepoints, groups) or values each read back alone (ids, time stamps); writing and reading
every cell was the slowest step of ``prepare`` (~30 s at 3 x 200,000 rows). Here only the
distinct values go through ``to_csv`` / ``read_csv`` (the same writer, parser and options),
and each row takes its value's result. This is exact only when the parser would give every
value the same result wherever it stands in the file: ``read_csv`` infers a column's type per
chunk of rows, so a column mixing text and numbers could come back as numbers in one chunk and
text in another. :func:`column_from_uniques` returns ``None`` in that case and the caller
writes the whole column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["column_from_uniques"]

#: Integers beyond 2**53 are not all exact as floats: int and float chunks would differ.
_EXACT_INT = 2.0**53


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code of each row, -1 = missing; the distinct values in order of first appearance).

    Floats are distinguished by bit pattern: 0.0 and -0.0 are equal but written ``0``/``-0``.
    """
    if values.dtype.kind == "f":
        array = values.to_numpy()
        codes, bits = pd.factorize(array.view(f"i{array.itemsize}"))
        uniques = bits.view(array.dtype)
        missing = np.isnan(uniques)
        if missing.any():  # every NaN is written as an empty cell: one missing value
            codes = np.where(missing[codes], -1, codes)
        return codes, pd.Series(uniques, dtype=values.dtype)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes, pd.Series(uniques, dtype=values.dtype)


def _clearly_text(value: Any) -> bool:
    """Whether ``read_csv`` reads this cell as text alone as well as among other text.

    Python's ``float`` accepts more than the CSV parser's number reader (underscores,
    non-ASCII digits), never less, so a text it refuses is not a number to the parser either.
    """
    if not isinstance(value, str) or value.strip().lower() in ("true", "false"):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def _position_independent(back: pd.Series, forced: bool) -> bool:
    """Whether every value read back is what it would be in any chunk of the whole column."""
    if forced:
        return True
    kind = back.dtype.kind
    if kind == "i" and back.dtype == np.int64:
        return True
    if kind == "f" and back.dtype == np.float64:
        finite = back.to_numpy()[np.isfinite(back.to_numpy())]
        return not len(finite) or float(np.abs(finite).max()) < _EXACT_INT
    if kind == "b":
        return True
    present = back.dropna()
    return pd.api.types.is_string_dtype(back.dtype) and all(map(_clearly_text, present))


def column_from_uniques(
    values: pd.Series,
    name: str,
    spacer: str,
    round_trip: Callable[..., pd.DataFrame],
    forced: bool,
    **read_options: Any,
) -> pd.Series | None:
    """``values`` as the CSV round trip of the whole column reads it back, or ``None``.

    Parameters
    ----------
    values : pandas.Series
        One column of the frame handed over.
    name, spacer : str
        The column's name and the constant second column that keeps an empty cell from
        being a blank line (as in the whole-column round trip).
    round_trip : callable
        ``(frame, **read_options) -> frame``: the CSV write-and-read of a small frame.
    forced : bool
        Whether ``read_options`` fix this column's type (no inference).

    Returns
    -------
    pandas.Series or None
        The column read back (``RangeIndex``, named ``name``); ``None`` when its values would
        not be read the same in every chunk, or a value breaks its row (a lone ``\\r``).
    """
    codes, uniques = _codes(values)
    has_missing = bool((codes < 0).any())
    if has_missing:  # a missing cell takes part in the type inference, as in the file
        uniques = pd.concat([uniques, pd.Series([np.nan], dtype=uniques.dtype)],
                            ignore_index=True)  # fmt: skip
        codes = np.where(codes < 0, len(uniques) - 1, codes)
    pair = pd.DataFrame({name: uniques, spacer: 0})
    back = round_trip(pair, **read_options)
    if len(back) != len(uniques):
        return None
    column = back[back.columns[0]]
    if not _position_independent(column, forced):
        return None
    out = column.take(codes)
    out.index = pd.RangeIndex(len(values))
    return out.rename(name)


def narrowed(column: pd.Series, dtype: str | None) -> pd.Series:
    """``column`` in the nullable integer ``dtype`` (``"Int8"``, ``"Int16"``) when that is
    exact, else unchanged: every value present a whole number within the type's range and no
    ``-0.0`` (written ``-0``, where an integer is written ``0``), so the column is written
    and scored exactly as before.
    """
    if dtype is None or not isinstance(column.dtype, np.dtype) or column.dtype.kind not in "fi":
        return column
    values = column.to_numpy(dtype=float)
    present = values[~np.isnan(values)]
    limits = np.iinfo(dtype.lower())
    exact = (np.array_equal(present, np.trunc(present))
             and (not present.size or limits.min <= present.min() <= present.max() <= limits.max)
             and not np.signbit(present[present == 0]).any())  # fmt: skip
    return column.astype(dtype) if exact else column
