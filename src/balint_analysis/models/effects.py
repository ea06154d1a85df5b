"""Standardised effect sizes and multiplicity: one function per procedure, pingouin style.

* :func:`hedges_g`: two independent groups (post-only comparison).
* :func:`morris_dppc2`: Morris (2008) pretest-pooled pre–post–control effect size from summary
  statistics; :func:`dppc2_from_scores` computes those statistics from paired scores.
* :func:`standardized_change` / :func:`change_d_from_scores`: the one-group analogue (single-arm
  designs; not a comparison with a control group).
* :func:`model_standardized_effect`: the primary model's estimate and CI divided by the pooled
  baseline SD (Feingold 2009): the standardised effect shown beside the primary result;
  :func:`pooled_baseline_sd` is its denominator.
* :func:`benjamini_hochberg`: false-discovery-rate adjusted p-values.

Formulas and their sources: ``docs/references.md``, "Standardised effects" and "Multiplicity".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from balint_analysis.distributions import norm_ppf

__all__ = [
    "benjamini_hochberg",
    "change_d_from_scores",
    "dppc2_from_scores",
    "hedges_g",
    "model_standardized_effect",
    "morris_dppc2",
    "pooled_baseline_sd",
    "pooled_prepost_correlation",
    "standardized_change",
]


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return float(norm_ppf(0.5 + confidence / 2.0))


def _frame(columns: dict) -> pd.DataFrame:
    return pd.DataFrame({k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in columns.items()})


def hedges_g(
    mean1, sd1, n1, mean2, sd2, n2, *, correction: str = "exact", confidence: float = 0.95
) -> pd.DataFrame:
    """Hedges' g for two independent groups from summary statistics.

    Parameters
    ----------
    mean1, sd1, n1, mean2, sd2, n2 : float or array_like
        Means, standard deviations and sizes of group 1 and group 2 (vectorised).
    correction : {"exact", "approx"}
        Small-sample factor ``J(df) = Γ(df/2) / (sqrt(df/2) Γ((df-1)/2))`` or its approximation
        ``1 - 3 / (4 df - 1)``, ``df = n1 + n2 - 2``.
    confidence : float
        Confidence level of the normal-theory interval.

    Returns
    -------
    pandas.DataFrame
        One row per input: ``d, J, g, variance, se, ci_low, ci_high`` where
        ``d = (mean1 - mean2) / S_pooled``, ``g = J d``,
        ``variance = J² ((n1 + n2)/(n1 n2) + d² / (2 (n1 + n2)))``.

    Notes
    -----
    Checked against Cheng et al. (2019), docs/references.md "Published numbers" (emotional
    exhaustion 20.1/8.3, n 70 vs 22.6/8.7, n 140): d = -0.292, J = 0.99639, g = -0.291,
    95% CI -0.578 to -0.003.

    Examples
    --------
    >>> hedges_g(20.1, 8.3, 70, 22.6, 8.7, 140).round(3)[["g", "ci_low", "ci_high"]]
           g  ci_low  ci_high
    0 -0.291  -0.578   -0.003
    """
    m1, s1, k1, m2, s2, k2 = (np.asarray(v, dtype=float) for v in (mean1, sd1, n1, mean2, sd2, n2))
    df = k1 + k2 - 2
    if np.any(df <= 1):
        raise ValueError("hedges_g needs n1 + n2 > 3")
    sp = np.sqrt(((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / df)
    d = (m1 - m2) / sp
    if correction == "exact":
        J = np.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / np.sqrt(df / 2)
    elif correction == "approx":
        J = 1 - 3 / (4 * df - 1)
    else:
        raise ValueError(f"correction must be 'exact' or 'approx', got {correction!r}")
    g = J * d
    var = J**2 * ((k1 + k2) / (k1 * k2) + d**2 / (2 * (k1 + k2)))
    se = np.sqrt(var)
    z = _z(confidence)
    return _frame(
        {"d": d, "J": J, "g": g, "variance": var, "se": se, "ci_low": g - z * se,
         "ci_high": g + z * se}
    )


def morris_dppc2(
    mean_pre_t,
    mean_post_t,
    sd_pre_t,
    n_t,
    mean_pre_c,
    mean_post_c,
    sd_pre_c,
    n_c,
    rho,
    *,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Morris (2008) ``d_ppc2``: difference in mean change standardised by the pooled pre SD.

    Parameters
    ----------
    mean_pre_t, mean_post_t, sd_pre_t, n_t : float or array_like
        Treatment (intervention) group: pre and post means, pre SD, size.
    mean_pre_c, mean_post_c, sd_pre_c, n_c : float or array_like
        Control group, likewise.
    rho : float or array_like
        Pre–post correlation (used only for the sampling variance).
    confidence : float
        Confidence level of the normal-theory interval.

    Returns
    -------
    pandas.DataFrame
        One row per input: ``d_ppc2, variance, se, ci_low, ci_high, c_p, sd_pre, n_t, n_c, rho``.
        ``variance`` (and the CI) is NaN when ``n_t + n_c <= 4``.

    Notes
    -----
    ``d_ppc2 = c_p [(M_post,T - M_pre,T) - (M_post,C - M_pre,C)] / SD_pre`` with
    ``SD_pre = sqrt(((n_T - 1) SD²_pre,T + (n_C - 1) SD²_pre,C) / (n_T + n_C - 2))`` and
    ``c_p = 1 - 3 / (4 (n_T + n_C - 2) - 1)``. Sampling variance (Morris 2008, eq. 25, with the
    estimate in place of δ)::

        2 c_p² (1 - ρ) (n_T + n_C)/(n_T n_C) (n_T + n_C - 2)/(n_T + n_C - 4)
            × [1 + d² / (2 (1 - ρ) (n_T + n_C)/(n_T n_C))] - d²

    Checked against Morris's five-study example (metafor ``datT``/``datC``; docs/references.md):
    d_ppc2 = 0.7685, 0.8010, 1.2047, 1.0477, 0.4390 and variances 0.1158, 0.0354, 0.1591,
    0.0762, 0.1675.

    Examples
    --------
    >>> morris_dppc2(30.6, 38.5, 15.0, 20, 23.1, 19.7, 13.8, 20, 0.47).round(4)["d_ppc2"].item()
    0.7685
    """
    mt0, mt1, st, nt, mc0, mc1, sc, nc, r = (
        np.asarray(v, dtype=float)
        for v in (mean_pre_t, mean_post_t, sd_pre_t, n_t, mean_pre_c, mean_post_c, sd_pre_c,
                  n_c, rho)
    )
    big_n = nt + nc
    if np.any(big_n <= 2):
        raise ValueError("morris_dppc2 needs n_t + n_c > 2")
    sd_pre = np.sqrt(((nt - 1) * st**2 + (nc - 1) * sc**2) / (big_n - 2))
    c_p = 1 - 3 / (4 * (big_n - 2) - 1)
    d = c_p * ((mt1 - mt0) - (mc1 - mc0)) / sd_pre
    k = big_n / (nt * nc)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (2 * c_p**2 * (1 - r) * k * (big_n - 2) / (big_n - 4)
               * (1 + d**2 / (2 * (1 - r) * k)) - d**2)
    var = np.where((big_n > 4) & (var > 0), var, np.nan)
    se = np.sqrt(var)
    z = _z(confidence)
    return _frame(
        {"d_ppc2": d, "variance": var, "se": se, "ci_low": d - z * se, "ci_high": d + z * se,
         "c_p": c_p, "sd_pre": sd_pre, "n_t": nt, "n_c": nc, "rho": r}
    )


