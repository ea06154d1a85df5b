"""A CSV writer that formats each distinct value of a column once and gathers the rows' bytes.

``DataFrame.to_csv`` converts and quotes every cell in Python (~1 µs each): ``scores.csv`` and
``responses.csv`` of three million-row exports hold ~10^8 cells. Their columns repeat a handful
of values (labels, answers, pseudonyms per row block), so each distinct value is formatted and
quoted once by the same rules (``float_format``, ``str``, Python's ``csv`` module, which
``to_csv`` uses) and encoded once; a chunk of rows is then one NumPy gather of those bytes
(no Python string per cell): the bytes are those ``to_csv`` writes
(``tests/test_bounded_memory.py`` compares them), without a whole-file text copy. Frames this
writer does not cover exactly (other dtypes, non-text objects, one column) go to ``to_csv``
unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_frame"]

#: Rows gathered at a time, at most: bounds the text held in memory.
CHUNK_ROWS = 100_000
#: Bytes gathered at a time, at most (with their 4-byte index, ~6 times this in memory).
CHUNK_BYTES = 1 << 22
#: Characters Python's ``csv`` may quote in a field (QUOTE_MINIMAL, "," and "\n" as the
#: delimiter and line end; "\r" too in newer Pythons): a text without them is written as is.
_MAY_QUOTE = re.compile('[,"\r\n]')
#: Padding (:func:`_padded_tables`) allowed beyond four times a frame's texts.
PADDING_SLACK_BYTES = 1 << 20
#: Rows of a table of neighbouring columns' texts combined, at most (:func:`_padded_tables`).
JOINT_TEXTS = 1 << 12


def _quoted(values: list) -> list[str]:
    """Each value as Python's ``csv`` writes it in a row of several fields (QUOTE_MINIMAL)."""
    if all(isinstance(v, str) for v in values) and _MAY_QUOTE.search("".join(values)) is None:
        return list(values)  # no text to quote (one search over all of them)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    out = []
    search = _MAY_QUOTE.search
    for value in values:
        if isinstance(value, str) and search(value) is None:
            out.append(value)  # nothing to quote: the csv module writes the text unchanged
            continue
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([value, ""])
        out.append(buffer.getvalue()[:-2])  # drop the empty second field and the line end
    return out


def _column_text(values: pd.Series, float_format: str) -> tuple[list[str], np.ndarray] | None:
    """The column as (texts, codes): ``texts[codes]`` are its cells as ``to_csv`` writes them
    (missing = the last text, empty). ``None`` when its dtype is not one this writer
    reproduces exactly."""
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
        small = _small_integer_codes(values)
        if small is not None:
            return small
        index, uniques = pd.factorize(values, use_na_sentinel=True)
        texts = [str(u) for u in uniques.tolist()]
    elif isinstance(dtype, pd.CategoricalDtype):
        # Already factorised (labels repeated over the parts of a long table): codes as they are.
        texts = dtype.categories.tolist()
        if not all(isinstance(t, str) for t in texts):
            return None
        index = _category_codes(values)
    elif (isinstance(dtype, np.dtype) and dtype.kind == "O") or isinstance(dtype, pd.StringDtype):
        index, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
        texts = uniques.tolist()
        if not all(isinstance(u, str) for u in texts):
            return None
    else:
        return None
    index = np.where(index < 0, len(texts), index)  # missing: the empty text after the others
    return [*_quoted(texts), ""], index.astype(np.int32, copy=False)


def _small_integer_codes(values: pd.Series) -> tuple[list[str], np.ndarray] | None:
    """A nullable integer column of a narrow range (answer codes) as (texts, codes) by
    subtraction: every integer from its lowest to its highest value is a text, no hashing."""
    array = values.array
    data, mask = getattr(array, "_data", None), getattr(array, "_mask", None)
    if data is None or mask is None or mask.all():
        return None
    present = data[~mask]
    low, high = int(present.min()), int(present.max())
    if high - low > 1024:
        return None
    codes = data.astype(np.int32) - low
    codes[mask] = high - low + 1  # missing: the empty text after the others
    return [*map(str, range(low, high + 1)), ""], codes


