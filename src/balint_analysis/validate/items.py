"""Item answers: text cells to the instrument's numbers, and REDCap forms left incomplete.

Each distinct cell text of a column is decided once (a column holds a handful of distinct
answers, however many rows it has): blank, a number, or choice text mapped to its code through
the instrument's answer labels; anything else is one problem (the item is set missing). A file
whose answers are mostly unmappable text is a labels export and stops the run.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.ingest.accounting import ITEM_MISSING
from balint_analysis.ingest.answer_codes import UNDECLARED
from balint_analysis.privacy import safe_value

__all__ = ["convert_items", "incomplete_forms", "item_columns"]

_UNDECLARED = re.compile(re.escape(UNDECLARED).replace(r"\{\}", "(.*)"))


def item_columns(df: pd.DataFrame) -> list[str]:
    """The tidy item columns (``<instrument>__<item>``) of a response table."""
    return [c for c in df.columns if "__" in c]


def _parse_cells(raw: np.ndarray, labels: dict[str, float] | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Item cells → (number, blank, mapped through the answer labels), deciding each distinct
    text once: a column holds a handful of distinct answers, however many rows it has.

    Blank: empty, whitespace-only or missing. A number is what ``float`` reads (``7``,
    `` 7 ``, ``7.0``); other text is mapped to its code through the instrument's answer labels
    (``Every day``), else it stays NaN (reported as not a number).
    """
    index, uniques = pd.factorize(raw, use_na_sentinel=True)
    number = np.full(len(uniques) + 1, np.nan)
    blank = np.zeros(len(uniques) + 1, dtype=bool)
    mapped = np.zeros(len(uniques) + 1, dtype=bool)
    blank[-1] = True  # index -1: a missing cell
    for k, value in enumerate(uniques):
        text = str(value)
        if not text.strip():
            blank[k] = True
            continue
        with contextlib.suppress(ValueError):
            number[k] = float(text)
        if np.isnan(number[k]) and labels:
            code = labels.get(text.strip().lower())
            if code is not None:
                number[k], mapped[k] = code, True
    return number[index], blank[index], mapped[index]


def convert_items(df: pd.DataFrame, config: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items to numbers; non-numeric text becomes missing and one problem each.

    Choice text (``Every day``, a Qualtrics "choice text" or Google Forms export) is mapped to
    the code through the instrument's response labels; ``df.attrs["choice_text_mapped"]``
    counts the mapped cells per source.
    """
    converted = {}
    problems = []
    mapped: dict[str, int] = {}
    labels = {i: {str(v).strip().lower(): float(k) for k, v in inst.response_labels.items()}
              for i, inst in config.instruments.items()}  # fmt: skip
    for col in item_columns(df):
        raw = df[col].to_numpy(dtype=object)
        number, blank, hit = _parse_cells(raw, labels.get(col.split("__")[0]))
        bad = ~blank & np.isnan(number)
        if hit.any():
            for src, n in pd.Series(df["source"].to_numpy()[hit]).value_counts().items():
                mapped[src] = mapped.get(src, 0) + int(n)
        if bad.any():
            texts = [str(v).strip() for v in raw[bad]]
            codes = [_UNDECLARED.fullmatch(t) for t in texts]
            problems.append(
                pd.DataFrame(
                    {
                        "source": df.loc[bad, "source"],
                        "row": df.loc[bad, "row"],
                        "column": col,
                        "reason": ["answer code without a value under answer_codes" if m
                                   else "not a number" for m in codes],
                        "action": ITEM_MISSING,
                        "value": [safe_value(m.group(1) if m else t)
                                  for m, t in zip(codes, texts, strict=True)],
                        "_index": df.index[bad],
                        "_row_level": False,
                    }
                )
            )
        converted[col] = number
    found = pd.concat(problems, ignore_index=True) if problems else None
    if found is not None:
        _refuse_text_exports(found, df, converted)
    out = df.assign(**converted) if converted else df.copy()
    out.attrs["choice_text_mapped"] = mapped
    return out, found


def _refuse_text_exports(found: pd.DataFrame, df: pd.DataFrame, converted: dict) -> None:
    """A file whose answers are mostly unmappable text is a labels export, not bad answers.

    Raises
    ------
    InputError
        When more than half of a file's non-blank item cells (at least 20) are not numbers.
    """
    answered = pd.DataFrame(converted, index=df.index).notna().sum(axis=1)
    text = found["source"].value_counts()
    for src, n_text in text.items():
        n_cells = int(answered[df["source"] == src].sum()) + int(n_text)
        if n_text >= 20 and n_text > n_cells / 2:
            raise InputError(
                f"{src}: {n_text} of {n_cells} answers are text that is not one of the "
                "instrument's answer labels; this looks like a choice-text / full-answers "
                "export. Export numeric values (Qualtrics 'Use numeric values', LimeSurvey "
                "'answer codes') or use an instrument definition whose labels match."
            )


def incomplete_forms(df: pd.DataFrame, config: StudyConfig,
                      ingest_info: dict) -> pd.DataFrame | None:  # fmt: skip
    """REDCap: an instrument whose form is not Complete in a row kept for another instrument.

    Its answers are set missing (in ``df``) and each such form is one problem naming its
    ``<form>_complete`` column.
    """
    if "incomplete_forms" not in df or not df["incomplete_forms"].notna().any():
        return None
    forms = {f["source"]: f.get("redcap_forms", {}) for f in ingest_info["files"]}
    rows = []
    for idx, listed in df["incomplete_forms"].dropna().items():
        for inst_id in str(listed).split(";"):
            if not inst_id:
                continue
            cols = [c for c in df.columns if c.startswith(f"{inst_id}__")]
            df.loc[idx, cols] = np.nan
            form = forms.get(df.at[idx, "source"], {}).get(inst_id, inst_id)
            rows.append({"source": df.at[idx, "source"], "row": df.at[idx, "row"],
                         "column": f"{form}_complete",
                         "reason": f"REDCap form '{form}' not complete: its {inst_id} answers "
                                   "are not used", "action": ITEM_MISSING, "value": "",
                         "_index": idx, "_row_level": False})  # fmt: skip
    return pd.DataFrame(rows) if rows else None
