"""A CSV writer that formats each distinct value of a column once, rows in chunks.

``DataFrame.to_csv`` converts and quotes every cell in Python (~1 µs each): ``scores.csv`` and
``responses.csv`` of three million-row exports hold ~10^8 cells. Their columns repeat a handful
of values (labels, answers, pseudonyms per row block), so each distinct value is formatted and
quoted once by the same rules (``float_format``, ``str``, Python's ``csv`` module, which
``to_csv`` uses) and the rows are joined a chunk at a time: the bytes are those ``to_csv``
writes (``tests/test_bounded_memory.py`` compares them), without a whole-file text copy.
Frames this writer does not cover exactly (other dtypes, non-text objects, one column) go to
``to_csv`` unchanged.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_frame"]

#: Rows joined at a time: bounds the text held in memory (~100 bytes a row).
CHUNK_ROWS = 100_000


def _quoted(values: list) -> list[str]:
    """Each value as Python's ``csv`` writes it in a row of several fields (QUOTE_MINIMAL)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    out = []
    for value in values:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([value, ""])
        out.append(buffer.getvalue()[:-2])  # drop the empty second field and the line end
    return out


def _column_text(values: pd.Series, float_format: str,
                 prefix: str) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """The column as (texts, codes): ``texts[codes]`` are its cells as ``to_csv`` writes them
    (missing = empty), each after ``prefix``; codes in the narrowest integer type, so a
    column's text is made a chunk of rows at a time. ``None`` when its dtype is not one this
    writer reproduces exactly."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        raw = values.to_numpy()
        # Distinct by bit pattern: 0.0 and -0.0 are equal but written "0" and "-0".
        index, uniques = pd.factorize(raw.view(f"i{raw.itemsize}"))
        texts = [float_format % u for u in uniques.view(dtype)]
        index[np.isnan(raw)] = len(texts)
    elif isinstance(dtype, np.dtype) and dtype.kind in "iub":
        index, uniques = pd.factorize(values.to_numpy())
        texts = [str(u) for u in uniques.tolist()]  # Python ints and bools, as ``str`` writes
    elif isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iu":
        # Nullable integers (answers as codes): ``to_csv`` writes ``str`` of each, missing empty.
        index, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = [str(u) for u in uniques.tolist()]
    elif (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
        index, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
        if not all(isinstance(u, str) for u in uniques):
            return None
        texts = list(uniques)
    else:
        return None
    table = np.array([prefix + t for t in [*_quoted(texts), ""]], dtype=object)
    index[index < 0] = len(texts)  # missing: the empty text
    return table, index.astype(np.min_scalar_type(len(texts)))


def write_frame(df: pd.DataFrame, path: str | Path, float_format: str, *,
                header: bool = True, append: bool = False) -> None:  # fmt: skip
    """``df.to_csv(path, index=False, lineterminator="\\n", float_format=float_format,
    header=header, mode="a" if append else "w")``, byte for byte, formatting each distinct
    value of a column once."""
    simple = (df.shape[1] > 1 and len(df) > 0 and not isinstance(df.columns, pd.MultiIndex)
              and all(isinstance(c, str) for c in df.columns))  # fmt: skip
    # Every column but the first carries its separator: one concatenation per cell.
    columns = [_column_text(df.iloc[:, i], float_format, "," if i else "")
               for i in range(df.shape[1])] if simple else None  # fmt: skip
    if columns is None or any(c is None for c in columns):
        df.to_csv(path, index=False, lineterminator="\n", float_format=float_format,
                  header=header, mode="a" if append else "w")  # fmt: skip
        return
    with open(path, "ab" if append else "wb") as fh:
        if header:
            fh.write((",".join(_quoted(list(df.columns))) + "\n").encode("utf-8"))
        for start in range(0, len(df), CHUNK_ROWS):
            texts, codes = columns[0]
            rows = texts[codes[start : start + CHUNK_ROWS]]
            for texts, codes in columns[1:]:
                rows = rows + texts[codes[start : start + CHUNK_ROWS]]
            fh.write(("\n".join(rows.tolist()) + "\n").encode("utf-8"))
