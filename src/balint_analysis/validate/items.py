"""Item answers: text cells to the instrument's numbers, and REDCap forms left incomplete.

Ingest has already turned choice text into codes (:mod:`balint_analysis.ingest.items`). Each
distinct cell text of a column is decided once (a column holds a handful of distinct answers,
however many rows it has): blank or a number; anything else is one problem (the item is set
missing). A file whose answers are mostly text is a labels export and stops the run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from balint_analysis.errors import InputError
from balint_analysis.ingest.answer_codes import UNDECLARED
from balint_analysis.privacy import shown_value
from balint_analysis.validate.accounting import ITEM_MISSING

__all__ = ["convert_items", "exact_numbers", "incomplete_forms", "item_columns",
           "numbers_where_exact"]

_UNDECLARED = re.compile(re.escape(UNDECLARED).replace(r"\{\}", "(.*)"))


def item_columns(df: pd.DataFrame) -> list[str]:
    """The tidy item columns (``<instrument>__<item>``) of a response table."""
    return [c for c in df.columns if "__" in c]


def _numbers(dtype) -> bool:
    """Whether a column of this dtype already holds answers as numbers: float64, or the
    nullable integer codes :func:`numbers_where_exact` narrows exact answers to."""
    if isinstance(dtype, np.dtype):
        return dtype.kind == "f"
    return isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.name in ("Int8",
                                                                                  "Int16")


def _parse_cells(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Item cells → (number, blank), deciding each distinct text once.

    Blank: empty, whitespace-only or missing. A number is what ``float`` reads (``7``,
    `` 7 ``, ``7.0``); other text stays NaN (reported as not a number).
    """
    index, uniques = pd.factorize(raw, use_na_sentinel=True)
    number = np.full(len(uniques) + 1, np.nan)
    blank = np.zeros(len(uniques) + 1, dtype=bool)
    blank[-1] = True  # index -1: a missing cell
    for k, value in enumerate(uniques):
        text = str(value)
        if not text.strip():
            blank[k] = True
            continue
        with contextlib.suppress(ValueError):
            number[k] = float(text)
    return number[index], blank[index]


