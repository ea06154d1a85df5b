"""Two-stage random-effects meta-analysis of per-cohort effects.

Methods (a paragraph the programme report and docs can reuse)
--------------------------------------------------------------
Each cohort contributes one effect estimate ``y_i`` (e.g. the difference in change between the
Balint and the comparison arm) with its sampling variance ``v_i`` (its squared standard error). The
cohorts are combined with a random-effects model, ``y_i = mu + u_i + e_i`` with ``u_i ~ N(0,
tau^2)`` (true effects differ between sites) and ``e_i ~ N(0, v_i)``. The between-cohort variance
``tau^2`` is estimated by restricted maximum likelihood (REML; Fisher scoring started from the
Hedges moment estimate, stopped when a step changes ``tau^2`` by at most 1e-5, never below 0;
should full steps oscillate, they are halved, metafor's documented remedy). The pooled effect
``mu`` is the inverse-variance weighted mean with weights ``w_i = 1 / (v_i + tau^2)``. Its
confidence interval uses the Hartung-Knapp-Sidik-Jonkman method: the variance ``1 / sum(w_i)`` is
multiplied by ``s^2 = sum(w_i (y_i - mu)^2) / (k - 1)`` and the interval uses a t distribution with
``k - 1`` degrees of freedom; ``s^2`` is not floored at 1 (so the interval can be narrower than the
usual one when the cohorts agree more than their standard errors suggest). The 95% prediction
interval, the range in which the effect of a new, similar site is expected to lie, is ``mu +/-
t_{k-1} * sqrt(SE^2 + tau^2)``. Heterogeneity is also given as Cochran's Q (its chi-squared test on
``k - 1`` df), ``I^2 = 100 tau^2 / (tau^2 + s~^2)`` and ``H^2 = tau^2 / s~^2 + 1``, where ``s~^2 =
(k - 1) sum(1/v_i) / ((sum 1/v_i)^2 - sum(1/v_i^2))`` is the "typical" within-cohort variance. A
leave-one-out table refits the model without each cohort in turn. These are the definitions of R's
metafor package (``rma(yi, vi, method = "REML", test = "knha")`` and ``predict()``; Viechtbauer
2010), which the test suite reproduces to 1e-6.

With one cohort there is nothing to pool. With two, the numbers are computed but the t
distribution has one degree of freedom: the interval is very wide and ``tau^2`` cannot be
estimated with any reliability, which the ``reason`` column says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "META_COLUMNS",
    "METHOD",
    "leave_one_out",
    "meta_analyse",
    "random_effects_meta",
    "reml_tau2",
]

META_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "tau2", "tau", "i2", "h2",
                "q", "q_p", "pi_low", "pi_high", "k", "method", "reason"]  # fmt: skip
#: The ``method`` column's value: REML tau^2, Hartung-Knapp-Sidik-Jonkman CI, t-based PI.
METHOD = "REML + Hartung-Knapp (t, k-1 df)"

_THRESHOLD = 1e-5  # metafor's default convergence threshold on the change in tau^2
_MAX_ITER = 100  # metafor's default
_LL_TOL = np.finfo(float).eps ** 0.25  # metafor's tolerance for its tau^2 = 0 likelihood check

REASON_NONE = "no cohort has an estimable effect here, so there is nothing to pool"
REASON_ONE = (
    "only one cohort has an estimable effect: its own result is the answer; "
    "nothing can be pooled and the variation between sites cannot be estimated"
)
REASON_TWO = (
    "only two cohorts: the pooled estimate is shown, but with 1 degree of freedom its "
    "confidence interval is very wide, and the variation between sites (tau, I2, "
    "prediction interval) cannot be estimated reliably"
)
REASON_NOT_CONVERGED = "the REML estimate of the between-cohort variance did not converge"


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """REML log-likelihood of the intercept-only random-effects model (up to metafor's constant)."""
    w = 1.0 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    rss = np.sum(w * (y - mu) ** 2)
    return float(-0.5 * (len(y) - 1) * math.log(2 * math.pi) - 0.5 * np.sum(np.log(v + tau2))
                 - 0.5 * math.log(np.sum(w)) - 0.5 * rss)  # fmt: skip


def reml_tau2(yi: ArrayLike, vi: ArrayLike, *, step_adjustment: float = 1.0,
              max_iter: int = _MAX_ITER) -> tuple[float, bool]:  # fmt: skip
    """REML estimate of the between-cohort variance, as metafor computes it.

    Parameters
    ----------
    yi, vi : array-like
        Effect estimates and their sampling variances (all finite, ``vi > 0``, at least 2).
    step_adjustment : float
        Factor applied to every Fisher-scoring step (metafor's ``control$stepadj``).
    max_iter : int
        Iterations before giving up (metafor's ``control$maxiter``).

    Returns
    -------
    tuple of (float, bool)
        ``tau^2`` (>= 0) and whether Fisher scoring converged within ``max_iter`` iterations.

    Notes
    -----
    Fisher scoring ``tau2 += (y'PPy - tr P) / tr(PP)`` with ``P = W - w w' / sum(w)`` (the
    intercept-only form), started at the Hedges estimate truncated at 0; a step that would make
    ``tau^2`` negative is halved until it does not. After convergence the fit is compared with
    ``tau^2 = 0``: if that has the higher likelihood, ``tau^2 = 0`` (metafor's ``ll0check``).
    """
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    k = len(y)
    # Hedges (HE) start: (sum of squared deviations - (k-1)/k sum(v)) / (k - 1).
    tau2 = max(0.0, (np.sum((y - y.mean()) ** 2) - (k - 1) / k * np.sum(v)) / (k - 1))
    change, iteration, converged = math.inf, 0, True
    while change > _THRESHOLD:
        iteration += 1
        old = tau2
        w = 1.0 / (v + tau2)
        sw, sw2, sw3 = np.sum(w), np.sum(w**2), np.sum(w**3)
        py = w * (y - np.sum(w * y) / sw)  # P y
        tr_p = sw - sw2 / sw
        tr_pp = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
        step = (np.sum(py**2) - tr_p) / tr_pp * step_adjustment
        if not math.isfinite(step):
            step = 0.0
        while tau2 + step < 0:  # step halving keeps tau^2 >= 0
            step /= 2
        tau2 = tau2 + step
        change = abs(old - tau2)
        if iteration > max_iter:
            converged = False
            break
    # metafor's ll0check: if tau^2 = 0 fits better, the iteration stopped at a local maximum.
    better_at_zero = _reml_loglik(y, v, 0.0) - _reml_loglik(y, v, tau2) > _LL_TOL
    if converged and tau2 > _THRESHOLD and better_at_zero:
        tau2 = 0.0
    return max(0.0, float(tau2)), converged


def _empty(k: int, reason: str) -> dict[str, Any]:
    row: dict[str, Any] = {c: math.nan for c in META_COLUMNS}
    row.update(k=k, method=METHOD, reason=reason)
    return row


def random_effects_meta(yi: ArrayLike, vi: ArrayLike, *, alpha: float = 0.05) -> dict[str, Any]:
    """Random-effects meta-analysis: REML tau^2, Hartung-Knapp CI, prediction interval.

    Equals R ``metafor::rma(yi, vi, method = "REML", test = "knha")`` with ``predict()`` for the
    prediction interval (metafor 3.8).

    Parameters
    ----------
    yi : array-like
        Per-cohort effect estimates. Pairs with a non-finite ``yi`` or ``vi``, or ``vi <= 0``,
        are left out (they are not estimable).
    vi : array-like
        Their sampling variances (squared standard errors).
    alpha : float
        1 - confidence level of the CI and the prediction interval.

    Returns
    -------
    dict
        Keys :data:`META_COLUMNS`: ``estimate``, ``se`` (Hartung-Knapp), ``ci_low``/``ci_high``,
        ``p_value`` (t test of estimate = 0), ``df`` (k - 1), ``tau2``, ``tau``, ``i2``
        (percent), ``h2``, ``q``/``q_p`` (Cochran's Q and its p-value), ``pi_low``/``pi_high``
        (prediction interval for a new cohort), ``k`` (cohorts used), ``method`` and ``reason``
        (empty when nothing needs saying; with k < 2 every number is NaN and ``reason`` says
        why; with k = 2 the numbers are given and ``reason`` gives the caveat).
    """
    y, v = np.asarray(yi, dtype=float).ravel(), np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape:
        raise ValueError("yi and vi must have the same length")
    usable = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[usable], v[usable]
    k = len(y)
    if k == 0:
        return _empty(0, REASON_NONE)
    if k == 1:
        return _empty(1, REASON_ONE)
    tau2, converged = reml_tau2(y, v)
    if not converged:  # full steps can oscillate; metafor's remedy is halved steps
        tau2, converged = reml_tau2(y, v, step_adjustment=0.5, max_iter=10 * _MAX_ITER)
    if not converged:
        return _empty(k, REASON_NOT_CONVERGED)
    w = 1.0 / (v + tau2)
    estimate = float(np.sum(w * y) / np.sum(w))
    rss = float(np.sum(w * (y - estimate) ** 2))
    s2w = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)  # not floored at 1 (knha)
    se = math.sqrt(s2w / np.sum(w))
    df = k - 1
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    with np.errstate(divide="ignore", invalid="ignore"):  # se = 0: p = 0 (or NaN at 0), as metafor
        p_value = float(2 * stats.t.sf(abs(np.float64(estimate) / se), df))
    # Heterogeneity: Cochran's Q from fixed-effect weights; I2/H2 from the typical variance.
    w0 = 1.0 / v
    mu0 = np.sum(w0 * y) / np.sum(w0)
    q = max(0.0, float(np.sum(w0 * (y - mu0) ** 2)))
    typical = (k - 1) / (np.sum(w0) - np.sum(w0**2) / np.sum(w0))
    half_pi = crit * math.sqrt(se**2 + tau2)
    return {
        "estimate": estimate,
        "se": se,
        "ci_low": estimate - crit * se,
        "ci_high": estimate + crit * se,
        "p_value": p_value,
        "df": float(df),
        "tau2": tau2,
        "tau": math.sqrt(tau2),
        "i2": float(100 * tau2 / (typical + tau2)),
        "h2": float(tau2 / typical + 1),
        "q": q,
        "q_p": float(stats.chi2.sf(q, df)),
        "pi_low": estimate - half_pi,
        "pi_high": estimate + half_pi,
        "k": k,
        "method": METHOD,
        "reason": REASON_TWO if k == 2 else "",
    }


