"""Categorical covariates: roster values matched to the levels declared in the config.

``analysis.covariate_levels`` declares a categorical covariate's levels. A roster value is
matched to a level ignoring upper/lower case and surrounding spaces and replaced by the
declared label, so only declared labels ever reach the processed data; any other value is
missing (and reported without being echoed: it is text a person typed).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["UNDECLARED_LEVEL", "match_levels"]

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
