"""Estimated marginal means per group × timepoint, as R's emmeans computes them for the LMM."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from balint_analysis.distributions import t_ppf, t_sf
from balint_analysis.models.lmm import FittedLMM

__all__ = ["EMMEANS_COLUMNS", "estimated_marginal_means", "t_interval"]

EMMEANS_COLUMNS = ["group", "timepoint", "mean", "se", "ci_low", "ci_high", "n", "df"]


def t_interval(
    estimate: np.ndarray, se: np.ndarray, df: np.ndarray, alpha: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-sided t confidence limits and p-value (H0: 0) with the given df.

    Parameters
    ----------
    estimate, se, df : array_like
        Estimates, standard errors and (Satterthwaite) degrees of freedom; ``df = inf`` gives
        the normal distribution.
    alpha : float
        1 - confidence level.

    Returns
    -------
    ci_low, ci_high, p_value : numpy.ndarray
    """
    estimate, se, df = (np.asarray(v, dtype=float) for v in (estimate, se, df))
    q = t_ppf(1 - alpha / 2, df)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * t_sf(np.abs(estimate / se), df)
    return estimate - q * se, estimate + q * se, p


def estimated_marginal_means(
    fit: FittedLMM, *, groups: Sequence[str], timepoints: Sequence[str], alpha: float = 0.05
) -> pd.DataFrame:
    """Estimated marginal means of the primary model with Satterthwaite-df confidence limits.

    Parameters
    ----------
    fit : FittedLMM
        The fitted model.
    groups : sequence of str
        Groups to report (the intervention only for a single-arm design), in output order.
    timepoints : sequence of str
        All design timepoints in order; a timepoint without data gives a NaN row (n = 0).
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        ``group, timepoint, mean, se, ci_low, ci_high, n, df``: the model's prediction for each
        cell with the covariates at their means over the analysed observations: numeric
        covariates (a 0/1 one too) at their mean, and the dummy columns of a categorical
        covariate at their means, i.e. its levels averaged in their observed proportions,
        ``n`` = participants
        observed in that cell and analysed, ``df`` = Satterthwaite df of the mean. A cell the
        data cannot estimate (e.g. no observations in it) is NaN.

    Notes
    -----
    Checked against emmeans 1.8.4 ``emmeans(m, ~ group * timepoint, lmer.df = "satterthwaite",
    weights = "proportional", cov.reduce = mean, cov.keep = character(0))`` on lmerTest fits
    (``tests/reference``): means, SEs and df agree to better than 1e-3 relative (means and SEs
    to ~1e-6).
    """
    data = fit.data
    frame = data.frame
    cov_means = [float(frame[c].mean()) for c in data.covariates]
    cells, L = [], []
    for g in groups:
        for t in timepoints:
            cells.append((g, t))
            if t in data.levels:
                L.append(data.row(g, t, cov_means))
            else:
                L.append(np.full(len(data.terms), np.nan))
    L = np.asarray(L)
    est = np.full(len(cells), np.nan)
    se, df = est.copy(), est.copy()
    ok = ~np.isnan(L).any(axis=1)
    if ok.any():
        est[ok], se[ok], df[ok] = fit.contrast(L[ok])
    lo, hi, _ = t_interval(est, se, df, alpha)
    counts = frame.groupby(["group", "timepoint"])["participant"].nunique()
    if data.control is None:
        counts = frame.groupby("timepoint")["participant"].nunique()
    n = [int(counts.get((g, t) if data.control is not None else t, 0)) for g, t in cells]
    return pd.DataFrame(
        {
            "group": [g for g, _ in cells],
            "timepoint": [t for _, t in cells],
            "mean": est,
            "se": se,
            "ci_low": lo,
            "ci_high": hi,
            "n": n,
            "df": df,
        }
    )