def standardized_change(
    mean_pre, mean_post, sd_pre, n, rho, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Within-group standardised mean change ``d = c (M_post - M_pre) / SD_pre`` (one group).

    Parameters
    ----------
    mean_pre, mean_post, sd_pre, n, rho : float or array_like
        Pre and post means, pre SD, number of participants observed at both, pre–post
        correlation.
    confidence : float
        Confidence level of the normal-theory interval.

    Returns
    -------
    pandas.DataFrame
        ``d, variance, se, ci_low, ci_high, c, n, rho``; variance NaN when ``n <= 3``.

    Notes
    -----
    Becker (1988) / Morris & DeShon (2002) standardised mean change in the raw-score metric,
    ``c = 1 - 3 / (4 (n - 1) - 1)``, sampling variance
    ``2 c² (1 - ρ)/n (n - 1)/(n - 3) [1 + n d² / (2 (1 - ρ))] - d²`` (the one-group analogue of
    Morris 2008 eq. 25 used in :func:`morris_dppc2`). This is a within-group change, not an
    effect relative to a comparison group. Checked against a direct evaluation of these
    formulas only (tests); no published test vector was available.
    """
    m0, m1, s, k, r = (np.asarray(v, dtype=float) for v in (mean_pre, mean_post, sd_pre, n, rho))
    if np.any(k <= 2):
        raise ValueError("standardized_change needs n > 2")
    c = 1 - 3 / (4 * (k - 1) - 1)
    d = c * (m1 - m0) / s
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 2 * c**2 * (1 - r) / k * (k - 1) / (k - 3) * (1 + k * d**2 / (2 * (1 - r))) - d**2
    var = np.where((k > 3) & (var > 0), var, np.nan)
    se = np.sqrt(var)
    z = _z(confidence)
    return _frame({"d": d, "variance": var, "se": se, "ci_low": d - z * se,
                   "ci_high": d + z * se, "c": c, "n": k, "rho": r})


def pooled_baseline_sd(baseline_scores_by_arm: list) -> float:
    """Standard deviation of the baseline scores pooled within arms.

    ``SD_pre = sqrt(((n_1 - 1) s_1² + (n_2 - 1) s_2²) / (n_1 + n_2 - 2))`` (any number of arms;
    one arm: the ordinary SD): the pooling of :func:`morris_dppc2`'s ``SD_pre``.

    Parameters
    ----------
    baseline_scores_by_arm : list of array_like
        Each arm's baseline scores (NaN entries are ignored).

    Returns
    -------
    float
        NaN when no arm has two scores, or when the pooled SD is 0.

    Examples
    --------
    >>> round(pooled_baseline_sd([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]]), 4)
    2.0976
    """
    squares = dof = 0.0
    for scores in baseline_scores_by_arm:
        x = np.asarray(scores, dtype=float)
        x = x[~np.isnan(x)]
        if x.size >= 2:
            squares += float(((x - x.mean()) ** 2).sum())
            dof += x.size - 1
    sd = float(np.sqrt(squares / dof)) if dof > 0 else float("nan")
    return sd if sd > 0 else float("nan")


def model_standardized_effect(estimate, ci_low, ci_high, sd_baseline) -> pd.DataFrame:
    """The model's estimate and confidence interval in baseline-SD units (Feingold 2009).

    ``d_model = estimate / SD_pre`` and ``[ci_low / SD_pre, ci_high / SD_pre]``: the growth-model
    effect size of Feingold (2009), the model-estimated difference in change divided by the
    pooled baseline SD (:func:`pooled_baseline_sd`), which is treated as known. Dividing by one
    positive number keeps the interval's sign, so the standardised interval excludes zero
    exactly when the model's interval does: the two never disagree.

    Parameters
    ----------
    estimate, ci_low, ci_high : float or array_like
        The primary model's effect (difference in change, or the single-arm change) and its
        confidence limits, in points.
    sd_baseline : float or array_like
        Pooled baseline SD in points; not positive or NaN gives NaN.

    Returns
    -------
    pandas.DataFrame
        One row per input: ``d_model, d_model_ci_low, d_model_ci_high``.

    Notes
    -----
    No small-sample correction, so ``d_model`` and the effect in points tell the same story.
    With complete data and no covariates, ``d_model = d_ppc2 / c_p`` (:func:`morris_dppc2`).

    Examples
    --------
    >>> model_standardized_effect(-4.4, -9.2, 0.4, 8.0).round(3)
       d_model  d_model_ci_low  d_model_ci_high
    0    -0.55           -1.15             0.05
    """
    est, lo, hi, sd = (np.asarray(v, float) for v in (estimate, ci_low, ci_high, sd_baseline))
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sd > 0, 1.0 / sd, np.nan)
    return _frame({"d_model": est * scale, "d_model_ci_low": lo * scale,
                   "d_model_ci_high": hi * scale})


def pooled_prepost_correlation(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Pre–post correlation pooled within groups.

    ``r = Σ (n_g - 1) cov_g / sqrt(Σ (n_g - 1) var_pre,g · Σ (n_g - 1) var_post,g)``: the
    correlation of the within-group deviations, every group centred on its own means.

    Parameters
    ----------
    pairs : list of (pre, post) arrays
        Paired scores of each group (participants observed at both times).

    Returns
    -------
    float
        NaN when there is no within-group variation.
    """
    sxy = sxx = syy = 0.0
    for pre, post in pairs:
        pre, post = np.asarray(pre, float), np.asarray(post, float)
        if pre.size < 2:
            continue
        a, b = pre - pre.mean(), post - post.mean()
        sxy, sxx, syy = sxy + a @ b, sxx + a @ a, syy + b @ b
    return float(sxy / np.sqrt(sxx * syy)) if sxx > 0 and syy > 0 else float("nan")


