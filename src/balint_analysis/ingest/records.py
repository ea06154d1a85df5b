"""Delimited text as records: pandas' C parser where it is exact, else the ``csv`` module.

:func:`read_records` gives the non-blank records of a UTF-8 text and the record number of
each. Large exports are parsed by pandas' C parser into one array of strings per column
(:class:`ColumnRecords`, no Python list per record) wherever a scan of the bytes
(:func:`_field_counts`) shows that it reads them exactly as the strict ``csv`` module does;
anything else (a stray quote, a short or long record, an oversized field, a NUL byte) is read
by the ``csv`` module, so records, their numbers and the one-line errors of damaged files do
not depend on which parser read them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np

__all__ = ["ColumnRecords", "read_records"]


class ColumnRecords(Sequence):
    """Records held as one array of strings per field (column), read as a list of lists.

    A record is a list of strings (``records[i]``); a slice is again a ``ColumnRecords``
    (views of the columns); :func:`balint_analysis.ingest.base.frame` makes the columns a
    frame without copying them. Equal cells of a column share one string object, as
    interned cells do.
    """

    def __init__(self, columns: list[np.ndarray]) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def __getitem__(self, index):  # noqa: ANN001 - int or slice, as a list's
        if isinstance(index, slice):
            return ColumnRecords([column[index] for column in self.columns])
        return [column[index] for column in self.columns]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a list


def read_records(body: bytes, start: int,
                 delimiter: str) -> tuple[list[list[str]] | ColumnRecords, list[int]]:  # fmt: skip
    """The non-blank records of the UTF-8 text ``body[start:]`` (leading byte-order marks
    skipped) and the record number of each (blank ones counted).

    Read by pandas' C parser into one array of strings where that reads them as the ``csv``
    module does (:func:`_parsed_records`: ~3x faster, no list per record), else by the
    ``csv`` module (:func:`_csv_records`).
    """
    while body.startswith(b"\xef\xbb\xbf", start):  # U+FEFF is three bytes in UTF-8
        start += 3
    fast = _parsed_records(body, start, delimiter)
    return fast if fast is not None else _csv_records(body, start, delimiter)


def _csv_records(body: bytes, start: int, delimiter: str) -> tuple[list[list[str]], list[int]]:
    """:func:`read_records` by the ``csv`` module (strict), from byte ``start`` on.

    Bounded memory on large exports: the text is read through a UTF-8 byte stream over the
    file's own bytes where it is UTF-8 (no second copy; a ``StringIO`` held it at 4 bytes per
    character) and equal cells share one string object (``sys.intern``: an item column
    repeats a handful of answers over a million rows, which were a million separate strings).
    """
    import sys

    stream = io.BytesIO(body)
    stream.seek(start)
    lines = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogatepass", newline="")
    intern = sys.intern
    records, positions = [], []
    for number, record in enumerate(csv.reader(lines, delimiter=delimiter, strict=True), 1):
        if "".join(record).strip():
            records.append(list(map(intern, record)))
            positions.append(number)
    lines.detach()  # the stream over ``body`` is let go with it
    return records, positions


#: Bytes scanned at a time by :func:`_field_counts` (its temporary arrays are a few times this).
_SCAN_CHUNK = 1 << 20
#: Records parsed at a time by :func:`_parsed_records`: a thirty-second of the file's, within
#: these bounds (fewer, larger chunks are faster; a chunk is held twice while copied).
_PARSE_ROWS = (1 << 11, 1 << 14)
_QUOTE, _LF, _CR = 34, 10, 13


def _parsed_records(body: bytes, start: int,
                    delimiter: str) -> tuple[ColumnRecords, list[int]] | None:  # fmt: skip
    """:func:`read_records` by pandas' C parser, without a Python list per record; ``None`` where
    its reading could differ from the ``csv`` module's (which then reads the file).

    The C parser reads well-formed files as the ``csv`` module does, but it accepts what
    ``csv``'s strict mode refuses (text after a closing quote, a quote inside an unquoted
    field, an unclosed quote) and fills a short record with empty cells: it is used only when
    every quote opens or closes a field (checked on the bytes) and every non-blank record has
    the header's number of fields (counted on the bytes), so the records, their numbers and
    the errors of damaged files are those of the ``csv`` module.
    """
    import pandas as pd

    if len(delimiter) != 1 or not delimiter.isascii() or delimiter == '"':
        return None
    if b"\x00" in body:
        return None
    counts = _field_counts(body, start, ord(delimiter))
    if counts is None or len(counts) == 0:
        return None
    stream = io.BytesIO(body)  # over ``body`` itself: no copy
    stream.seek(start)
    rows, columns, filled = len(counts), [], 0
    try:
        # In chunks of records copied into one array per column (sized by the scan): the
        # whole table is never held twice (read_csv's own result is one more copy of it).
        with pd.read_csv(stream, sep=delimiter, header=None, dtype=object, na_filter=False,
                         skip_blank_lines=False, engine="c", encoding="utf-8", quotechar='"',
                         doublequote=True, escapechar=None, comment=None,
                         skipinitialspace=False, encoding_errors="strict",
                         chunksize=min(max(rows // 32, _PARSE_ROWS[0]), _PARSE_ROWS[1]),
                         ) as chunks:  # fmt: skip
            for chunk in chunks:
                values = chunk.to_numpy(dtype=object)
                if not columns:
                    columns = [np.empty(rows, dtype=object) for _ in range(values.shape[1])]
                if values.shape[1] != len(columns) or filled + len(values) > rows:
                    return None
                for j, column in enumerate(columns):
                    column[filled:filled + len(values)] = values[:, j]
                filled += len(values)
    except Exception:  # noqa: BLE001 - anything the C parser does not take: the csv module
        return None
    if filled != rows or not columns:
        return None
    blank = _blank_records(columns)
    if blank[0] or (counts[~blank] != len(columns)).any():
        return None  # a short or long record: the csv module reads it and says which
    keep = np.flatnonzero(~blank)
    if len(keep) < rows:  # blank lines (often one at the end: no copy then)
        prefix = keep[-1] == len(keep) - 1
        columns = [c[: len(keep)] if prefix else c[keep] for c in columns]
    return ColumnRecords(columns), (keep + 1).tolist()


def _blank_records(columns: list[np.ndarray]) -> np.ndarray:
    """Whether each record holds nothing but white space (the ``csv`` reading skips it),
    column by column over the records still blank (the first column decides most)."""
    import pandas as pd

    blank = np.ones(len(columns[0]), dtype=bool)
    for column in columns:
        rows = np.flatnonzero(blank)
        if len(rows) == 0:
            break
        codes, uniques = pd.factorize(column[rows])
        empty = np.array([not u.strip() for u in uniques], dtype=bool)
        blank[rows[~empty[codes]]] = False
    return blank


def _field_counts(body: bytes, start: int, delimiter: int) -> np.ndarray | None:
    """The number of fields of each record of ``body[start:]`` (delimiters outside quotes,
    plus one), or ``None`` where the ``csv`` module must read the file: a quote that neither
    opens a field (after a delimiter, a line break or a closing quote) nor closes one
    (before a delimiter, a line break, the end or a doubled quote), a quote left open, or a
    field longer than ``csv.field_size_limit()`` (counted in bytes, never fewer than its
    characters).

    A line break is CR, LF or CR LF outside quotes, as the ``csv`` module reads them; a last
    record without a line break counts. Read in chunks of :data:`_SCAN_CHUNK` bytes, looking
    only at the quotes, delimiters and line-break bytes (no array per byte beyond that).
    """
    data = np.frombuffer(body, dtype=np.uint8)[start:]
    n, limit = len(data), csv.field_size_limit()
    counts, parity, previous, pending = [], 0, delimiter, 0
    last_separator, last_break = -1, -1  # positions in ``data``
    is_mark = np.zeros(256, dtype=bool)  # by byte value: delimiter, LF, CR
    is_mark[[delimiter, _LF, _CR]] = True
    may_touch = is_mark.copy()  # what may stand next to a quote on its outer side
    may_touch[_QUOTE] = True
    for offset in range(0, n, _SCAN_CHUNK):
        chunk = data[offset:offset + _SCAN_CHUNK]
        size = len(chunk)
        following = int(data[offset + size]) if offset + size < n else delimiter
        quotes = np.flatnonzero(chunk == _QUOTE)
        if len(quotes):
            # Quotes alternate: the k-th one so far opens a quoted field when k is odd.
            opening, closing = quotes[parity::2], quotes[1 - parity::2]
            before = chunk[np.maximum(opening - 1, 0)]
            if len(opening) and opening[0] == 0:
                before[0] = previous
            after = chunk[np.minimum(closing + 1, size - 1)]
            if len(closing) and closing[-1] == size - 1:
                after[-1] = following
            if not (may_touch[before].all() and may_touch[after].all()):
                return None
        marks = np.flatnonzero(is_mark[chunk])
        # A mark outside quotes has an even number of quotes before it.
        marks = marks[(np.searchsorted(quotes, marks) + parity) % 2 == 0]
        parity = (parity + len(quotes)) % 2
        kinds = chunk[marks]
        # CR LF is one line break: an LF right after a CR that broke the line is not another.
        lf_of_crlf = kinds == _LF
        lf_of_crlf[1:] &= (kinds[:-1] == _CR) & (marks[1:] == marks[:-1] + 1)
        if len(marks):  # the first mark: after the previous chunk's last byte, a CR?
            lf_of_crlf[0] &= marks[0] == 0 and previous == _CR and last_break == offset - 1
        if lf_of_crlf.any():
            last_break = max(last_break, offset + int(marks[lf_of_crlf][-1]))
            keep = ~lf_of_crlf
            marks, kinds = marks[keep], kinds[keep]
        if len(marks):
            gaps = np.diff(marks, prepend=last_separator - offset)
            if gaps.max() - 1 > limit:
                return None
            last_separator = offset + int(marks[-1])
        is_break = kinds != delimiter
        delimiters = np.cumsum(~is_break, dtype=np.int64)
        ends = np.flatnonzero(is_break)
        if len(ends):
            at = delimiters[ends]
            firsts = np.zeros(len(at), dtype=np.int64)
            firsts[0] = pending
            counts.append(np.diff(at, prepend=0) + firsts)
            pending = int(delimiters[-1] - at[-1])
            last_break = max(last_break, offset + int(marks[ends[-1]]))
        elif len(delimiters):
            pending += int(delimiters[-1])
        previous = int(chunk[-1])
    if parity or n - 1 - last_separator > limit:
        return None  # a quote left open at the end, or a last field beyond the limit
    if last_break < n - 1:  # text after the last line break: one more record
        counts.append(np.array([pending], dtype=np.int64))
    return (np.concatenate(counts) + 1) if counts else np.zeros(0, dtype=np.int64)
