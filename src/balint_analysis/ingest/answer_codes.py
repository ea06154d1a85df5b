"""LimeSurvey answer codes (``AO01``, ``AO02`` …, older surveys ``A1`` …) → instrument values.

A LimeSurvey list or array question whose designer kept the default answer codes exports
"answer codes" as ``AO01`` … rather than the instrument's numbers (export_formats §3.2). Which
value a code stands for is a property of the survey, not of the file, so it is never guessed:
without the export's ``answer_codes`` key such a file stops the run with one line that says how
to declare it; ``answer_codes: position`` reads the k-th code as the instrument's k-th answer
value (``AO01`` = its lowest), a mapping ``{AO01: 0, …}`` gives every code's value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument

__all__ = ["ANSWER_CODE", "code_table", "decode_answer_codes", "refuse_undeclared_codes"]

#: A LimeSurvey default answer code: ``AO01`` (LimeSurvey 3+) or ``A1`` (older surveys).
ANSWER_CODE = re.compile(r"^AO?0*(\d+)$")


def code_table(setting: str | Mapping[str, float], instrument: Instrument) -> dict[str, str]:
    """Answer code → value (as exported text) for one instrument under the export's setting.

    ``position``: code number k → the instrument's k-th allowed value, written both as
    ``AO0k`` and ``Ak`` (so ``AO01``, ``AO1`` and ``A1`` all mean the first answer).
    A mapping is used as given (values written as numbers without a trailing ``.0``).
    """
    if isinstance(setting, Mapping):
        return {str(k).strip(): f"{float(v):g}" for k, v in setting.items()}
    table = {}
    for k, value in enumerate(instrument.allowed_values, start=1):
        for code in (f"AO{k:02d}", f"AO{k}", f"A{k}"):
            table[code] = f"{value:g}"
    return table


def decode_answer_codes(values: pd.Series, table: Mapping[str, str]) -> tuple[pd.Series, int]:
    """Replace the answer codes of one item column; returns the column and the cells decoded.

    Codes without a value (``AO08`` on a seven-point item) stay as they are and become an
    invalid item answer in validation, like any other text.
    """
    stripped = values.str.strip()
    decoded = stripped.map(table)
    hit = decoded.notna()
    return values.where(~hit, decoded), int(hit.sum())


def refuse_undeclared_codes(path: str, items: Mapping[str, pd.Series]) -> None:
    """Stop when most answered item cells of a file are answer codes and none are declared.

    ``items``: the file's item columns by their own names.

    Raises
    ------
    InputError
        Naming the file, an example code and column, and the ``answer_codes`` key.
    """
    n_rows = max((len(s) for s in items.values()), default=0)
    step = max(1, n_rows // 1000)
    # Answer codes are a property of the whole survey: a spread sample of rows finds them, so a
    # large numeric file costs ~1,000 rows of checking rather than every cell.
    sample = pd.concat([s.iloc[::step].str.strip() for s in items.values()])
    if not sample[sample.notna()].str.match(ANSWER_CODE).any():
        return
    cells = pd.concat([s.str.strip() for s in items.values()], keys=list(items))
    answered = cells[cells.notna() & (cells != "")]
    codes = answered[answered.str.match(ANSWER_CODE)]
    if len(codes) and len(codes) * 2 >= len(answered):
        column = codes.index[0][0]
        raise InputError(
            f"{path}: {len(codes)} of {len(answered)} answers are LimeSurvey answer codes "
            f"(e.g. '{codes.iloc[0]}' in column {column}), not the instrument's values. Declare "
            "them on this export: `answer_codes: position` when the answer options were created "
            "in the instrument's order (AO01 = its lowest answer), or `answer_codes: {AO01: 0, "
            "AO02: 1, ...}`; or re-export with numeric answer codes."
        )