def dppc2_from_scores(
    pre_t, post_t, pre_c, post_c, *, confidence: float = 0.95
) -> pd.DataFrame:
    """:func:`morris_dppc2` from paired scores (participants observed at both times).

    Parameters
    ----------
    pre_t, post_t : array_like
        Intervention group's baseline and follow-up scores, paired by participant.
    pre_c, post_c : array_like
        Control group's, likewise.
    confidence : float
        Confidence level.

    Returns
    -------
    pandas.DataFrame
        One row as :func:`morris_dppc2`; ``rho`` is the pre–post correlation pooled within the
        two groups (:func:`pooled_prepost_correlation`). All NaN when a group has < 2 pairs.
    """
    arrays = [np.asarray(a, dtype=float) for a in (pre_t, post_t, pre_c, post_c)]
    if arrays[0].size != arrays[1].size or arrays[2].size != arrays[3].size:
        raise ValueError("pre and post scores must be paired (same length)")
    nt, nc = arrays[0].size, arrays[2].size
    if nt < 2 or nc < 2:
        return _nan_row(["d_ppc2", "variance", "se", "ci_low", "ci_high", "c_p", "sd_pre"],
                        n_t=nt, n_c=nc)
    rho = pooled_prepost_correlation([(arrays[0], arrays[1]), (arrays[2], arrays[3])])
    return morris_dppc2(
        arrays[0].mean(), arrays[1].mean(), arrays[0].std(ddof=1), nt,
        arrays[2].mean(), arrays[3].mean(), arrays[2].std(ddof=1), nc, rho,
        confidence=confidence,
    )


