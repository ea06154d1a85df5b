"""Ordinary least squares with coefficient tests, pingouin style (DataFrame in, DataFrame out).

Replaces ``pingouin.linear_regression`` in the ANCOVA and dose analyses: importing pingouin
(which imports seaborn and matplotlib) cost the model stage ~1.5 s of its start-up for two
small regressions. Checked against pingouin and R ``lm`` (tests/test_models_sensitivity.py,
``tests/reference``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from balint_analysis.distributions import t_ppf, t_sf

__all__ = ["linear_regression"]


def linear_regression(
    predictors: Mapping[str, np.ndarray] | pd.DataFrame,
    y: np.ndarray,
    *,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """OLS of ``y`` on an intercept and ``predictors``, with t tests of each coefficient.

    Parameters
    ----------
    predictors : mapping or pandas.DataFrame
        Named numeric columns (no missing values), entered after the intercept.
    y : numpy.ndarray
        Response.
    alpha : float
        1 - confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        One row per kept term: ``names, coef, se, T, pval, ci_low, ci_high, df_resid``.
        ``Intercept`` first. A column that adds nothing to the rank of the design (constant
        or collinear with earlier columns) is left out, as R's ``lm`` reports it ``NA``.
        Empty when the residual df is not positive.
    """
    y = np.asarray(y, dtype=float)
    names = ["Intercept", *predictors.keys()]
    columns = [np.ones(y.size), *(np.asarray(predictors[k], dtype=float) for k in names[1:])]
    kept_names, kept = [], []
    for name, col in zip(names, columns, strict=True):
        trial = np.column_stack([*kept, col])
        if np.linalg.matrix_rank(trial) == trial.shape[1]:
            kept_names.append(name)
            kept.append(col)
    X = np.column_stack(kept)
    n, p = X.shape
    columns_out = ["names", "coef", "se", "T", "pval", "ci_low", "ci_high", "df_resid"]
    if n - p <= 0:
        return pd.DataFrame(columns=columns_out)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ coef
    df = float(n - p)
    sigma2 = float(resid @ resid) / df
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ X)) * sigma2)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = coef / se
    q = t_ppf(1 - alpha / 2, df)
    return pd.DataFrame({
        "names": kept_names, "coef": coef, "se": se, "T": t, "pval": 2 * t_sf(np.abs(t), df),
        "ci_low": coef - q * se, "ci_high": coef + q * se, "df_resid": df,
    })  # fmt: skip
