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
post-baseline timepoint. Each participant misses each post-baseline wave with probability
``attrition`` (cumulative: missing one wave implies missing the later ones), at random.

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
    "expand_grid",
    "run_chunk",
    "simulate_replicate",
    "analyse_replicate",
    "summarise",
    "wilson_interval",
]

RESULT_COLUMNS = ["cell", "replicate", "estimate", "se", "df", "ci_low", "ci_high", "p_value",
                  "converged", "n_obs"]  # fmt: skip
GRID_KEYS = ("n_per_arm", "group_size", "effect_d", "icc", "attrition", "timepoints", "prepost_r")


def expand_grid(grid: Mapping[str, Sequence[Any]] | None = None) -> pd.DataFrame:
    """All combinations of the grid's values, one row per cell (``cell`` = 0, 1, …)."""
    spec = {**default_grid(), **(grid or {})}
    unknown = set(spec) - set(GRID_KEYS)
    if unknown:
        raise ValueError(f"unknown power grid key(s): {sorted(unknown)}")
    rows = list(itertools.product(*(spec[k] for k in GRID_KEYS)))
    cells = pd.DataFrame(rows, columns=list(GRID_KEYS))
    cells.insert(0, "cell", np.arange(len(cells)))
    return cells


def simulate_replicate(cell: Mapping[str, Any], rng: np.random.Generator) -> pd.DataFrame:
    """One replicate in long format: ``participant, group, timepoint, cluster, score``."""
    n, m = int(cell["n_per_arm"]), int(cell["group_size"])
    n_tp, rho, icc = int(cell["timepoints"]), float(cell["prepost_r"]), float(cell["icc"])
    d, attrition = float(cell["effect_d"]), float(cell["attrition"])
    treated = np.repeat([1.0, 0.0], n)
    k = max(1, math.ceil(n / m))
    cluster = np.concatenate([np.arange(n) % k, np.full(n, -1)])
    person = rng.normal(0.0, math.sqrt(rho), 2 * n)
    group_effect = rng.normal(0.0, math.sqrt(icc / (1 - icc)), k)
    residual = rng.normal(0.0, math.sqrt(1 - rho), (2 * n, n_tp))
    post = (np.arange(n_tp) > 0).astype(float)
    boost = np.where(cluster >= 0, group_effect[np.maximum(cluster, 0)], 0.0)
    y = person[:, None] + residual + (treated * (d + boost))[:, None] * post[None, :]
    # Cumulative drop-out after baseline, missing at random.
    first_missing = np.where(rng.random((2 * n, n_tp - 1)) < attrition, 1, 0)
    gone = np.concatenate([np.zeros((2 * n, 1)), np.cumsum(first_missing, axis=1) > 0], axis=1)
    observed = gone == 0
    timepoints = [f"t{t}" for t in range(n_tp)]
    ids = np.array([f"p{i}" for i in range(2 * n)])
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
        truth = float(cell["effect_d"])
        covered = ((ok["ci_low"] <= truth) & (truth <= ok["ci_high"])).mean() if len(ok) else np.nan
        rows.append({
            **cell,
            "replicates": n,
            "power": hits / n if n else np.nan,
            "power_ci_low": lo,
            "power_ci_high": hi,
            "mean_estimate": ok["estimate"].mean(),
            "bias": ok["estimate"].mean() - truth,
            "coverage": covered,
            "mean_se": ok["se"].mean(),
            "median_df": ok["df"].median(),
            "n_failed": n - len(ok),
            "n_not_converged": int((~ok["converged"].astype(bool)).sum()),
        })  # fmt: skip
    return pd.DataFrame(rows)