def change_d_from_scores(pre, post, *, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`standardized_change` from paired scores of one group (NaN row when n < 3)."""
    pre, post = np.asarray(pre, dtype=float), np.asarray(post, dtype=float)
    if pre.size != post.size:
        raise ValueError("pre and post scores must be paired (same length)")
    if pre.size < 3:
        return _nan_row(["d", "variance", "se", "ci_low", "ci_high", "c"], n=pre.size)
    rho = pooled_prepost_correlation([(pre, post)])
    return standardized_change(pre.mean(), post.mean(), pre.std(ddof=1), pre.size, rho,
                               confidence=confidence)


def _nan_row(columns: list[str], **counts: int) -> pd.DataFrame:
    row = dict.fromkeys(columns, np.nan) | {k: float(v) for k, v in counts.items()}
    row["rho"] = np.nan
    return _frame(row)


def benjamini_hochberg(p_values):
    """Benjamini–Hochberg (1995) false-discovery-rate adjusted p-values.

    Parameters
    ----------
    p_values : array_like or pandas.Series
        Raw p-values; NaN entries are left NaN and not counted in the number of tests.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values ``min(1, min_{j >= i} m p_(j) / j)`` in the input order (a Series
        keeps its index).

    Notes
    -----
    Checked against ``statsmodels.stats.multitest.multipletests(method="fdr_bh")``.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
    array([0.04      , 0.05333333, 0.05333333, 0.2       ])
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("p_values must be one-dimensional")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = np.full(p.shape, np.nan)
    m = int(ok.sum())
    if m:
        pv = p[ok]
        order = np.argsort(pv, kind="stable")
        scaled = pv[order] / (np.arange(1, m + 1) / m)  # statsmodels' order of operations
        adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
        res = np.empty(m)
        res[order] = adjusted
        out[ok] = res
    if isinstance(p_values, pd.Series):
        return pd.Series(out, index=p_values.index, name=p_values.name)
    return out