def _groups(effects: pd.DataFrame, by: Sequence[str]):
    if not by:
        yield (), effects
        return
    for key, group in effects.groupby(list(by), sort=True, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), group


def meta_analyse(effects: pd.DataFrame, *, by: Sequence[str], yi: str = "yi", vi: str = "vi",
                 label: str = "cohort", alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """One random-effects meta-analysis per group of cohort effects.

    Parameters
    ----------
    effects : pandas.DataFrame
        One row per cohort (``label``) and group, with columns ``by``, ``yi`` and ``vi``.
    by : sequence of str
        Columns defining one analysis each (e.g. instrument, scale, timepoint, measure); may be
        empty (one analysis of all rows).
    yi, vi : str
        Columns with the effect estimates and their sampling variances.
    label : str
        Column naming the cohort; rows are sorted by it so results do not depend on row order.
    alpha : float
        1 - confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns then :data:`META_COLUMNS`
        (see :func:`random_effects_meta`).
    """
    rows = []
    for key, group in _groups(effects, by):
        group = group.sort_values(label, kind="stable") if label in group else group
        row = dict(zip(by, key, strict=True))
        row.update(random_effects_meta(group[yi].to_numpy(float), group[vi].to_numpy(float),
                                       alpha=alpha))  # fmt: skip
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, *META_COLUMNS]).astype({"k": int})


def leave_one_out(effects: pd.DataFrame, *, by: Sequence[str], yi: str = "yi", vi: str = "vi",
                  label: str = "cohort", alpha: float = 0.05) -> pd.DataFrame:  # fmt: skip
    """The meta-analysis refitted without each cohort in turn (as ``metafor::leave1out``).

    Parameters
    ----------
    effects, by, yi, vi, label, alpha
        As for :func:`meta_analyse`.

    Returns
    -------
    pandas.DataFrame
        One row per group and omitted cohort (cohorts in ``label`` order): the ``by`` columns,
        ``omitted`` (the ``label`` value left out), then :data:`META_COLUMNS`. A cohort whose
        effect is not estimable still has its row (leaving it out changes nothing).
    """
    rows = []
    for key, group in _groups(effects, by):
        group = group.sort_values(label, kind="stable")
        y, v = group[yi].to_numpy(float), group[vi].to_numpy(float)
        names = group[label].tolist()
        for i, name in enumerate(names):
            keep = np.arange(len(names)) != i
            row = dict(zip(by, key, strict=True))
            row["omitted"] = name
            row.update(random_effects_meta(y[keep], v[keep], alpha=alpha))
            rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "omitted", *META_COLUMNS]).astype({"k": int})
