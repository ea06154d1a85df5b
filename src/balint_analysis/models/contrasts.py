"""The treatment contrast, written once, and why a contrast or mean is not estimable.

The effect of the primary model at a post-baseline timepoint is the group × timepoint
coefficient (two-arm: difference in change from baseline, intervention − control) or the
timepoint coefficient (single-arm: within-group change). :func:`treatment_effect` gives it with
its Satterthwaite inference for any fit of the primary design (primary, sensitivity refits,
power simulation). A linear function of the coefficients is estimable when it lies in the row
space of the full design (:meth:`.lmm.FittedLMM.contrast`); when it does not, the reason says
which cell of the design is empty (:func:`effect_reason`, :func:`mean_reason`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from balint_analysis.models.design import ModelData
from balint_analysis.models.emmeans import t_interval
from balint_analysis.models.lmm import FittedLMM

__all__ = ["effect_reason", "mean_reason", "treatment_contrast", "treatment_effect",
           "treatment_term"]

ALIASED_EFFECT = ("the data cannot separate this effect from a covariate that is aliased "
                  "with group or time")
ALIASED_MEAN = ("this mean is not estimable with the covariates at their means (a covariate "
                "is aliased with group or time)")


def treatment_term(timepoint: str, intervention: str, control: str | None) -> str:
    """The coefficient that is the effect at ``timepoint`` (R's column name, as ours)."""
    if control is None:
        return f"timepoint[{timepoint}]"
    return f"group[{intervention}]:timepoint[{timepoint}]"


def treatment_contrast(data: ModelData, timepoint: str) -> np.ndarray:
    """Contrast vector over ``data.terms`` selecting the effect at ``timepoint`` (all zeros
    when the timepoint is not in the design)."""
    term = treatment_term(timepoint, data.intervention, data.control)
    return (np.array(data.terms) == term).astype(float)


def treatment_effect(fit: FittedLMM | None, timepoint: str, alpha: float = 0.05) -> dict:
    """Estimate, SE, Satterthwaite df, CI and p of the effect at ``timepoint``.

    Parameters
    ----------
    fit : FittedLMM or None
        A fit of the primary design (None: every value NaN).
    timepoint : str
        A post-baseline timepoint.
    alpha : float
        1 - confidence level.

    Returns
    -------
    dict
        ``estimate, se, df, ci_low, ci_high, p_value`` (floats; NaN when the effect is not
        estimable or the timepoint is not in the design).
    """
    est = se = df = np.nan
    if fit is not None and timepoint in fit.data.levels[1:]:
        (est,), (se,), (df,) = fit.contrast(treatment_contrast(fit.data, timepoint))
    lo, hi, p = t_interval(est, se, df, alpha)
    return {"estimate": float(est), "se": float(se), "df": float(df), "ci_low": float(lo),
            "ci_high": float(hi), "p_value": float(p)}


def _arm_label(data: ModelData, group: str) -> str:
    if data.control is None:
        return "participants"
    return ("intervention-group participants" if group == data.intervention
            else "comparison-group participants")


def _observed(frame: pd.DataFrame, group: str, timepoint: str, single_arm: bool) -> bool:
    rows = frame["timepoint"] == timepoint
    if not single_arm:
        rows &= frame["group"] == group
    return bool(rows.any())


def effect_reason(data: ModelData, timepoint: str) -> str:
    """Why the effect at ``timepoint`` is not estimable, as a lowercase clause.

    An empty cell of the group × timepoint table is named ("no comparison-group participants
    were observed at followup"); otherwise a covariate aliased with the effect is.
    """
    groups = [data.intervention] if data.control is None else [data.control, data.intervention]
    for t in (data.levels[0], timepoint):
        if not (data.frame["timepoint"] == t).any():
            return f"no participants were observed at {t}"
        for g in groups:
            if not _observed(data.frame, g, t, data.control is None):
                return f"no {_arm_label(data, g)} were observed at {t}"
    return ALIASED_EFFECT


def mean_reason(data: ModelData, group: str, timepoint: str) -> str:
    """Why the estimated marginal mean of ``group`` at ``timepoint`` is not estimable."""
    if not _observed(data.frame, group, timepoint, data.control is None):
        return f"no {_arm_label(data, group)} were observed at {timepoint}"
    return ALIASED_MEAN