def _category_codes(values: pd.Series) -> np.ndarray:
    """A categorical column's codes, missing as the code after its categories (the empty text)."""
    codes = values.cat.codes.to_numpy()
    return np.where(codes < 0, len(values.cat.categories), codes).astype(np.int32)


def _encoded(texts: list[str], before: str, after: str) -> tuple[np.ndarray, np.ndarray]:
    """A column's texts, each with its separators, as one UTF-8 byte buffer and their lengths."""
    encoded = [(before + t + after).encode("utf-8") for t in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), lengths


def _byte_table(columns: list[tuple[np.ndarray, np.ndarray]]) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, list[int], int]:  # fmt: skip
    """The columns' encoded texts (:func:`_encoded`) as one byte buffer: ``(bytes, starts,
    lengths, first code of each column, bytes of the widest possible row)``."""
    data = np.concatenate([b for b, _ in columns])
    widest = sum(int(n.max()) for _, n in columns)
    offsets = np.cumsum([0] + [len(n) for _, n in columns[:-1]]).tolist()
    # Positions in 4 bytes while the texts and a chunk's bytes stay under 2 GB.
    kind = np.int32 if len(data) + max(CHUNK_BYTES, widest) < 2**31 else np.int64
    lengths = np.concatenate([n for _, n in columns]).astype(kind)
    starts = np.cumsum(lengths, dtype=kind) - lengths
    return data, starts, lengths, offsets, widest


def _rows_bytes(table: tuple, codes: list[np.ndarray]) -> np.ndarray:
    """The rows whose column codes are ``codes`` (one array per column), as written bytes."""
    data, starts, lengths, offsets, _ = table
    kind = starts.dtype  # 4-byte positions unless the texts or a chunk pass 2 GB
    cells = np.empty((len(codes[0]), len(codes)), dtype=kind)
    for position, (column, offset) in enumerate(zip(codes, offsets, strict=True)):
        np.add(column, offset, out=cells[:, position], casting="unsafe")
    cells = cells.ravel()  # row by row, column by column: the order of the file
    # np.take rather than indexing: the same values, faster (positions are in range).
    size = np.take(lengths, cells, mode="clip")
    if not size.all():  # empty cells (a missing value in the first column) add no byte
        cells, size = cells[size > 0], size[size > 0]
    begin = np.take(starts, cells, mode="clip")
    del cells
    # Byte k of the output is byte index[k] of the table: within a cell the next byte, at a
    # cell's start a jump to its text. Written as steps and summed (one array of 4 bytes a byte).
    first = np.cumsum(size, dtype=kind)  # where each cell ends in the output ...
    total = int(first[-1])
    first -= size  # ... and begins
    index = np.ones(total, dtype=kind)
    index[first[1:]] = begin[1:] - (begin[:-1] + size[:-1] - 1)
    index[0] = begin[0]
    return np.take(data, np.cumsum(index, out=index), mode="clip")


def _padded_tables(columns: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple] | None:
    """The columns' encoded texts (:func:`_encoded`) as tables of rows of one width (8-byte
    words), padded with the byte 0xFF, which UTF-8 never holds; ``None`` when the padding
    would more than quadruple the texts (a long free text among short ones: the rows are
    gathered byte by byte).

    Neighbouring columns of few texts (answers, labels) share one table of every combination
    of their texts (at most :data:`JOINT_TEXTS` rows), so a row takes their cells in one
    copy. Returns ``(table, sizes)`` per table: ``sizes`` are the texts of each column in it.
    """
    padded_bytes = sum(len(n) * int(n.max()) for _, n in columns)
    if padded_bytes > 4 * sum(len(b) for b, _ in columns) + PADDING_SLACK_BYTES:
        return None
    tables: list[tuple] = []
    for data, lengths in columns:
        table = np.full((len(lengths), int(lengths.max())), 0xFF, dtype=np.uint8)
        table[np.arange(table.shape[1]) < lengths[:, None]] = data  # row by row, as encoded
        if tables and len(tables[-1][0]) * len(table) <= JOINT_TEXTS:
            before, sizes = tables[-1]  # combination k * len(table) + j: text k, then text j
            joint = np.concatenate([np.repeat(before, len(table), axis=0),
                                    np.tile(table, (len(before), 1))], axis=1)  # fmt: skip
            tables[-1] = (joint, [*sizes, len(table)])
        else:
            tables.append((table, [len(table)]))
    # Rows of 8-byte words: a row's cells are copied as whole words (not byte by byte).
    return [(_in_words(table), sizes) for table, sizes in tables]


