"""Outcomes no mixed model can answer, recognised before any fit is tried.

A constant outcome, an outcome the fixed effects (and participant intercepts) reproduce
exactly, or an arm with hardly anyone in it has no residual variation to test against: a fit
either fails slowly (a constant outcome took 104 s) or returns meaningless certainty
(p = 4e-33 for a constant outcome, where lme4 reports p = 1 and a singular fit). Such an
outcome gets no estimate, no interval and no p-value, only the reason
(:func:`degenerate_reason`), and the engines refuse it (:class:`DegenerateOutcomeError`).
"""

from __future__ import annotations

import numpy as np

from balint_analysis.models.design import ModelData

__all__ = ["MIN_PER_ARM", "DegenerateOutcomeError", "check_not_degenerate", "degenerate_reason"]

#: Fewest analysed participants per arm. With two, an arm's between-participant variance rests
#: on one degree of freedom and its interval is meaningless; three is the smallest arm at which
#: lme4 and the workflow give intervals that agree and are finite on the reference data.
MIN_PER_ARM = 3
#: Residual SD below this fraction of the outcome's SD counts as no residual variation.
_RESIDUAL_TOL = 1e-7

CONSTANT = "everyone has the same score on this outcome"
NO_RESIDUAL = "the scores have no variation left once the model's terms are accounted for"


class DegenerateOutcomeError(ValueError):
    """The outcome cannot be modelled; ``str(exc)`` is the plain-language reason."""


def degenerate_reason(data: ModelData) -> str | None:
    """Why the model of ``data`` must not be fitted, or None when it may be.

    Parameters
    ----------
    data : ModelData
        One outcome's design (:func:`.design.model_data`).

    Returns
    -------
    str or None
        A lowercase clause for ``effects.csv``'s ``reason``: :data:`CONSTANT`, "fewer than 3
        participants in the comparison group" (or intervention group; :data:`MIN_PER_ARM`),
        or :data:`NO_RESIDUAL` (the fixed effects, with or without one intercept per
        participant, reproduce every score).
    """
    y = data.y
    spread = float(np.std(y)) if len(y) else 0.0
    if spread == 0.0:
        return CONSTANT
    per_arm = data.frame.groupby("group")["participant"].nunique()
    arms = ([("intervention group", data.intervention), ("comparison group", data.control)]
            if data.control is not None else [("", data.intervention)])
    for label, arm in arms:
        if int(per_arm.get(arm, 0)) < MIN_PER_ARM:
            where = f" in the {label}" if label else ""
            return f"fewer than {MIN_PER_ARM} participants{where}"
    X = data.X[:, data.keep]
    if len(y) > X.shape[1] and _residual_sd(X, y) <= _RESIDUAL_TOL * spread:
        return NO_RESIDUAL
    codes = data.frame["participant"].astype(str).to_numpy()
    within_y, within_X = _demean(y, codes), _demean(X, codes)
    df_within = len(y) - len(np.unique(codes)) - np.linalg.matrix_rank(within_X)
    if df_within > 0 and _residual_sd(within_X, within_y) <= _RESIDUAL_TOL * spread:
        return NO_RESIDUAL
    return None


def check_not_degenerate(data: ModelData) -> None:
    """Raise :class:`DegenerateOutcomeError` when :func:`degenerate_reason` has a reason."""
    reason = degenerate_reason(data)
    if reason is not None:
        raise DegenerateOutcomeError(reason)


def _residual_sd(X: np.ndarray, y: np.ndarray) -> float:
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(np.sqrt(np.mean((y - X @ beta) ** 2)))


def _demean(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Subtract each participant's mean (the participant intercepts projected out)."""
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    values = np.asarray(values, dtype=float)
    sums = np.zeros((len(counts), *values.shape[1:]))
    np.add.at(sums, inverse, values)
    return values - (sums / counts.reshape(-1, *([1] * (values.ndim - 1))))[inverse]
