"""Answer codes → instrument values: LimeSurvey ``AO01`` codes and answer positions.

A LimeSurvey list or array question whose designer kept the default answer codes exports
"answer codes" as ``AO01`` … (older surveys ``A1`` …) rather than the instrument's numbers;
SoSci Survey and SurveyMonkey's "numerical value" exports store the **position** of the chosen
option (1, 2, …); a Qualtrics survey left with its default recode values does the same. Which
value a code stands for is a property of the survey, not of the file, so it is never guessed:
``answer_codes: position`` reads code or position k as the instrument's k-th answer value (its
lowest first), a mapping ``{AO01: 0, …}`` / ``{1: 0, …}`` gives every code's value. A cell that
is no declared code becomes an invalid answer (its item is set missing and reported).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument

__all__ = ["ANSWER_CODE", "UNDECLARED", "code_table", "decode_answer_codes",
           "refuse_undeclared_codes"]

#: A LimeSurvey default answer code: ``AO01`` (LimeSurvey 3+) or ``A1`` (older surveys).
ANSWER_CODE = re.compile(r"^AO?0*(\d+)$")


def code_table(setting: str | Mapping[str, float], instrument: Instrument) -> dict[str, str]:
    """Answer code → value (as exported text) for one instrument under the export's setting.

    ``position``: code number k → the instrument's k-th allowed value, written as ``AO0k``,
    ``AOk``, ``Ak`` or plain ``k`` (so ``AO01``, ``A1`` and ``1`` all mean the first answer).
    A mapping is used as given (values written as numbers without a trailing ``.0``).
    """
    if isinstance(setting, Mapping):
        return {str(k).strip(): f"{float(v):g}" for k, v in setting.items()}
    table = {}
    for k, value in enumerate(instrument.allowed_values, start=1):
        for code in (f"AO{k:02d}", f"AO{k}", f"A{k}", str(k)):
            table[code] = f"{value:g}"
    return table


#: How a cell that is no declared answer code reaches validation (reported, item set missing).
UNDECLARED = "answer code {} has no value under answer_codes"


def decode_answer_codes(values: pd.Series, table: Mapping[str, str]) -> tuple[pd.Series, int]:
    """Replace the answer codes of one item column; returns the column and the cells decoded.

    A non-blank cell that is no code of ``table`` (``AO08`` or ``8`` on a seven-point item,
    ``0`` where answers are positions) becomes an invalid answer that validation reports.
    """
    stripped = values.str.strip()
    decoded = stripped.map(table)
    hit = decoded.notna()
    stray = ~hit & stripped.ne("") & stripped.notna()
    out = values.where(~hit, decoded)
    if stray.any():
        out = out.where(~stray, stripped.map(lambda v: UNDECLARED.format(v)))
    return out, int(hit.sum())


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
