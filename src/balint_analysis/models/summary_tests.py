"""Two-sample t tests from published summary statistics (means, SDs, sizes), pingouin style.

Used to check the pipeline's conventions against published trial numbers (docs/references.md):
Cheng et al. 2019 (post-test scores) and Lemogne et al. 2020 (change scores) reproduce as
pooled-variance Student t tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from balint_analysis.distributions import t_ppf, t_sf

__all__ = ["ttest_from_summary"]


def ttest_from_summary(
    mean1, sd1, n1, mean2, sd2, n2, *, correction: bool = False, confidence: float = 0.95
) -> pd.DataFrame:
    """Independent two-sample t test from summary statistics.

    Parameters
    ----------
    mean1, sd1, n1, mean2, sd2, n2 : float or array_like
        Mean, SD and size of group 1 and group 2 (vectorised). For a change-score analysis
        pass the means and SDs of the change.
    correction : bool
        False: Student's pooled-variance t (df = n1 + n2 - 2). True: Welch's t with
        Welch–Satterthwaite df (pingouin's ``correction=True``).
    confidence : float
        Confidence level of the interval for ``mean1 - mean2``.

    Returns
    -------
    pandas.DataFrame
        One row per input: ``T, dof, p_val, diff, se, ci_low, ci_high`` (pingouin 0.7 names
        ``T``, ``dof``, ``p_val``; the CI split into two columns). Two-sided p.

    Notes
    -----
    Pooled: ``s_p^2 = ((n1-1) s1^2 + (n2-1) s2^2) / (n1+n2-2)``, ``se = s_p sqrt(1/n1 + 1/n2)``.
    Welch: ``se = sqrt(s1^2/n1 + s2^2/n2)``. Checked against scipy
    ``ttest_ind_from_stats`` and the published values: Cheng 2019 post-test MBI t = 1.993,
    5.355, 3.311 (n 70 vs 140), Lemogne 2020 change-score t = 2.087 (paper 2.086; Welch
    2.063), tests/test_models_published.py.

    Examples
    --------
    >>> ttest_from_summary(22.6, 8.7, 140, 20.1, 8.3, 70).round(3)[["T", "dof", "p_val"]]
           T    dof  p_val
    0  1.993  208.0  0.048
    """
    m1, s1, k1, m2, s2, k2 = (np.asarray(v, dtype=float) for v in (mean1, sd1, n1, mean2, sd2, n2))
    if np.any(k1 < 2) or np.any(k2 < 2):
        raise ValueError("each group needs at least 2 observations")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    v1, v2 = s1**2 / k1, s2**2 / k2
    if correction:
        se = np.sqrt(v1 + v2)
        dof = (v1 + v2) ** 2 / (v1**2 / (k1 - 1) + v2**2 / (k2 - 1))
    else:
        dof = k1 + k2 - 2
        sp2 = ((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / dof
        se = np.sqrt(sp2 * (1 / k1 + 1 / k2))
    diff = m1 - m2
    t = diff / se
    q = t_ppf(0.5 + confidence / 2, dof)
    return pd.DataFrame({
        "T": np.atleast_1d(t), "dof": np.atleast_1d(dof).astype(float),
        "p_val": np.atleast_1d(2 * t_sf(np.abs(t), dof)), "diff": np.atleast_1d(diff),
        "se": np.atleast_1d(se), "ci_low": np.atleast_1d(diff - q * se),
        "ci_high": np.atleast_1d(diff + q * se),
    })
