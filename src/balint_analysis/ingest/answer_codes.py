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
from collections import Counter
from collections.abc import Mapping

from balint_analysis.errors import InputError
from balint_analysis.instruments import Instrument

__all__ = ["ANSWER_CODE", "UNDECLARED", "code_table", "refuse_undeclared_codes"]

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


def refuse_undeclared_codes(path: str, answers: Mapping[str, Counter]) -> None:
    """Stop when most answered item cells of a file are answer codes and none are declared.

    ``answers``: per item column of the file (by its own name), its answered cells counted by
    their text (stripped; the platform's no-answer codes left out).

    Raises
    ------
    InputError
        Naming the file, an example code and column, and the ``answer_codes`` key.
    """
    answered = sum(sum(counts.values()) for counts in answers.values())
    codes = {col: [(text, n) for text, n in counts.items() if ANSWER_CODE.match(text)]
             for col, counts in answers.items()}  # fmt: skip
    n_codes = sum(n for found in codes.values() for _, n in found)
    if not n_codes or n_codes * 2 < answered:
        return
    column, found = next((col, found) for col, found in codes.items() if found)
    raise InputError(
        f"{path}: {n_codes} of {answered} answers are LimeSurvey answer codes "
        f"(e.g. '{found[0][0]}' in column {column}), not the instrument's values. Declare "
        "them on this export: `answer_codes: position` when the answer options were created "
        "in the instrument's order (AO01 = its lowest answer), or `answer_codes: {AO01: 0, "
        "AO02: 1, ...}`; or re-export with numeric answer codes."
    )
