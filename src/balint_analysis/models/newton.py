"""Newton's method on log-variances, shared by the REML fit, the ML refit and the
residual-variance-by-arm fit.

Every criterion here (REML or ML deviance of a variance-component model) comes with its exact
gradient and Hessian in the variances ``phi`` (:func:`.reml.reml_state`,
:func:`.reml.ml_state`), so Newton on ``psi = log(phi)`` converges in a handful of
evaluations where a quasi-Newton method needs dozens. Components may be held at zero
(``active``); a component whose standard-deviation ratio to the residual falls below
:data:`BOUNDARY_THETA` stops the run so the caller can refit without it and check the
Karush-Kuhn-Tucker condition (:func:`minimise_with_boundary`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "BOUNDARY_THETA",
    "GRADIENT_TOL",
    "NOISE_GRADIENT_TOL",
    "log_decrement",
    "minimise_with_boundary",
    "newton_log_variances",
]

GRADIENT_TOL = 1e-8
#: Accepted when no Newton step can lower the deviance beyond rounding (well below lme4's 2e-3).
NOISE_GRADIENT_TOL = 1e-5
#: A standard-deviation ratio (sd_k / sigma) below this is treated as heading for the boundary.
BOUNDARY_THETA = 1e-3


def _log_system(state: Any, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the criterion in ``log(phi)`` over the indices ``idx``."""
    p = state.phi[idx]
    g = state.gradient[idx] * p
    return g, np.outer(p, p) * state.hessian[np.ix_(idx, idx)] + np.diag(g)


def log_decrement(state: Any, active: np.ndarray | None = None) -> float:
    """Cholesky-scaled gradient ``max |L^-1 g|`` in ``log(phi)`` over the active variances
    (``inf`` when that Hessian is not positive definite): scale-free, like lme4's check."""
    idx = np.flatnonzero(state.phi > 0 if active is None else active)
    g, h = _log_system(state, idx)
    try:
        chol = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return float("inf")
    return float(np.max(np.abs(np.linalg.solve(chol, g))))


def newton_log_variances(
    evaluate: Callable[[np.ndarray], Any],
    phi: np.ndarray,
    active: np.ndarray,
    n_components: int,
    *,
    converged: Callable[[Any], float] = log_decrement,
    max_iter: int = 60,
    boundary_theta: float = BOUNDARY_THETA,
) -> tuple[Any, int, bool]:
    """Minimise a deviance by Newton's method over the active variances (log scale).

    Parameters
    ----------
    evaluate : callable
        ``phi -> state`` with ``phi``, ``deviance``, ``gradient`` and ``hessian`` (in ``phi``);
        raises ``ValueError`` where the deviance is undefined.
    phi : numpy.ndarray
        Start: component variances, then the residual variance(s); inactive ones are set to 0.
    active : numpy.ndarray of bool
        Variances that are estimated; the others stay at zero.
    n_components : int
        Number of random-effect components (the rest of ``phi`` are residual variances).
    converged : callable
        ``state -> decrement``; below :data:`GRADIENT_TOL` the optimum is certified.
    max_iter : int
        Newton iterations before giving up.
    boundary_theta : float
        Standard-deviation ratio below which a component counts as heading for the boundary.

    Returns
    -------
    state, evaluations, hit_boundary
        ``state`` is None on failure (no descent, iteration limit, undefined deviance).

    Notes
    -----
    ``dD/dpsi = g * phi`` and ``d2D/dpsi2 = diag(phi) H diag(phi) + diag(g * phi)``. Each step
    solves the Newton system, with Levenberg damping when that Hessian is not positive
    definite, and halves the step until the deviance decreases.
    """
    phi = np.where(active, phi, 0.0)
    try:
        state = evaluate(phi)
    except ValueError:
        return None, 1, False
    evaluations = 1
    idx = np.flatnonzero(active)
    for _ in range(max_iter):
        p = phi[idx]
        g, h = _log_system(state, idx)
        damping = 0.0
        while True:
            try:
                chol = np.linalg.cholesky(h + damping * np.eye(idx.size))
                break
            except np.linalg.LinAlgError:
                damping = max(1e-6, damping * 10)
                if damping > 1e6:
                    return None, evaluations, False
        newton = -np.linalg.solve(chol.T, np.linalg.solve(chol, g))
        step = np.clip(newton, -5.0, 5.0)
        longest = np.max(np.abs(newton))
        if g @ step >= 0 and longest > 5.0:  # (a zero gradient gives a zero step: no rescaling)
            # Clipping one component of a long step can turn it uphill (a flat log-variance
            # with a huge step beside steep ones): shorten the whole step instead, which keeps
            # Newton's descent direction (else 30 halvings per iteration, to the limit).
            step = newton * (5.0 / longest)
        # Rounding in a deviance of size |D| is ~1e-13 |D|: compare relative to it.
        slack = 1e-12 * max(1.0, abs(state.deviance))
        for _ in range(30):
            trial = phi.copy()
            trial[idx] = p * np.exp(step)
            try:
                new = evaluate(trial)
                evaluations += 1
            except ValueError:
                new = None
            if new is not None and new.deviance <= state.deviance + slack:
                break
            step /= 2.0
        else:
            # No step improves the deviance beyond rounding: at the optimum if the gradient is
            # at the noise floor (large data sets), otherwise give up.
            if converged(state) < NOISE_GRADIENT_TOL:
                return state, evaluations, False
            return None, evaluations, False
        phi, state = trial, new
        theta = np.sqrt(phi[:n_components] / np.mean(phi[n_components:]))
        if np.any(active[:n_components] & (theta < boundary_theta)):
            return state, evaluations, True
        if converged(state) < GRADIENT_TOL:
            return state, evaluations, False
    return None, evaluations, False


