"""Refits of the primary model: maximum likelihood (for AIC) and residual variance by arm.

* :func:`ml_refit`: the primary model refitted by maximum likelihood, for a log-likelihood and
  AIC/BIC that are comparable between models with different fixed effects (the REML criterion
  is not: it depends on the fixed-effects design).
* :func:`fit_residual_by_arm`: the primary model with one residual variance per arm
  (heteroscedastic partially nested model, Candlish et al. 2018), nlme's
  ``weights = varIdent(form = ~ 1 | group)``, fitted by REML with the exact derivatives of
  :mod:`.satterthwaite`; returns a :class:`.lmm.FittedLMM`, so effects, Satterthwaite df and
  EMMs come out exactly as for the primary model.

statsmodels' ``MixedLM`` cannot fit either the heteroscedastic residual or (reliably, at the
boundary) the ML refit of the partially nested model, so both optimise the deviance here:
Newton on the exact derivatives (:mod:`.newton`) from the primary REML estimates, which takes a
few evaluations; L-BFGS-B on the exact gradient when Newton cannot certify an optimum.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from balint_analysis.models.design import ModelData
from balint_analysis.models.lmm import GRADIENT_TOL, FittedLMM, model_structure
from balint_analysis.models.newton import log_decrement, minimise_with_boundary
from balint_analysis.models.reml import VarianceStructure, ml_state, reml_state
from balint_analysis.models.satterthwaite import Satterthwaite

__all__ = ["fit_residual_by_arm", "ml_refit", "minimise_deviance"]


def minimise_deviance(
    evaluate: Callable[[np.ndarray], Any],
    phi0,
    n_components: int,
    scale: float,
) -> tuple[Any, Any]:
    """Minimise a deviance over variances with L-BFGS-B (components >= 0, residuals > 0).

    ``evaluate(phi)`` returns a state with ``deviance`` and ``gradient``
    (:func:`.reml.reml_state` or :func:`.reml.ml_state`). Components start at least at
    ``0.05 * scale`` (so a component held at 0 by the primary fit can move); variables are
    ``phi / scale``; components that end below ``1e-10 * scale`` are set to exactly 0
    (boundary). Returns the state at the optimum and scipy's result. The fallback of the
    Newton fits.
    """
    from scipy import optimize  # ~0.5 s to import: only when Newton could not certify

    phi0 = np.array(phi0, dtype=float)
    phi0[:n_components] = np.maximum(phi0[:n_components], 0.05 * scale)
    x0 = np.maximum(phi0 / scale, 1e-3)
    bounds = [(0.0, None)] * n_components + [(1e-8, None)] * (x0.size - n_components)

    def f(x):
        st = evaluate(x * scale)
        return st.deviance, st.gradient * scale

    res = optimize.minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000})
    phi = res.x * scale
    phi[:n_components][phi[:n_components] < 1e-10 * scale] = 0.0
    return evaluate(phi), res


def _newton_from(evaluate, phi0: np.ndarray, K: int):
    """Newton from ``phi0`` (components at 0 stay out unless the KKT check fails)."""
    state, evaluations, _ = minimise_with_boundary(evaluate, phi0, K, converged=log_decrement)
    return state, evaluations


def ml_refit(fit: FittedLMM) -> dict:
    """Refit the model of ``fit`` by maximum likelihood; log-likelihood, AIC and BIC.

    Parameters
    ----------
    fit : FittedLMM
        A REML fit (:func:`.fit.fit_lmm` or :func:`fit_residual_by_arm`); the same fixed
        and random effects (all variance components, also those estimated 0 by REML) are refitted.

    Returns
    -------
    dict
        ``method`` ("ML"), ``loglik``, ``aic``, ``bic``, ``n_parameters`` (fixed effects +
        variance parameters, as lme4 counts them), ``n_obs``, ``converged``,
        ``variance_components`` (ML estimates, biased downwards), ``fixed_effects``.

    Notes
    -----
    ``AIC = -2 log L_ML + 2 k``, ``BIC = -2 log L_ML + k log n``. REML log-likelihoods are not
    comparable across fixed-effects structures, hence the ML refit (lme4 ``refitML``). Checked
    against R ``logLik``/``AIC``/``BIC`` of ``lmer(..., REML = FALSE)`` (and nlme ``lme(...,
    method = "ML")`` for residual variance by arm): ``tests/reference``.
    """
    by_arm = bool(fit.diagnostics.get("residual_by_arm"))
    struct = model_structure(fit.data, by_arm=by_arm)
    K = len(struct.names)
    phi_reml = np.array(list(fit.variances.values()), dtype=float)
    state, _ = _newton_from(lambda phi: ml_state(struct, phi), phi_reml, K)
    newton_ok = state is not None
    if not newton_ok:
        state, res = minimise_deviance(lambda phi: ml_state(struct, phi), phi_reml, K,
                                       float(np.var(struct.y)) or 1.0)  # fmt: skip
        newton_ok = bool(res.success)
    phi, dev, grad, beta = state.phi, state.deviance, state.gradient, state.beta
    free = np.ones(phi.size, bool)
    free[:K] = phi[:K] > 0
    k = struct.X.shape[1] + phi.size
    n = struct.y.size
    names = [*struct.names, *([f"residual_{lv}" for lv in struct.residual_levels]
                              or ["residual"])]
    terms = [t for t, keep in zip(fit.data.terms, fit.data.keep, strict=True) if keep]
    return {
        "method": "ML",
        "loglik": -dev / 2.0,
        "aic": dev + 2.0 * k,
        "bic": dev + k * np.log(n),
        "n_parameters": int(k),
        "n_obs": int(n),
        "converged": bool(newton_ok or np.max(np.abs(grad[free] * phi[free])) < 1e-4),
        "variance_components": dict(zip(names, phi.tolist(), strict=True)),
        "fixed_effects": dict(zip(terms, beta.tolist(), strict=True)),
    }


def fit_residual_by_arm(data: ModelData, start: FittedLMM | None = None) -> FittedLMM:
    """The primary model with a separate residual variance per arm, fitted by REML.

    Parameters
    ----------
    data : ModelData
        Two-arm design from :func:`.design.model_data` (same random effects as the primary
        model: participant intercept, and the partially nested Balint-group effect when
        clustered).
    start : FittedLMM, optional
        Primary fit whose variances start the optimisation.

    Returns
    -------
    FittedLMM
        ``variances`` holds ``participant``, (``cluster``), ``residual_<control>``,
        ``residual_<intervention>``; Satterthwaite df use the exact REML Hessian in the
        variance parameters (components at 0 left out).

    Notes
    -----
    ``V_i = sum_k phi_k Z_k Z_k' + diag(sigma^2_{arm(i)})``: nlme
    ``lme(score ~ group * timepoint, random = list(cluster = pdIdent(~ 0 + treated_post),
    participant = ~ 1), weights = varIdent(form = ~ 1 | group), method = "REML")``. L-BFGS-B on
    the exact REML gradient, then Newton steps with the exact Hessian; converged when the
    Newton decrement is below 2e-3 (lme4's tolerance). Checked against nlme 3.1 (estimates,
    SEs, variances, REML log-likelihood) and emmeans ``mode = "appx-satterthwaite"`` (df):
    ``tests/reference``.
    """
    if data.control is None:
        raise ValueError("residual variance by arm needs two arms")
    struct = model_structure(data, by_arm=True)
    K = len(struct.names)
    scale = float(np.var(struct.y)) or 1.0
    if start is not None:
        v = list(start.variances.values())
        phi0 = np.array([*v[:K], v[-1], v[-1]], dtype=float)
    else:
        phi0 = np.full(K + 2, scale / (K + 2))
    state, evaluations = _newton_from(lambda phi: reml_state(struct, phi), phi0, K)
    if state is not None:
        phi, optimizer = state.phi, f"Newton on exact REML derivatives ({evaluations} evaluations)"
    else:
        phi, state, optimizer = _by_arm_lbfgsb(struct, phi0, K, scale)
    free = np.append(phi[:K] > 0, np.ones(2, bool))
    H = state.hessian[np.ix_(free, free)]
    evals = np.linalg.eigvalsh(H)
    try:
        chol = np.linalg.cholesky(H)
        decrement = float(np.max(np.abs(np.linalg.solve(chol, state.gradient[free]))))
    except np.linalg.LinAlgError:
        decrement = float("inf")
    converged = decrement <= GRADIENT_TOL
    pos = evals > 1e-8
    evecs = np.linalg.eigh(H)[1]
    h_inv = (evecs[:, pos] / np.linalg.eigvalsh(H)[pos]) @ evecs[:, pos].T
    satt = Satterthwaite(beta=state.beta, cov_beta=state.cov_beta, dcov=state.dcov[free],
                         vcov_varpar=2.0 * h_inv, hessian_eigenvalues=evals)
    names = [*struct.names, f"residual_{data.control}", f"residual_{data.intervention}"]
    variances = dict(zip(names, phi.tolist(), strict=True))
    boundary = tuple(n for n, v in zip(struct.names, phi[:K], strict=True) if v == 0)
    diagnostics = {
        "formula": data.formula + "; residual variance by arm (varIdent(~1 | group))",
        "method": "REML", "optimizer": optimizer,
        "residual_by_arm": True, "converged": converged, "boundary": bool(boundary),
        "boundary_components": list(boundary), "reml_deviance": state.deviance,
        "reml_newton_decrement": decrement,
        "variance_components": variances,
        "residual_sd_ratio": float(np.sqrt(phi[-1] / phi[-2])),
        "n_obs": int(struct.y.size), "df_method": "Satterthwaite",
    }
    return FittedLMM(data=data, variances=variances, state=state, satterthwaite=satt,
                     converged=converged, boundary=boundary, diagnostics=diagnostics)


def _by_arm_lbfgsb(struct: VarianceStructure, phi0: np.ndarray, K: int, scale: float):
    """Fallback for :func:`fit_residual_by_arm`: L-BFGS-B, then Newton steps in ``phi``."""
    state, res = minimise_deviance(lambda phi: reml_state(struct, phi), phi0, K, scale)
    phi = state.phi
    for _ in range(20):  # Newton polish on the free parameters
        free = np.append(phi[:K] > 0, np.ones(2, bool))
        g, H = state.gradient[free], state.hessian[np.ix_(free, free)]
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if np.all(np.linalg.eigvalsh(H) > 0) and float(g @ step) < 1e-14:
            break
        t, improved = 1.0, False
        while t > 1e-4:
            trial = phi.copy()
            trial[free] -= t * step
            if np.all(trial[:K] >= 0) and np.all(trial[K:] > 0):
                new = reml_state(struct, trial)
                if new.deviance <= state.deviance + 1e-12:
                    phi, state, improved = trial, new, True
                    break
            t /= 2
        if not improved:
            break
    return phi, state, f"L-BFGS-B + Newton (exact REML derivatives): {res.message}"
