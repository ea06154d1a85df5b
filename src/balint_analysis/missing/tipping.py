"""Tipping points of the δ-adjusted (pattern-mixture) scenarios.

For each outcome, post-baseline timepoint and δ scenario (``delta_balint``: the imputed scores
of the Balint arm's participants with missing scores shifted by δ points; ``delta_both``: both
arms' shifted), the pooled result is a function of δ. The tipping point is the δ closest to 0
at which the conclusion changes: for a result whose CI excludes 0 at δ = 0 (MAR), the δ at
which the CI first includes 0 ("loses significance"); for a null result, the δ at which the CI
would first exclude 0 in either direction ("becomes significant").

It is found by root-finding (bisection to rounding precision) on the CI bound as a function of
δ, not read off the grid: given the per-imputation rows, the pooled result at any δ is computed
by interpolating each imputation's estimate, variance and complete-data df linearly between
grid points and re-pooling (ν_com the median df at that δ, as on the grid).

* ``variance_components == "held_at_mar"`` (:mod:`.analysis` holds the analysis model's
  variance components at the imputation's δ = 0 fit): each imputation's estimate is exactly
  linear in δ and its variance and df constant, so this is exact.
* ``"refitted"`` (:mod:`.refit`): each imputation's estimate and variance are smooth curves
  through REML refits at δ nodes; between the default grid's points (0.1 SD apart) the
  linear interpolation's SE is within 0.1% of the curve's on the demo cohort (0.03% on the
  primary outcome), and at the tipping point of a test cohort the pooled CI bound of direct
  refits is 0 within 0.0001 SE (tests/test_missing_refit.py).

Given only the pooled grid, the CI bound is interpolated linearly between the two grid points
around the crossing (B, hence the SE, is quadratic in δ, so this is approximate between grid
points).

Sign convention: δ > 0 makes the imputed scores *higher*. ``direction`` names the way δ had to
move in words: "worse"/"better" from the scale's direction (``higher_is_worse``: δ > 0 is
worse), or "higher"/"lower" when the direction is unknown; then "; loses significance" or
"; becomes significant".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from balint_analysis.missing.pooling import rubin_pool

__all__ = ["DELTA_SCENARIOS", "HELD", "MISSING_DATA_COLUMNS", "REFITTED", "TIPPING_COLUMNS",
           "tipping_points", "variance_components"]

MISSING_DATA_COLUMNS = ["instrument", "scale", "timepoint", "scenario", "delta", "delta_sd",
                        "estimate", "se", "df", "ci_low", "ci_high", "p_value", "fmi", "m",
                        "reason", "variance_components"]
TIPPING_COLUMNS = ["instrument", "scale", "timepoint", "scenario", "tipping_delta",
                   "tipping_delta_sd", "direction", "baseline_sd", "reason",
                   "variance_components"]
#: The scenarios with a δ grid.
DELTA_SCENARIOS = ("delta_balint", "delta_both")
#: ``variance_components``: δ rows with the analysis model refitted at δ (:mod:`.refit`; MAR
#: and jump-to-reference rows are fits, so always this) or held at the imputation's MAR fit.
REFITTED, HELD = "refitted", "held_at_mar"


def variance_components(scenarios: pd.Series, held) -> np.ndarray:
    """The ``variance_components`` value of each row: :data:`HELD` for a δ scenario's row
    when ``held`` (a bool, or one per row), else :data:`REFITTED`.

    Examples
    --------
    >>> variance_components(pd.Series(["mar", "delta_both"]), held=True).tolist()
    ['refitted', 'held_at_mar']
    """
    delta_row = scenarios.isin(DELTA_SCENARIOS).to_numpy()
    return np.where(delta_row & np.asarray(held, dtype=bool), HELD, REFITTED).astype(object)


def tipping_points(pooled: pd.DataFrame, baseline_sd: Mapping[tuple[str, str], float],
                   alpha: float, *, per_imputation: pd.DataFrame | None = None,
                   directions: Mapping[tuple[str, str], str] | None = None) -> pd.DataFrame:
    """The tipping δ of every outcome × timepoint × δ scenario.

    Parameters
    ----------
    pooled : pandas.DataFrame
        :data:`MISSING_DATA_COLUMNS` rows (from :func:`.pooling.pool_imputations`).
    baseline_sd : mapping
        ``(instrument, scale) -> baseline SD`` (the ``d_model`` denominator) for SD units.
    alpha : float
        1 − confidence level (the CI whose bound is followed).
    per_imputation : pandas.DataFrame, optional
        The per-imputation rows the pooled grid came from: the root is then exact.
    directions : mapping, optional
        ``(instrument, scale) -> "higher_is_worse" | "higher_is_better"``.

    Returns
    -------
    pandas.DataFrame
        :data:`TIPPING_COLUMNS`; ``tipping_delta`` NaN with a ``reason`` when the conclusion
        does not change over the grid or the scenario has no estimate; ``variance_components``
        copied from ``pooled`` (:data:`HELD` when it has no such column).
    """
    rows = []
    scen = pooled[pooled["scenario"].isin(DELTA_SCENARIOS)]
    by_key = {} if per_imputation is None else dict(iter(per_imputation[
        per_imputation["scenario"].isin(DELTA_SCENARIOS)].groupby(
            ["instrument", "scale", "timepoint", "scenario"], sort=False)))
    for (inst, scale, tp, scenario), part in scen.groupby(
            ["instrument", "scale", "timepoint", "scenario"], sort=False):
        sd = float(baseline_sd.get((inst, scale), np.nan))
        row = {"instrument": inst, "scale": scale, "timepoint": tp, "scenario": scenario,
               "tipping_delta": np.nan, "tipping_delta_sd": np.nan, "direction": "",
               "baseline_sd": sd, "reason": "",
               "variance_components": part["variance_components"].iloc[0]
               if "variance_components" in part else HELD}
        part = part.sort_values("delta")
        reasons = [r for r in part["reason"].fillna("") if r]
        if reasons or part["estimate"].isna().any() or not (part["delta"] == 0).any():
            row["reason"] = reasons[0] if reasons else "no pooled result at δ = 0"
            rows.append(row)
            continue
        bound = _bound_function(part, alpha, by_key.get((inst, scale, tp, scenario)))
        delta, sign, significant = _root(part, bound)
        direction = (directions or {}).get((inst, scale))
        if np.isnan(delta):
            span = f"{part['delta'].min():.3g} to {part['delta'].max():.3g} points"
            row["reason"] = ("the result kept its statistical support" if significant else
                             "the result stayed without statistical support") + \
                f" over the whole δ range ({span})"
        else:
            words = {"higher_is_worse": ("worse", "better"),
                     "higher_is_better": ("better", "worse")}.get(direction,
                                                                  ("higher", "lower"))
            change = "loses significance" if significant else "becomes significant"
            row.update(tipping_delta=delta,
                       tipping_delta_sd=delta / sd if np.isfinite(sd) and sd > 0 else np.nan,
                       direction=f"{words[0] if sign > 0 else words[1]}; {change}")
        rows.append(row)
    return pd.DataFrame(rows, columns=TIPPING_COLUMNS)


def _bound_function(part: pd.DataFrame, alpha: float, per_imp: pd.DataFrame | None):
    """``(ci_low(δ), ci_high(δ))`` as a function of δ within the grid."""
    grid = part["delta"].to_numpy(dtype=float)
    if per_imp is None:
        lo, hi = part["ci_low"].to_numpy(float), part["ci_high"].to_numpy(float)
        return lambda d: (float(np.interp(d, grid, lo)), float(np.interp(d, grid, hi)))
    # One row per imputation, one column per δ (each (imputation, δ) appears once).
    wide = per_imp.set_index(["imputation", "delta"])[
        ["estimate", "variance", "df_complete"]].unstack("delta").sort_index(axis=1)
    deltas = wide["estimate"].columns.to_numpy(dtype=float)
    est, var = wide["estimate"].to_numpy(), wide["variance"].to_numpy()
    dfc = wide["df_complete"].to_numpy()

    def bounds(d: float) -> tuple[float, float]:
        # ν_com at δ as the pooled grid has it: the median over the imputations (held at MAR,
        # each imputation's df is the same at every δ and this is the median of those).
        res = rubin_pool(_interp_rows(d, deltas, est), _interp_rows(d, deltas, var),
                         float(np.median(_interp_rows(d, deltas, dfc))), alpha)
        return res["ci_low"], res["ci_high"]
    return bounds


def _interp_rows(d: float, grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.interp(d, grid, row)`` for every row of ``values`` at once, bit for bit
    (numpy's formula: the left point when ``d`` is on the grid, else
    ``slope * (d - x_j) + y_j``), without a Python loop over the imputations."""
    if d <= grid[0]:
        return values[:, 0]
    if d >= grid[-1]:
        return values[:, -1]
    j = int(np.searchsorted(grid, d, side="right")) - 1
    if d == grid[j]:
        return values[:, j]
    slope = (values[:, j + 1] - values[:, j]) / (grid[j + 1] - grid[j])
    return slope * (d - grid[j]) + values[:, j]


