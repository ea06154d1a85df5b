"""Categorical covariates: roster values matched to the levels declared in the config.

``analysis.covariate_levels`` declares a categorical covariate's levels. A roster value is
matched to a level ignoring upper/lower case and surrounding spaces and replaced by the
declared label, so only declared labels ever reach the processed data; any other value is
missing (and reported without being echoed: it is text a person typed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.errors import InputError
from balint_analysis.privacy import shown_value
from balint_analysis.validate.accounting import ITEM_MISSING, REJECTED_COLUMNS

__all__ = ["UNDECLARED_LEVEL", "match_levels", "roster_covariates"]

#: ``rejected.csv`` reason of a value that is not a declared level (never the value itself).
UNDECLARED_LEVEL = "covariate value is not a declared level (analysis.covariate_levels)"


def match_levels(values: pd.Series, levels: Sequence[str]) -> tuple[pd.Series, pd.Series]:
    """Declared level labels of a categorical covariate's raw values.

    Parameters
    ----------
    values : pandas.Series
        Raw roster cells (text; blank or missing = not known).
    levels : sequence of str
        The declared levels.

    Returns
    -------
    labels : pandas.Series
        The declared label of each value (``"Female "`` -> ``"female"``), missing where the
        value is blank or not a declared level; string dtype, same index.
    undeclared : pandas.Series
        True where a non-blank value matches no declared level.
    """
    text = values.astype("string").str.strip()
    filled = text.notna() & (text != "")
    by_folded = {level.strip().casefold(): level for level in levels}
    labels = text.str.casefold().map(by_folded).astype("string")
    labels = labels.where(filled, pd.NA)
    undeclared = (filled & labels.isna()).astype(bool)
    return labels, undeclared


def roster_covariates(roster: pd.DataFrame,
                      config: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """The roster with its covariates checked, and the rejected.csv rows of their problems.

    Numeric covariates are numbers: a stray text value is set missing and reported; a
    covariate that is mostly text stops the run unless its levels are declared
    (``analysis.covariate_levels``): a categorical covariate keeps only declared labels.

    Raises
    ------
    InputError
        Naming the covariate and how many values are not numbers (never the values).
    """
    rows = []
    roster = roster.copy()
    for cov in config.analysis.covariates:
        if cov in config.analysis.covariate_levels:
            labels, undeclared = match_levels(roster[cov], config.analysis.covariate_levels[cov])
            rows += [{"source": config.roster.path, "row": roster.at[idx, "row"],
                      "column": cov, "reason": UNDECLARED_LEVEL, "action": ITEM_MISSING,
                      "value": "", "_index": idx, "_row_level": False}
                     for idx in roster.index[undeclared]]  # fmt: skip
            roster[cov] = labels
            continue
        # Each distinct value tested once (a roster of a million repeats a few ages).
        codes, uniques = pd.factorize(roster[cov], use_na_sentinel=True)
        text = pd.Series(uniques, dtype=object).astype("string").str.strip()
        filled_once = (text.notna() & (text != "")).to_numpy(dtype=bool)
        numbers = pd.to_numeric(text.where(filled_once), errors="coerce")
        stray_once = filled_once & numbers.isna().to_numpy(dtype=bool)
        # A missing cell (code -1) takes the last entry: a False appended.
        filled = pd.Series(np.append(filled_once, False)[codes], index=roster.index)
        stray = pd.Series(np.append(stray_once, False)[codes], index=roster.index)
        if not stray.any():
            continue
        if stray.sum() * 2 > filled.sum():
            raise InputError(
                f"{config.roster.path}: covariate '{cov}' holds text ({int(stray.sum())} of "
                f"{int(filled.sum())} values are not numbers) but has no declared levels. "
                f"Declare them under analysis.covariate_levels (e.g. {cov}: [level1, level2], "
                "the first is the reference), recode it as numbers, or remove it from "
                "analysis.covariates."
            )
        for idx in roster.index[stray]:
            rows.append({"source": config.roster.path, "row": roster.at[idx, "row"],
                         "column": cov, "reason": "covariate is not a number",
                         "action": ITEM_MISSING,
                         "value": shown_value(roster.at[idx, cov]),
                         "_index": idx, "_row_level": False})  # fmt: skip
        roster.loc[stray, cov] = pd.NA
    return roster, pd.DataFrame(rows, columns=[*REJECTED_COLUMNS, "_index", "_row_level"])
