r"""Simulation-based power analysis for planning the next Balint cohort.

For each cell of a grid (participants per arm, Balint-group size, effect, ICC, attrition,
number of timepoints) replicates are generated and analysed with exactly the primary model of
the statistics stage (REML, partially nested Balint-group term, Satterthwaite df), fitted by
the Newton-REML engine (:mod:`balint_analysis.models.fit`) with the statsmodels reference
path as fallback. Power is the share of replicates with ``p < alpha`` for
the group × time effect at the last timepoint, with a Wilson Monte-Carlo CI; bias and 95% CI
coverage of the estimate are reported too.

**Data-generating model** (one scale, in standard-deviation units; the latent model of
:mod:`balint_analysis.simulate` without items)::

    y_it = θ_t·T_i·P_t + b_i + u_j(i)·T_i·P_t + e_it
    b_i ~ N(0, ρ),  e_it ~ N(0, 1 − ρ),  u_j ~ N(0, ICC / (1 − ICC))

``T_i`` Balint arm, ``P_t`` after baseline, ``ρ`` the pre–post correlation, ``j(i)`` the Balint
group (``ceil(n_per_arm / group_size)`` groups; controls unclustered), ``θ_t = d`` at every
post-baseline timepoint. Scores are oriented so that higher is better (the Balint effect is
``+d``); baseline scores have mean 0 and SD 1.

**Drop-out** (the ``attrition_mechanism`` axis). Drop-out is cumulative (missing one wave
implies missing the later ones); before each post-baseline wave ``t`` every participant still in
the study leaves with probability ``π_it``, and in every mechanism the mean of ``π_it`` over
those still in the study equals ``attrition``, so the axis changes *who* leaves, never how many:

* ``MCAR``: ``π_it = attrition`` — leaving is unrelated to anything.
* ``MAR``: ``logit π_it = α_t − log(mar_odds_ratio) · y_i0`` — participants with a worse
  (lower) *observed* baseline score leave more often: the odds of leaving are multiplied by
  ``mar_odds_ratio`` per baseline SD worse. ``α_t`` is calibrated in each replicate and wave
  (root of ``mean(π_it) = attrition`` over those still in the study). The primary model
  conditions on baseline, so its estimate stays unbiased; only information is lost.
* ``MNAR``: who leaves is drawn as under MCAR, but participants who leave the *Balint arm*
  would have scored ``mnar_delta`` baseline SDs worse at every wave after leaving than stayers
  with the same history (a pattern-mixture model: ``y_it − mnar_delta`` for those unobserved
  scores; equivalently, among people with the same history, those whose unobserved scores are
  worse are the ones who leave). The observed data look exactly as under MCAR — no analysis
  of them can detect this — but the effect in everyone allocated, the estimand, is
  ``d − mnar_delta · P(missing at the last wave)``, which the primary (MAR) analysis
  overstates by ``mnar_delta · (1 − (1 − attrition)^(timepoints − 1))``. This is the same
  δ-adjustment the tipping-point analysis of the report applies to the imputed scores.

``true_effect`` (per cell) is this estimand; bias and coverage are measured against it.

**Reproducibility.** Replicate ``r`` of cell ``c`` draws from
``numpy.random.SeedSequence([seed, c, r])``, so results do not depend on how replicates are
split into chunks, on the number of cores or on the executor (local or SLURM).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.distributions import norm_ppf
from balint_analysis.power import default_grid

__all__ = [
    "dropout_probability",
    "expand_grid",
    "grid_cells",
    "simulate_complete",
    "run_chunk",
    "simulate_replicate",
    "analyse_replicate",
    "summarise",
    "wilson_interval",
]

RESULT_COLUMNS = ["cell", "replicate", "estimate", "se", "df", "ci_low", "ci_high", "p_value",
                  "converged", "n_obs"]  # fmt: skip
# The drop-out mechanism axis comes last, so a grid with one mechanism numbers its cells (and
# seeds them) as before the axis existed.
GRID_KEYS = ("n_per_arm", "group_size", "effect_d", "icc", "attrition", "timepoints", "prepost_r",
             "attrition_mechanism")  # fmt: skip


def expand_grid(
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    panel: Mapping[str, Any] | None = None,
    mar_odds_ratio: float = 2.0,
    mnar_delta: float = 0.5,
) -> pd.DataFrame:
    """All combinations of the grid's values, one row per cell (``cell`` = 0, 1, …).

    Parameters
    ----------
    grid
        Grid values per key; missing keys take the schema defaults.
    panel
        The mechanism panel (``mechanisms``, ``n_per_arm``, ``effect_d``): its extra cells are
        appended after the grid's (``mechanism_panel`` is True on them).
    mar_odds_ratio, mnar_delta
        Strength of the MAR and MNAR mechanisms (set on the cells of that mechanism only).

    Returns
    -------
    pandas.DataFrame
        ``cell``, the grid keys, ``mar_odds_ratio``, ``mnar_delta``, ``true_effect`` (the
        estimand at the last timepoint) and ``mechanism_panel``.
    """
    from balint_analysis.power.settings import MECHANISMS, mechanism_panel_cells

    spec = {**default_grid(), **(grid or {})}
    unknown = set(spec) - set(GRID_KEYS)
    if unknown:
        raise ValueError(f"unknown power grid key(s): {sorted(unknown)}")
    bad = set(spec["attrition_mechanism"]) - set(MECHANISMS)
    if bad:
        raise ValueError(f"unknown attrition mechanism(s): {sorted(bad)}")
    rows = list(itertools.product(*(spec[k] for k in GRID_KEYS)))
    cells = pd.DataFrame(rows, columns=list(GRID_KEYS))
    extra = pd.DataFrame(mechanism_panel_cells(spec, panel), columns=list(GRID_KEYS))
    cells["mechanism_panel"] = False
    extra["mechanism_panel"] = True
    cells = pd.concat([cells, extra], ignore_index=True) if len(extra) else cells
    cells.insert(0, "cell", np.arange(len(cells)))
    mechanism = cells["attrition_mechanism"]
    cells.insert(9, "mar_odds_ratio", np.where(mechanism == "MAR", float(mar_odds_ratio), np.nan))
    cells.insert(10, "mnar_delta", np.where(mechanism == "MNAR", float(mnar_delta), np.nan))
    missing_at_last = 1 - (1 - cells["attrition"]) ** (cells["timepoints"] - 1)
    shift = np.where(mechanism == "MNAR", float(mnar_delta), 0.0) * missing_at_last
    cells.insert(11, "true_effect", cells["effect_d"] - shift)
    return cells


def grid_cells(settings: Mapping[str, Any]) -> pd.DataFrame:
    """The cells of :func:`power_settings` output: the grid and the mechanism panel."""
    return expand_grid(settings["grid"], panel=settings["mechanism_panel"],
                       mar_odds_ratio=settings["mar_odds_ratio"],
                       mnar_delta=settings["mnar_delta"])  # fmt: skip


def dropout_probability(
    baseline: np.ndarray, attrition: float, mechanism: str, mar_odds_ratio: float = 2.0
) -> np.ndarray:
    """Probability of leaving before the next wave for each participant still in the study.

    MCAR and MNAR: ``attrition`` for everyone. MAR: a logistic model in the baseline score
    (odds × ``mar_odds_ratio`` per baseline SD lower), its intercept solved so that the mean
    probability equals ``attrition`` exactly.
    """
    if mechanism != "MAR" or attrition in (0.0, 1.0) or len(baseline) == 0:
        return np.full(len(baseline), float(attrition))
    from scipy.optimize import brentq
    from scipy.special import expit

    slope = -math.log(mar_odds_ratio)
    intercept = brentq(lambda a: expit(a + slope * baseline).mean() - attrition, -60.0, 60.0,
                       xtol=1e-12)  # fmt: skip
    return expit(intercept + slope * baseline)


def simulate_complete(
    cell: Mapping[str, Any], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One replicate before drop-out is applied: every score, observed or not.

    Returns
    -------
    tuple
        ``scores`` (participants × timepoints, with the MNAR shift of unobserved scores),
        ``observed`` (same shape, bool), ``treated`` (1 Balint, 0 control) and ``cluster``
        (Balint group number, -1 for controls).
    """
    n, m = int(cell["n_per_arm"]), int(cell["group_size"])
    n_tp, rho, icc = int(cell["timepoints"]), float(cell["prepost_r"]), float(cell["icc"])
    d, attrition = float(cell["effect_d"]), float(cell["attrition"])
    mechanism = str(cell.get("attrition_mechanism", "MCAR"))
    treated = np.repeat([1.0, 0.0], n)
    k = max(1, math.ceil(n / m))
    cluster = np.concatenate([np.arange(n) % k, np.full(n, -1)])
    person = rng.normal(0.0, math.sqrt(rho), 2 * n)
    group_effect = rng.normal(0.0, math.sqrt(icc / (1 - icc)), k)
    residual = rng.normal(0.0, math.sqrt(1 - rho), (2 * n, n_tp))
    post = (np.arange(n_tp) > 0).astype(float)
    boost = np.where(cluster >= 0, group_effect[np.maximum(cluster, 0)], 0.0)
    y = person[:, None] + residual + (treated * (d + boost))[:, None] * post[None, :]
    # One uniform per participant and wave in every mechanism, so MCAR draws what it always drew.
    uniform = rng.random((2 * n, n_tp - 1))
    gone = np.zeros((2 * n, n_tp), dtype=bool)
    for t in range(1, n_tp):
        at_risk = ~gone[:, t - 1]
        p = dropout_probability(y[at_risk, 0], attrition, mechanism,
                                float(cell.get("mar_odds_ratio", 2.0)))  # fmt: skip
        leaves = np.zeros(2 * n, dtype=bool)
        leaves[at_risk] = uniform[at_risk, t - 1] < p
        gone[:, t] = gone[:, t - 1] | leaves
    if mechanism == "MNAR":
        y = y - float(cell["mnar_delta"]) * (gone & (treated == 1)[:, None])
    return y, ~gone, treated, cluster