def _root(part: pd.DataFrame, bound) -> tuple[float, int, bool]:
    """(tipping δ or NaN, sign of δ, significant at δ = 0)."""
    lo0, hi0 = bound(0.0)
    significant = lo0 > 0 or hi0 < 0
    if significant:
        # The bound nearest 0 crosses it: ci_high for a negative estimate, ci_low otherwise.
        which = 1 if hi0 < 0 else 0
        candidates = [lambda d, w=which: bound(d)[w]]
    else:  # either bound may cross 0: the CI moves off 0 in either direction
        candidates = [lambda d: bound(d)[0], lambda d: bound(d)[1]]
    grid = part["delta"].to_numpy(dtype=float)
    best = np.nan
    for side in (grid[grid > 0], grid[grid < 0][::-1]):
        points = np.concatenate([[0.0], side])
        for f in candidates:
            values = [f(d) for d in points]
            for a, b, fa, fb in zip(points[:-1], points[1:], values[:-1], values[1:],
                                    strict=True):
                if fa == 0 or np.sign(fa) != np.sign(fb):
                    root = a if fa == 0 else _bisect(f, a, b, fa)
                    if np.isnan(best) or abs(root) < abs(best):
                        best = root
                    break
    return float(best), int(np.sign(best)) if np.isfinite(best) else 0, bool(significant)


def _bisect(f, a: float, b: float, fa: float) -> float:
    """Root of ``f`` in ``[a, b]`` (``f(a)``, ``f(b)`` of opposite signs) by bisection to
    rounding precision (scipy.optimize would cost ~1.5 s of import for one root)."""
    for _ in range(200):
        mid = 0.5 * (a + b)
        if mid in (a, b):
            break
        fm = f(mid)
        if fm == 0:
            return mid
        if np.sign(fm) == np.sign(fa):
            a, fa = mid, fm
        else:
            b = mid
    return 0.5 * (a + b)
