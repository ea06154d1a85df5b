"""The model engines: :func:`fit_lmm` (what callers use) and :func:`fit_lmm_reml`.

:func:`fit_lmm_reml` is the main engine: Newton's method on the exact REML derivatives, no
statsmodels.

:func:`balint_analysis.models.reml.reml_state` gives the REML deviance of the
variance-component models used here (random intercept per participant, plus the partially
nested Balint-group term) with its exact gradient and Hessian, computed block by block and
vectorised over blocks of equal size. Newton's method on the log-variances therefore converges
in a handful of evaluations. The path only accepts an interior optimum it can certify (every
variance away from zero, Cholesky-scaled gradient below ``1e-8``, positive-definite Hessian);
anything else (a variance heading for the boundary, a failed step) returns ``None`` and the
caller (:func:`fit_lmm`) falls back to :func:`.lmm.fit_lmm_statsmodels`, the statsmodels
reference path with its convergence and boundary handling.
"""

from __future__ import annotations

import numpy as np

from balint_analysis.models.degenerate import check_not_degenerate
from balint_analysis.models.design import ModelData
from balint_analysis.models.lmm import (
    FittedLMM,
    _components,
    _n_clusters,
    fit_lmm_statsmodels,
    model_structure,
)
from balint_analysis.models.newton import minimise_with_boundary
from balint_analysis.models.reml import reml_state
from balint_analysis.models.satterthwaite import Satterthwaite, scaled_gradient

__all__ = ["fit_lmm_reml", "fit_lmm"]


def _start(data: ModelData, n_components: int) -> np.ndarray:
    """Moment-based start: OLS residual variance split between person and residual."""
    X, y = data.X[:, data.keep], data.y
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    total = max(float(np.var(y - X @ beta)), 1e-8)
    phi = np.full(n_components + 1, 0.1 * total)
    phi[0] = 0.5 * total  # participant
    phi[-1] = 0.5 * total  # residual
    return phi


def fit_lmm_reml(data: ModelData) -> FittedLMM | None:
    """Fit the primary model by Newton-REML; ``None`` when the optimum cannot be certified.

    Parameters
    ----------
    data : ModelData
        From :func:`balint_analysis.models.model_data`.

    Returns
    -------
    FittedLMM or None
        Same estimates, SEs, variances and Satterthwaite df as
        :func:`.lmm.fit_lmm_statsmodels` at the same optimum (tests/test_models_engines.py checks
        the agreement).

    Notes
    -----
    Newton on ``log(phi)`` (:mod:`.newton`), certified with the Cholesky-scaled gradient in
    lmerTest's ``(theta, sigma)``. When the Balint-group variance
    heads for zero, the model without it is fitted and accepted as the boundary optimum only if
    the deviance's derivative in that variance is non-negative there (the Karush-Kuhn-Tucker
    condition), which is the singular fit lme4 and the reference path report.
    """
    comps = _components(data)
    names = [*comps, "residual"]
    try:
        struct = model_structure(data)
    except ValueError:
        return None
    may_vanish = (names.index("cluster"),) if "cluster" in comps else ()
    state, evaluations, vanished = minimise_with_boundary(
        lambda phi: reml_state(struct, phi), _start(data, len(comps)), len(comps),
        may_vanish=may_vanish, converged=scaled_gradient)
    if state is None:
        return None
    boundary = tuple(names[k] for k in vanished)
    active = np.ones(len(names), dtype=bool)
    active[list(vanished)] = False
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
        "optimizer": "Newton on exact REML derivatives",
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
        "fit_warnings": [],
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


def fit_lmm(data: ModelData) -> FittedLMM:
    """Fit the primary model: the Newton-REML engine when it certifies its optimum, else the
    statsmodels fallback (:func:`.lmm.fit_lmm_statsmodels`).

    Raises
    ------
    DegenerateOutcomeError
        Before any fit, when no model can answer (:func:`.degenerate.degenerate_reason`).
    """
    check_not_degenerate(data)
    fit = fit_lmm_reml(data)
    if fit is not None:
        fit.diagnostics["engine"] = "Newton-REML"
        return fit
    fit = fit_lmm_statsmodels(data)
    fit.diagnostics["engine"] = "statsmodels"
    fit.diagnostics["fallback"] = "; ".join(filter(None, [
        "the Newton-REML engine could not certify an optimum, so the statsmodels engine was "
        "used", fit.diagnostics.get("fallback")]))
    return fit
