"""The in-memory hand-over between the steps of ``prepare``, computed from distinct values.

:func:`csv_round_trip` gives the next step of ``prepare`` exactly the values a CSV written and
read back would give it; :func:`text_round_trip` the same read as text; :func:`hand_over` one
export as validation receives it (exact answers as narrow integer codes: :func:`narrowed`).

A column of a million rows holds a few answers (items, timepoints, groups) or values each read
back alone (ids, time stamps); writing and reading every cell was the slowest step of
``prepare`` (~30 s at 3 x 200,000 rows). Here only the distinct values go through ``to_csv`` /
``read_csv`` (the same writer, parser and options), and each row takes its value's result. This
is exact only when the parser would give every value the same result wherever it stands in the
file: ``read_csv`` infers a column's type per chunk of rows, so a column mixing text and
numbers could come back as numbers in one chunk and text in another.
:func:`column_from_uniques` returns ``None`` in that case and the caller writes the whole
column.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["column_from_uniques", "csv_round_trip", "hand_over", "narrowed", "text_round_trip"]

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
    if column.dtype == uniques.dtype and column.equals(uniques) and not (
            column.dtype.kind == "f" and (np.signbit(column) != np.signbit(uniques)).any()):
        # Every value reads back as itself (pseudonyms, labels): the column, not a new one.
        return values.set_axis(pd.RangeIndex(len(values))).rename(name)
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


def csv_round_trip(frame, *, narrow=None, **read_options):
    """``frame`` written as an interim CSV (``write_csv(..., neutralise=False)``) and read back,
    in memory: the next step sees exactly the values a file hand-over between stages gave it,
    and raw participant codes never touch the disk.

    ``narrow``: column -> nullable integer dtype (``scoring.answer_dtypes``); each such column
    read back is kept in it where that is exact (:func:`balint_analysis.handover.narrowed`),
    one column at a time, so the answers never exist as a float64 table here.
    """

    narrow = narrow or {}
    if len(frame) == 0 or frame.columns.has_duplicates:
        back = csv_bytes_round_trip(frame, **read_options)
        return back.assign(**{c: narrowed(back[c], narrow[c]) for c in back if c in narrow})
    # Column by column: ``read_csv`` infers each column's type from that column alone, so the
    # columns read back are those of the whole table, while only one column's text is held
    # in memory at a time (the whole table's text was ~4 bytes per character in a StringIO).
    # A constant second column keeps a row whose cell is empty from becoming a blank line,
    # which ``read_csv`` would skip.

    spacer = f"{''.join(map(str, frame.columns))}_"
    forced = read_options.get("dtype")
    columns = {}
    for name in frame.columns:
        read_as_is = forced is None or (isinstance(forced, dict) and name not in forced)
        if read_as_is and name in narrow and str(frame[name].dtype) == narrow[name]:
            # Integer codes are written as integers and read back as those integers, which
            # are narrowed to these codes again: the column itself, not a copy.
            columns[name] = frame[name]
            continue
        # Most columns repeat a few values or hold values read back alike anywhere in the
        # file: only their distinct values are written and read (``handover``).
        fixed = forced is not None and (not isinstance(forced, dict) or name in forced)
        fast = column_from_uniques(frame[name], name, spacer, csv_bytes_round_trip, fixed,
                                   **read_options)  # fmt: skip
        if fast is not None:
            columns[name] = narrowed(fast, narrow.get(name))
            continue
        pair = pd.DataFrame({name: frame[name], spacer: 0})
        back = csv_bytes_round_trip(pair, **read_options)
        if len(back) != len(frame):  # a lone carriage return broke a row: as the file would
            back = csv_bytes_round_trip(frame, **read_options)
            return back.assign(**{c: narrowed(back[c], narrow[c]) for c in back if c in narrow})
        columns[name] = narrowed(back[back.columns[0]], narrow.get(name))
    # copy=False: the columns read back as they are (a dict is otherwise copied into blocks,
    # one more table of answers at prepare's peak).
    return pd.DataFrame(columns, copy=False)


def csv_bytes_round_trip(frame, **read_options):
    """``frame`` through ``to_csv`` and ``read_csv`` in a UTF-8 byte buffer (floats as
    ``%.6g``, each distinct answer formatted once: :func:`balint_analysis.io.floats_as_text`)."""
    import io

    from balint_analysis.io import floats_as_text

    buffer = io.BytesIO()
    floats_as_text(frame).to_csv(buffer, index=False, lineterminator="\n", float_format="%.6g",
                                 encoding="utf-8")  # fmt: skip
    buffer.seek(0)
    return pd.read_csv(buffer, encoding="utf-8", **read_options)


def _cell_texts(values):
    """One column as a CSV file would hold it: text, booleans as ``True``/``False``, floats
    as ``%.6g``; an empty cell (blank text or missing) is NaN, as ``read_csv`` reads it.
    Each distinct value is converted once (columns repeat a few answers)."""

    index, texts = _distinct_texts(values)
    return pd.Series(_text_table(texts)[index], index=values.index, dtype="str")


def _distinct_texts(values):
    """``(codes, texts)``: each cell's code (-1: missing) and the text of each distinct
    value as :func:`_cell_texts` writes it."""

    index, uniques = pd.factorize(values, use_na_sentinel=True)
    if pd.api.types.is_bool_dtype(values):
        texts = ["True" if u else "False" for u in uniques]
    elif pd.api.types.is_float_dtype(values):
        texts = [f"{u:.6g}" for u in uniques]
    else:
        texts = [str(u) for u in uniques]
    return index, texts


def _text_table(texts):
    """The texts as cells read back (empty text: NaN), then NaN for code -1 (missing)."""

    return np.array([t if t != "" else np.nan for t in texts] + [np.nan], dtype=object)


def text_round_trip(frame):
    """:func:`csv_round_trip` read as text (missing = NaN), ``row`` as integer.

    Computed column by column without writing the CSV: every value read back as text is its
    written text (``tests/test_pipeline_handover.py`` checks this against the CSV round trip
    for arbitrary text), so only what writing does to a value needs doing.
    """

    out = pd.DataFrame({c: _cell_texts(frame[c]) for c in frame.columns},
                       index=pd.RangeIndex(len(frame)))  # fmt: skip
    if "row" in out:
        out["row"] = out["row"].astype(int)
    return out


def hand_over(frame, narrow):
    """One export as validation receives it: ``numbers_where_exact(text_round_trip(frame),
    narrow)`` (exact answers as narrow integer codes, a quarter of float64's memory), each
    column's distinct values converted once: an item column whose every text reads as a
    number becomes those numbers without its text column being built and factorized again."""

    from balint_analysis.validate.items import exact_numbers, item_columns

    items = set(item_columns(frame))
    columns = {}
    for name in frame.columns:
        values = frame[name]
        index, texts = _distinct_texts(values)
        numbers = exact_numbers(texts, blank_is_missing=True) if name in items else None
        if numbers is None:
            columns[name] = pd.Series(_text_table(texts)[index], index=values.index, dtype="str")
        else:
            columns[name] = narrowed(pd.Series(numbers[index], index=values.index, name=name),
                                     narrow.get(name))  # fmt: skip
    out = pd.DataFrame(columns, index=pd.RangeIndex(len(frame)))
    if "row" in out:
        out["row"] = out["row"].astype(int)
    return out
