"""A fast REML path: Newton's method on the exact REML derivatives, no statsmodels.

:func:`balint_analysis.models.satterthwaite.reml_state` gives the REML deviance of the
variance-component models used here (random intercept per participant, plus the partially
nested Balint-group term) with its exact gradient and Hessian, computed block by block and
vectorised over blocks of equal size. Newton's method on the log-variances therefore converges
in a handful of evaluations. The path only accepts an interior optimum it can certify (every
variance away from zero, Cholesky-scaled gradient below ``1e-8``, positive-definite Hessian);
anything else (a variance heading for the boundary, a failed step) returns ``None`` and the
caller falls back to :func:`balint_analysis.models.fit_lmm`, the statsmodels reference path with
its convergence and boundary handling.
"""

from __future__ import annotations

import numpy as np

from balint_analysis.models.design import ModelData
from balint_analysis.models.lmm import FittedLMM, _components, _n_clusters, fit_lmm
from balint_analysis.models.satterthwaite import (
    Satterthwaite,
    reml_state,
    scaled_gradient,
    variance_structure,
)

__all__ = ["fit_lmm_fast", "fit_lmm_preferring_fast"]

GRADIENT_TOL = 1e-8
#: Accepted when no Newton step can lower the deviance beyond rounding (well below lme4's 2e-3).
NOISE_GRADIENT_TOL = 1e-5
#: A standard-deviation ratio (sd_k / sigma) below this is treated as heading for the boundary.
BOUNDARY_THETA = 1e-3


def _start(data: ModelData, n_components: int) -> np.ndarray:
    """Moment-based start: OLS residual variance split between person and residual."""
    X, y = data.X[:, data.keep], data.y
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    total = max(float(np.var(y - X @ beta)), 1e-8)
    phi = np.full(n_components + 1, 0.1 * total)
    phi[0] = 0.5 * total  # participant
    phi[-1] = 0.5 * total  # residual
    return phi


def _newton(struct, phi: np.ndarray, active: np.ndarray, max_iter: int):
    """Newton-REML over the active variances (log scale); the others stay at zero.

    Returns ``(state, evaluations, hit_boundary)``; ``state`` is None on failure.
    """
    phi = np.where(active, phi, 0.0)
    try:
        state = reml_state(struct, phi)
    except ValueError:
        return None, 1, False
    evaluations = 1
    idx = np.flatnonzero(active)
    for _ in range(max_iter):
        p = phi[idx]
        g = state.gradient[idx] * p
        h = np.outer(p, p) * state.hessian[np.ix_(idx, idx)] + np.diag(g)
        damping = 0.0
        while True:
            try:
                chol = np.linalg.cholesky(h + damping * np.eye(idx.size))
                break
            except np.linalg.LinAlgError:
                damping = max(1e-6, damping * 10)
                if damping > 1e6:
                    return None, evaluations, False
        step = np.clip(-np.linalg.solve(chol.T, np.linalg.solve(chol, g)), -5.0, 5.0)
        # Rounding in a deviance of size |D| is ~1e-13 |D|: compare relative to it.
        slack = 1e-12 * max(1.0, abs(state.deviance))
        for _ in range(30):
            trial = phi.copy()
            trial[idx] = p * np.exp(step)
            try:
                new = reml_state(struct, trial)
                evaluations += 1
            except ValueError:
                new = None
            if new is not None and new.deviance <= state.deviance + slack:
                break
            step /= 2.0
        else:
            # No step improves the deviance beyond rounding: at the optimum if the gradient is
            # at the noise floor (large data sets), otherwise give up.
            if scaled_gradient(state) < NOISE_GRADIENT_TOL:
                return state, evaluations, False
            return None, evaluations, False
        phi, state = trial, new
        theta = np.sqrt(phi[:-1] / phi[-1])
        if np.any(active[:-1] & (theta < BOUNDARY_THETA)):
            return state, evaluations, True
        if scaled_gradient(state) < GRADIENT_TOL:
            return state, evaluations, False
    return None, evaluations, False


