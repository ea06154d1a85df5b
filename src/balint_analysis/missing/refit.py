"""δ scenarios with the analysis model's variance components refitted at δ.

Shifting the imputed scores of drop-outs by δ changes the completed data, so a REML fit of the
analysis model at δ has other variance components than the imputation's MAR fit (δ = 0):
shifting a block of participants changes the between-participant and Balint-group variances,
and with them the effect's SE (on the demo cohort by up to 25% at ±1 baseline SD, 11% within
±0.5 SD, mostly upwards but in either direction). Holding the MAR variances (:mod:`.analysis`,
``held_at_mar``) therefore puts the tipping point too far from 0 or too close to it: on the
demo, refitting moved emotional exhaustion's from −0.46 SD to beyond the ±1 SD grid and CBI
client's from −0.71 to −0.23 SD.

For the outcomes in :func:`refit_outcomes` each imputation's completed dataset is instead
refitted at five δ nodes per δ scenario, ``a · (−1, −½, 0, ½, 1)`` with ``a`` the grid's largest
|δ| (δ = 0 is the MAR fit itself: 4 extra REML fits per scenario, each warm-started from the
neighbouring node's optimum nearer 0), and every grid δ gets

* ``estimate`` and ``variance``: the degree-4 polynomial through the five nodes (Lagrange form:
  exactly the refit's values at the nodes). Both are smooth in δ except where a variance
  component reaches zero (a kink); against a REML refit at every grid δ (benchmarks/
  missing_runtime.py, demo cohort, 5 imputations per outcome, both scenarios, δ from −1 to 1
  baseline SD) the SE is within 0.01% on the emotional-exhaustion scale and within 1.2% on
  every outcome (the worst, CBI scales whose Balint-group variance reaches zero inside the
  grid), the estimate within 0.003 SE. Chebyshev nodes (±a/√2) measured the same (1.1%);
  equally spaced ones put ±a/2 on the default grid, so those rows are refits. Three nodes
  (±a and 0, half the refits) were 2.4% off.
* ``df_complete``: the refit's Satterthwaite df at the nodes, interpolated linearly between
  them. The df is not smooth in δ: it jumps (on the demo from ~50 to ~230) where the
  Balint-group variance reaches zero, and a polynomial through such values overshoots; a linear
  interpolation stays between the neighbouring nodes' values.

The imputations themselves are never redrawn per δ (the imputation model is not refitted); only
the analysis model is refitted on the shifted completed data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["NODE_FRACTIONS", "REFIT_CHOICES", "delta_nodes", "interpolate_polynomial",
           "refit_outcomes", "refitted_delta_curves"]

#: The δ nodes as fractions of the grid's largest |δ| (0: the MAR fit).
NODE_FRACTIONS = (-1.0, -0.5, 0.0, 0.5, 1.0)
#: Values of ``missing_data.refit_outcomes``.
REFIT_CHOICES = ("primary", "all", "none")


def refit_outcomes(choice: str, primary: str | Sequence[str] | None,
                   outcomes: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``(instrument, scale)`` outcomes whose δ scenarios are refitted.

    Parameters
    ----------
    choice : {"primary", "all", "none"}
        ``missing_data.refit_outcomes``.
    primary : str or sequence of str or None
        ``analysis.primary`` (``"instrument.scale"``, one or several).
    outcomes : iterable of (str, str)
        The planned outcomes.

    Returns
    -------
    set of (str, str)

    Examples
    --------
    >>> sorted(refit_outcomes("primary", "mbi_hss.emotional_exhaustion",
    ...                       [("mbi_hss", "emotional_exhaustion"), ("pss10", "total")]))
    [('mbi_hss', 'emotional_exhaustion')]
    >>> refit_outcomes("none", "pss10.total", [("pss10", "total")])
    set()
    """
    outcomes = set(outcomes)
    if choice == "all":
        return outcomes
    if choice == "none" or not primary:
        return set()
    names = [primary] if isinstance(primary, str) else list(primary)
    return {tuple(name.split(".", 1)) for name in names} & outcomes


