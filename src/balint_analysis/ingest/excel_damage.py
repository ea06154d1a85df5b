"""Signs that an export was opened and re-saved in Excel (docs/references.md, "Excel damage").

Excel turns long numeric participant codes into scientific notation (``1.23457E+11``), codes
such as ``03-12`` into dates, drops leading zeros (``0712`` → ``712``) and writes date-times as
serial day numbers (``45355.43`` = 2024-03-04 10:19). Nothing here repairs a participant code:
a code that no longer matches is rejected as before, with the likely cause in the reason, so
the researcher re-exports instead of trusting a guess. Serial submission times are converted
(their meaning is unambiguous) and counted, because the duplicate rule orders by them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["EXCEL_EPOCH", "excel_id_cause", "serial_times_to_iso"]

#: Day 0 of Excel's (1900, with the Lotus leap-year bug) serial dates for dates after 1900-03-01.
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_SERIAL = re.compile(r"^\d{5}(\.\d+)?$")
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?[eE]\+?\d+$")
_DATE = re.compile(
    r"^(\d{1,2}[-/.]\d{1,2}([-/.]\d{2,4})?|\d{1,2}-[A-Za-z]{3}(-\d{2,4})?|[A-Za-z]{3}-\d{2,4}"
    r"|\d{4}-\d{2}-\d{2}( 00:00(:00)?)?)$"
)


def serial_times_to_iso(values: pd.Series) -> tuple[pd.Series, int]:
    """Excel serial date-times (``45355.4375``; 1954–2118) → ISO text; others unchanged.

    Returns the column and the number of cells converted.
    """
    text = values.astype("str").str.strip()
    serial = text.str.match(_SERIAL)
    if not serial.any():
        return values, 0
    days = pd.to_numeric(text.where(serial), errors="coerce")
    serial &= days.between(20_000, 80_000)
    when = EXCEL_EPOCH + pd.to_timedelta(days.where(serial), unit="D")
    iso = when.dt.round("s").dt.strftime("%Y-%m-%d %H:%M:%S")
    return values.where(~serial, iso), int(serial.sum())


def excel_id_cause(ids: pd.Series, roster_ids: Iterable[str] | None = None) -> pd.Series:
    """The likely Excel alteration of each participant code, as words that follow "the code
    looks", or None.

    ``changed into scientific notation`` and ``changed into a date`` from the text alone;
    ``stripped of its leading zeros`` when a roster code equals this code with its leading
    zeros restored (``0712`` for ``712``).
    """
    text = ids.astype("str").str.strip()
    cause = pd.Series(np.full(len(ids), None, dtype=object), index=ids.index)
    cause[text.str.match(_SCIENTIFIC)] = "changed into scientific notation"
    cause[cause.isna() & text.str.match(_DATE)] = "changed into a date"
    if roster_ids is not None:
        # Only the codes with a leading zero, found without a Python call per roster code.
        codes = pd.Series(roster_ids, dtype=object).dropna().astype(str)
        zeros = codes[codes.str.startswith("0").astype(bool)]
        stripped = {r.lstrip("0") for r in zeros if r.isdigit()}
        lost = cause.isna() & text.str.fullmatch(r"\d+") & text.isin(stripped)
        cause[lost] = "stripped of its leading zeros"
    return cause