def minimise_with_boundary(
    evaluate: Callable[[np.ndarray], Any],
    phi0: np.ndarray,
    n_components: int,
    *,
    may_vanish: tuple[int, ...] | None = None,
    converged: Callable[[Any], float] = log_decrement,
    boundary_theta: float = BOUNDARY_THETA,
) -> tuple[Any, int, tuple[int, ...]]:
    """Newton from ``phi0``; components heading for zero are dropped, and at the end every
    component held at zero must satisfy the Karush-Kuhn-Tucker condition (the deviance does not
    decrease as it turns positive); one that does not is revived and the fit continues.

    Parameters
    ----------
    evaluate, phi0, n_components, converged
        As for :func:`newton_log_variances`; components at 0 in ``phi0`` start inactive.
    may_vanish : tuple of int, optional
        Components allowed to end on the boundary (default: all).
    boundary_theta : float
        Standard-deviation ratio below which a component is dropped and the fit continues on
        the boundary (the KKT check below decides whether it stays there). A larger value than
        :data:`BOUNDARY_THETA` tries the boundary earlier (Newton on log-variances approaches 0
        only linearly: ~1 evaluation per factor e); a component revived by the KKT check is
        only dropped again below :data:`BOUNDARY_THETA`, so an interior optimum with a small
        variance is still found.

    Returns
    -------
    state, evaluations, boundary
        ``state`` None when no certified optimum was found; ``boundary`` lists the indices
        of the components estimated at exactly 0.
    """
    allowed = set(range(n_components) if may_vanish is None else may_vanish)
    active = np.ones(phi0.size, dtype=bool)
    active[:n_components] = phi0[:n_components] > 0
    if not set(np.flatnonzero(~active)) <= allowed:
        return None, 0, ()
    phi, evaluations = np.asarray(phi0, dtype=float), 0
    for _ in range(2 * n_components + 2):  # each round drops or revives a component
        state, more, at_boundary = newton_log_variances(
            evaluate, phi, active, n_components, converged=converged,
            boundary_theta=boundary_theta)
        evaluations += more
        if state is None:
            return None, evaluations, ()
        phi = state.phi.copy()
        residual = float(np.mean(phi[n_components:]))
        if at_boundary:
            theta = np.sqrt(phi[:n_components] / residual)
            vanishing = set(np.flatnonzero(active[:n_components] & (theta < boundary_theta)))
            if not vanishing <= allowed:
                return None, evaluations, ()
            active[list(vanishing)] = False
            continue
        # KKT: a component held at 0 must not lower the deviance when it turns positive;
        # one that would is revived (small start) and the fit continues.
        reviving = [k for k in np.flatnonzero(~active[:n_components])
                    if state.gradient[k] < -1e-8]
        if not reviving:
            boundary = tuple(int(k) for k in np.flatnonzero(~active[:n_components]))
            return state, evaluations, boundary
        active[reviving] = True
        phi[reviving] = 0.01 * residual
        boundary_theta = min(boundary_theta, BOUNDARY_THETA)
    return None, evaluations, ()