def delta_nodes(deltas: Sequence[float]) -> np.ndarray:
    """The five δ nodes (points) of a grid: :data:`NODE_FRACTIONS` times its largest |δ|.

    Examples
    --------
    >>> delta_nodes([-2.0, -1.0, 0.0, 1.0, 2.0]).tolist()
    [-2.0, -1.0, 0.0, 1.0, 2.0]
    """
    largest = max((abs(float(d)) for d in deltas), default=0.0)
    return np.array([f * largest + 0.0 for f in NODE_FRACTIONS])


def interpolate_polynomial(nodes: np.ndarray, values: np.ndarray,
                           at: Sequence[float]) -> np.ndarray:
    """The polynomial through ``(nodes[j], values[j])`` evaluated at ``at`` (Lagrange form).

    Parameters
    ----------
    nodes : numpy.ndarray
        Distinct abscissae, shape ``(n,)``.
    values : numpy.ndarray
        Ordinates, shape ``(n, k)`` (``k`` curves at once).
    at : sequence of float
        Where to evaluate.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(at), k)``; at a node exactly that node's values (its basis polynomial is
        exactly 1 there and every other one exactly 0).

    Examples
    --------
    >>> interpolate_polynomial(np.array([0.0, 1.0, 2.0]), np.array([[0.0], [1.0], [4.0]]),
    ...                        [3.0]).tolist()
    [[9.0]]
    """
    x = np.asarray(at, dtype=float)[:, None]
    out = np.zeros((x.shape[0], values.shape[1]))
    for j, xj in enumerate(nodes):
        basis = np.ones_like(x)
        for i, xi in enumerate(nodes):
            if i != j:
                basis = basis * ((x - xi) / (xj - xi))
        out = out + basis * values[j]
    return out


def _interpolate_linear(nodes: np.ndarray, values: np.ndarray,
                        at: Sequence[float]) -> np.ndarray:
    return np.column_stack([np.interp(np.asarray(at, dtype=float), nodes, values[:, k])
                            for k in range(values.shape[1])])


#: ``fit(y, start) -> (estimate, variance, df, optimum)`` of the analysis model on scores ``y``.
Refit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def refitted_delta_curves(refit: Refit, y: np.ndarray, shift_rows: Mapping[str, np.ndarray],
                          mar: tuple[np.ndarray, np.ndarray, np.ndarray], start: np.ndarray,
                          deltas: Sequence[float]) -> dict[str, np.ndarray]:
    """Estimate, variance and df of every contrast at every grid δ, per δ scenario, from REML
    refits of one completed dataset at :func:`delta_nodes`.

    Parameters
    ----------
    refit : callable
        ``refit(scores, start)``: the analysis model fitted to ``scores`` from the variance
        parameters ``start``; returns ``(estimate, variance, df, optimum)`` per contrast.
    y : numpy.ndarray
        The completed scores (MAR, δ = 0).
    shift_rows : mapping
        Scenario -> boolean mask of the rows shifted by δ.
    mar : tuple of numpy.ndarray
        ``(estimate, variance, df)`` of the MAR fit (the δ = 0 node).
    start : numpy.ndarray
        The MAR fit's optimum: the first nodes start there, the outer ones from the inner ones.
    deltas : sequence of float
        The δ grid (points).

    Returns
    -------
    dict
        Scenario -> array ``(3, len(deltas), k)``: estimate, variance and df per grid δ and
        contrast.
    """
    nodes = delta_nodes(deltas)
    if not nodes.any():  # a grid of δ = 0 only (no baseline SD): the MAR fit is every node
        return {name: np.stack([np.tile(v, (len(deltas), 1)) for v in mar])
                for name in shift_rows}
    curves = {}
    for name, rows in shift_rows.items():
        shift = rows.astype(float)
        est, var, df = (np.empty((nodes.size, len(mar[0]))) for _ in range(3))
        est[2], var[2], df[2] = mar
        optimum = {2: start}
        # Outwards from δ = 0, each fit warm-started from the optimum of its neighbour nearer 0
        # (where that fit's last REML evaluation was: a caching evaluator can reuse it).
        for j, nearer in ((1, 2), (3, 2), (0, 1), (4, 3)):
            est[j], var[j], df[j], optimum[j] = refit(y + nodes[j] * shift, optimum[nearer])
        curves[name] = np.stack([interpolate_polynomial(nodes, est, deltas),
                                 interpolate_polynomial(nodes, var, deltas),
                                 _interpolate_linear(nodes, df, deltas)])
    return curves