def numbers_where_exact(df: pd.DataFrame,
                        narrow: Mapping[str, str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Item columns whose every cell is missing or a number (what ``float`` reads, not NaN) as
    those numbers; any other column unchanged.

    What :func:`convert_items` would make of them, done per export as it is read: the text
    table of all exports is never held next to its numbers. A column with any other text
    (blank, ``nan``, a word) stays text, for :func:`convert_items` to report each cell.

    ``narrow``: column -> nullable integer dtype (``scoring.answer_dtypes``); such a column is
    held in it where that is exact (:func:`balint_analysis.handover.narrowed`: whole numbers in
    range, no ``-0.0``), one or two bytes a cell instead of float64's eight. The values are the
    same numbers, so validation decides and reports exactly as on floats.
    """
    from balint_analysis.handover import narrowed

    narrow = narrow or {}
    numbers = {}
    for col in item_columns(df):
        if not (pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object):
            continue
        index, uniques = pd.factorize(df[col].to_numpy(dtype=object), use_na_sentinel=True)
        table = exact_numbers([str(value) for value in uniques])
        if table is not None:
            numbers[col] = narrowed(pd.Series(table[index], index=df.index, name=col),
                                    narrow.get(col))  # fmt: skip
    return df.assign(**numbers) if numbers else df


def exact_numbers(texts: Sequence[str], *, blank_is_missing: bool = False) -> np.ndarray | None:
    """The number ``float`` reads from each of the distinct ``texts``, then NaN (the code -1
    of a missing cell indexes it); ``None`` when a text reads as no number or as NaN (the
    column stays text). ``blank_is_missing``: an empty text is a missing cell (NaN)."""
    table = np.full(len(texts) + 1, np.nan)
    for k, text in enumerate(texts):
        if blank_is_missing and text == "":
            continue
        try:
            table[k] = float(text)
        except ValueError:
            return None
        if np.isnan(table[k]):
            return None
    return table


def convert_items(
    df: pd.DataFrame, declared: Mapping[str, tuple] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Items to numbers; non-numeric text becomes missing and one problem each.

    ``declared``: instrument id -> (answer range, declared codes), what a problem's ``value``
    may show (:func:`balint_analysis.privacy.shown_value`); anything else is described.
    """
    declared = declared or {}
    converted = {}
    problems = []
    for col in item_columns(df):
        if _numbers(df[col].dtype):
            # Already numbers (:func:`numbers_where_exact`, floats or exact integer codes):
            # kept as they are, not copied.
            converted[col] = df[col]
            continue
        raw = df[col].to_numpy(dtype=object)
        number, blank = _parse_cells(raw)
        bad = ~blank & np.isnan(number)
        if bad.any():
            texts = [str(v).strip() for v in raw[bad]]
            codes = [_UNDECLARED.fullmatch(t) for t in texts]
            answer_range, known = declared.get(col.split("__", 1)[0], (None, ()))
            raw_texts = [m.group(1) if m else t for m, t in zip(codes, texts, strict=True)]
            # Each distinct text is described once (a column repeats a handful of them).
            shown = {t: shown_value(t, answer_range=answer_range, codes=known)
                     for t in dict.fromkeys(raw_texts)}  # fmt: skip
            problems.append(
                pd.DataFrame(
                    {
                        "source": df.loc[bad, "source"],
                        "row": df.loc[bad, "row"],
                        "column": col,
                        "reason": ["answer code without a value under answer_codes" if m
                                   else "not a number" for m in codes],
                        "action": ITEM_MISSING,
                        "value": [shown[t] for t in raw_texts],
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
    return out, found


def _refuse_text_exports(found: pd.DataFrame, df: pd.DataFrame, converted: dict) -> None:
    """A file whose answers are mostly unmappable text is a labels export, not bad answers.

    Raises
    ------
    InputError
        When more than half of a file's non-blank item cells (at least 20) are not numbers.
    """
    # Answered cells per file, column by column (a table of all items would be a copy).
    files, names = pd.factorize(df["source"], use_na_sentinel=False)
    answered = np.zeros(len(names), dtype=np.int64)
    for number in converted.values():
        answered += np.bincount(files[np.asarray(pd.notna(number))], minlength=len(names))
    per_file = dict(zip(names, answered.tolist(), strict=True))
    text = found["source"].value_counts()
    for src, n_text in text.items():
        n_cells = per_file.get(src, 0) + int(n_text)
        if n_text >= 20 and n_text > n_cells / 2:
            raise InputError(
                f"{src}: {n_text} of {n_cells} answers are text that is not one of the "
                "instrument's answer labels; this looks like a choice-text / full-answers "
                "export. Export numeric values (Qualtrics 'Use numeric values', LimeSurvey "
                "'answer codes') or use an instrument definition whose labels match."
            )


def incomplete_forms(df: pd.DataFrame, ingest_info: dict) -> pd.DataFrame | None:
    """REDCap: an instrument whose form is not Complete in a row kept for another instrument.

    Its answers are set missing (in ``df``) and each such form is one problem naming its
    ``<form>_complete`` column (in row order, then in the order the row lists them).
    """
    if "incomplete_forms" not in df:
        return None
    listed = df["incomplete_forms"].dropna().astype(str).str.split(";").explode()
    listed = listed[listed != ""]  # index: the row; value: an instrument id
    if listed.empty:
        return None
    for inst_id in listed.unique():
        cols = [c for c in df.columns if c.startswith(f"{inst_id}__")]
        df.loc[listed.index[listed == inst_id], cols] = np.nan
    forms = {f["source"]: f.get("redcap_forms", {}) for f in ingest_info["files"]}
    sources = df.loc[listed.index, "source"]
    form = [forms.get(src, {}).get(inst, inst) for src, inst in zip(sources, listed, strict=True)]
    return pd.DataFrame({
        "source": sources.to_numpy(),
        "row": df.loc[listed.index, "row"].to_numpy(),
        "column": [f"{f}_complete" for f in form],
        "reason": [f"REDCap form '{f}' not complete: its {inst} answers are not used"
                   for f, inst in zip(form, listed, strict=True)],
        "action": ITEM_MISSING,
        "value": "",
        "_index": listed.index.to_numpy(),
        "_row_level": False,
    })  # fmt: skip
