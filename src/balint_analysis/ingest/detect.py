"""Sniff encoding, delimiter and export platform from a file's bytes.

Detection prefers language-independent signatures (BOMs, Qualtrics' ImportId row, REDCap's
``*_complete`` columns) and never guesses a legacy code page: a file that is not UTF-8 needs
``encoding:`` in its config entry.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from balint_analysis.errors import InputError

__all__ = ["TextTable", "decode", "detect_format", "read_table", "sniff_delimiter"]

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
_DELIMITERS = (",", ";", "\t")


@dataclass(frozen=True)
class TextTable:
    """A delimited text file as records of strings, plus what was detected about it."""

    path: str
    encoding: str
    delimiter: str
    records: list[list[str]]


def decode(data: bytes, path: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode bytes to text; return ``(text, encoding_used)``.

    Raises
    ------
    InputError
        When the bytes are not valid in the configured (or detected) encoding.
    """
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"{path}: cannot be read as {encoding} ({_reason(exc)}). Fix the `encoding:` "
                "of this file in the config, or re-save the file as UTF-8."
            ) from None
    for bom, name in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(name), name
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}: damaged {name} text ({_reason(exc)}).") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text ({_reason(exc)}). Set `encoding:` for this file in the "
            "config (e.g. cp1250 for Polish or cp1252 for Western European Excel CSV)."
        ) from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid byte at position {exc.start}"
    return str(exc)


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter occurring most often outside quotes in the header line."""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_table(
    data: bytes, path: str, *, encoding: str | None = None, delimiter: str | None = None
) -> TextTable:
    """Parse delimited text into records (all cells as strings, nothing type-guessed).

    Raises
    ------
    InputError
        Empty file, or a record with more fields than the header (a broken or truncated file).
    """
    text, used = decode(data, path, encoding)
    if not text.strip():
        raise InputError(f"{path}: the file is empty. Export the data again.")
    first_line = text.split("\n", 1)[0]
    delim = delimiter or sniff_delimiter(first_line)
    records = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=delim) if r]
    width = len(records[0])
    for n, rec in enumerate(records[1:], start=2):
        if len(rec) == width:
            continue
        if n == len(records) and len(rec) < width:
            raise InputError(
                f"{path}: the last row ({n}) stops after {len(rec)} of {width} fields; the file "
                "looks truncated. Export it again."
            )
        raise InputError(
            f"{path}: row {n} has {len(rec)} fields but the header has {width}. The file is "
            "damaged (a stray delimiter or quote); export it again or fix that row."
        )
    return TextTable(path=path, encoding=used, delimiter=delim, records=records)


def detect_format(table: TextTable) -> str:
    """``qualtrics``, ``redcap`` or ``generic`` from the header signatures."""
    header = table.records[0]
    third = table.records[2] if len(table.records) > 2 else []
    cells = [c for c in third if c.strip()]
    if cells and all(c.lstrip().startswith('{"ImportId"') for c in cells):
        return "qualtrics"
    if header[:3] == ["V1", "V2", "V3"]:
        return "qualtrics"
    names = {h.strip().lower() for h in header}
    if any(n.endswith("_complete") for n in names) or names & {
        "redcap_event_name",
        "redcap_repeat_instrument",
        "redcap_data_access_group",
    }:
        return "redcap"
    return "generic"