def fit_lmm_fast(data: ModelData, *, max_iter: int = 60) -> FittedLMM | None:
    """Fit the primary model by Newton-REML; ``None`` when the optimum cannot be certified.

    Parameters
    ----------
    data : ModelData
        From :func:`balint_analysis.models.model_data`.
    max_iter : int
        Newton iterations before giving up.

    Returns
    -------
    FittedLMM or None
        Same estimates, SEs, variances and Satterthwaite df as :func:`fit_lmm` at the same
        optimum (tests/test_models_fast.py checks the agreement).

    Notes
    -----
    Parameters ``psi = log(phi)``. With deviance gradient ``g`` and Hessian ``H`` in ``phi``:
    ``dD/dpsi = g * phi`` and ``d2D/dpsi2 = diag(phi) H diag(phi) + diag(g * phi)``. Each step
    solves the Newton system, with Levenberg damping when that Hessian is not positive
    definite, and halves the step until the deviance decreases. When the Balint-group variance
    heads for zero, the model without it is fitted and accepted as the boundary optimum only if
    the deviance's derivative in that variance is non-negative there (the Karush-Kuhn-Tucker
    condition), which is the singular fit lme4 and the reference path report.
    """
    comps = _components(data)
    names = [*comps, "residual"]
    X, y = data.X[:, data.keep], data.y
    try:
        struct = variance_structure(X, y, data.frame["block"], comps)
    except ValueError:
        return None
    active = np.ones(len(names), dtype=bool)
    state, evaluations, at_boundary = _newton(struct, _start(data, len(comps)), active, max_iter)
    boundary: tuple[str, ...] = ()
    if state is not None and at_boundary:
        if "cluster" not in comps:
            return None  # a participant variance of ~0: leave it to the reference path
        active[names.index("cluster")] = False
        state, more, again = _newton(struct, state.phi, active, max_iter)
        evaluations += more
        if state is None or again or state.gradient[names.index("cluster")] < -1e-8:
            return None
        boundary = ("cluster",)
    if state is None:
        return None
    free = np.flatnonzero(active)
    if np.any(np.linalg.eigvalsh(state.hessian[np.ix_(free, free)]) <= 0):
        return None
    phi = state.phi
    variances = {n: float(v) for n, v in zip(names, phi, strict=True)}
    total = sum(variances.values())
    satt = Satterthwaite.from_state(state)
    hessian_eigenvalues = satt.hessian_eigenvalues.tolist()
    notes = list(data.notes)
    if boundary:
        notes.append("variance on the boundary (estimated 0): cluster; the model is "
                     "equivalent to the one without that term")  # fmt: skip
    diagnostics = {
        "formula": data.formula,
        "method": "REML",
        "optimizer": "Newton on exact REML derivatives (fast path)",
        "statsmodels_call": None,
        "n_obs": len(data.frame),
        "n_participants": int(data.frame["participant"].nunique()),
        "n_clusters": _n_clusters(data),
        "terms_not_estimable": [t for t, k in zip(data.terms, data.keep, strict=True) if not k],
        "random_effects_fitted": [n for n in comps if n not in boundary],
        "optimizer_converged": True,
        "attempts": [{"method": "Newton-REML", "evaluations": evaluations,
                      "deviance": state.deviance}],
        "varpar_hessian_eigenvalues": hessian_eigenvalues,
        "converged": True,
        "boundary": bool(boundary),
        "boundary_components": list(boundary),
        "warnings": [],
        "fallback": None,
        "reml_deviance": state.deviance,
        "reml_scaled_gradient": scaled_gradient(state),
        "reml_evaluations": evaluations,
        "variance_components": variances,
        "icc_participant": variances["participant"] / total,
        "icc_cluster": variances["cluster"] / total if "cluster" in variances else None,
        "df_method": "Satterthwaite",
        "notes": notes,
    }
    return FittedLMM(data=data, variances=variances, state=state, satterthwaite=satt,
                     converged=True, boundary=boundary, diagnostics=diagnostics)  # fmt: skip


def fit_lmm_preferring_fast(data: ModelData) -> FittedLMM:
    """The fast path when it certifies its optimum, else the statsmodels reference path."""
    return fit_lmm_fast(data) or fit_lmm(data)