def simulate_replicate(cell: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """One replicate in long format: ``participant, group, timepoint, cluster, score``."""
    y, observed, treated, cluster = simulate_complete(cell, rng)
    n_tp = y.shape[1]
    timepoints = [f"t{t}" for t in range(n_tp)]
    ids = np.array([f"p{i}" for i in range(len(treated))])
    rows, cols = np.nonzero(observed)
    return pd.DataFrame(
        {
            "participant": ids[rows],
            "group": np.where(treated[rows] == 1, "balint", "control"),
            "timepoint": np.array(timepoints)[cols],
            "cluster": np.where(cluster[rows] >= 0, "G" + cluster[rows].astype(str), ""),
            "score": y[rows, cols],
        }
    )


def analyse_replicate(frame: pd.DataFrame, n_timepoints: int, alpha: float = 0.05) -> dict:
    """Fit the primary model; the effect at the last timepoint with Satterthwaite inference."""
    from balint_analysis.models import model_data
    from balint_analysis.models.contrasts import treatment_effect
    from balint_analysis.models.fit import fit_lmm

    levels = [f"t{t}" for t in range(n_timepoints)]
    out = dict.fromkeys(["estimate", "se", "df", "ci_low", "ci_high", "p_value"], np.nan)
    out.update(converged=False, n_obs=len(frame))
    try:
        data = model_data(frame, levels=levels, intervention="balint", control="control",
                          use_clusters=True)  # fmt: skip
        fit = fit_lmm(data)
    except (ValueError, RuntimeError, np.linalg.LinAlgError):
        return out
    out.update(treatment_effect(fit, levels[-1], alpha), converged=bool(fit.converged))
    return out


def run_chunk(
    cells: pd.DataFrame, *, replicates: Sequence[int], seed: int, alpha: float = 0.05
) -> pd.DataFrame:
    """Simulate and analyse the given replicate numbers of every cell."""
    results = []
    for cell in cells.to_dict("records"):
        for r in replicates:
            rng = np.random.default_rng(np.random.SeedSequence([seed, int(cell["cell"]), r]))
            frame = simulate_replicate(cell, rng)
            fit = analyse_replicate(frame, int(cell["timepoints"]), alpha)
            results.append({"cell": int(cell["cell"]), "replicate": int(r), **fit})
    return pd.DataFrame(results, columns=RESULT_COLUMNS)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (Monte-Carlo CI of power)."""
    if n == 0:
        return (np.nan, np.nan)
    z = norm_ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(cells: pd.DataFrame, results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per cell: power with its Monte-Carlo CI, bias, CI coverage, mean SE and df.

    Power counts a replicate whose model could not be fitted as a non-rejection (reported in
    ``n_failed``), so failures never inflate power.
    """
    rows = []
    for cell in cells.to_dict("records"):
        res = results[results["cell"] == cell["cell"]]
        n = len(res)
        ok = res[res["estimate"].notna()]
        hits = int((ok["p_value"] < alpha).sum())
        lo, hi = wilson_interval(hits, n)
        truth = float(cell.get("true_effect", cell["effect_d"]))
        covered = ((ok["ci_low"] <= truth) & (truth <= ok["ci_high"])).mean() if len(ok) else np.nan
        rows.append({
            **cell,
            "replicates": n,
            "power": hits / n if n else np.nan,
            "power_ci_low": lo,
            "power_ci_high": hi,
            "mean_estimate": ok["estimate"].mean(),
            "bias": ok["estimate"].mean() - truth,
            "bias_mc_se": ok["estimate"].std() / math.sqrt(len(ok)) if len(ok) > 1 else np.nan,
            "coverage": covered,
            "mean_se": ok["se"].mean(),
            "median_df": ok["df"].median(),
            "n_failed": n - len(ok),
            "n_not_converged": int((~ok["converged"].astype(bool)).sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)