def _in_words(table: np.ndarray) -> np.ndarray:
    """``table``'s rows padded (0xFF) to a multiple of 8 bytes, as rows of 8-byte words."""
    width = -(-table.shape[1] // 8) * 8
    words = np.full((len(table), width), 0xFF, dtype=np.uint8)
    words[:, : table.shape[1]] = table
    return words.view(np.uint64)


def _rows_from_padded(tables: list[tuple], codes: list[np.ndarray]) -> np.ndarray:
    """:func:`_rows_bytes` from :func:`_padded_tables`: each row's cells copied whole side
    by side, then the padding bytes dropped (a copy per cell, not a gather per byte)."""
    rows = np.empty((len(codes[0]), sum(t.shape[1] for t, _ in tables)), dtype=np.uint64)
    start = column = 0
    for table, sizes in tables:
        joint = codes[column]
        for size, code in zip(sizes[1:], codes[column + 1 : column + len(sizes)], strict=True):
            joint = joint * size + code  # the row of this combination in the joint table
        column += len(sizes)
        width = table.shape[1]
        if width == 1:  # one word a cell: a gather of words
            rows[:, start] = table[:, 0].take(joint)
        else:
            rows[:, start : start + width] = table.take(joint, axis=0)
        start += width
    flat = rows.view(np.uint8).ravel()
    return flat[flat != 0xFF]


def write_frame(df: pd.DataFrame, path: str | Path, float_format: str, *, header: bool = True,
                append: bool = False, cache: dict | None = None) -> None:  # fmt: skip
    """``df.to_csv(path, index=False, lineterminator="\\n", float_format=float_format,
    header=header, mode="a" if append else "w")``, byte for byte, formatting each distinct
    value of a column once.

    ``cache``: a dict kept between the calls that write the parts of one table; a categorical
    column whose categories are those of an earlier part's reuses their encoded texts.
    """
    simple = (df.shape[1] > 1 and len(df) > 0 and not isinstance(df.columns, pd.MultiIndex)
              and all(isinstance(c, str) for c in df.columns))  # fmt: skip
    columns = [] if simple else None
    for position in range(df.shape[1]) if simple else ():
        values = df.iloc[:, position]
        is_category = isinstance(values.dtype, pd.CategoricalDtype)
        categories = values.cat.categories if is_category else None
        known = cache.get((position, id(categories))) if cache is not None else None
        if known is not None and known[0] is categories:
            columns.append((known[1], _category_codes(values)))
            continue
        column = _column_text(values, float_format)
        if column is None:
            columns = None
            break
        texts, codes = column
        last = position == df.shape[1] - 1
        encoded = _encoded(texts, "," if position else "", "\n" if last else "")
        if categories is not None and cache is not None:
            cache[(position, id(categories))] = (categories, encoded)  # held: its id stays its own
        columns.append((encoded, codes))
    if columns is None:
        df.to_csv(path, index=False, lineterminator="\n", float_format=float_format,
                  header=header, mode="a" if append else "w")  # fmt: skip
        return
    encoded = [encoded for encoded, _ in columns]
    padded = _padded_tables(encoded)
    table = _byte_table(encoded) if padded is None else None
    # A row is at most its columns' longest texts: chunks of rows within CHUNK_BYTES.
    widest = sum(int(lengths.max()) for _, lengths in encoded)
    step = max(1, min(CHUNK_ROWS, CHUNK_BYTES // max(widest, 1)))
    with open(path, "ab" if append else "wb") as fh:
        if header:
            fh.write((",".join(_quoted(list(df.columns))) + "\n").encode("utf-8"))
        for start in range(0, len(df), step):
            chunk = [codes[start : start + step] for _, codes in columns]
            fh.write(_rows_bytes(table, chunk) if padded is None
                     else _rows_from_padded(padded, chunk))  # fmt: skip
