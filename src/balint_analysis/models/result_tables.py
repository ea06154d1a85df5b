"""Per-outcome assembly of the secondary model-stage tables and the per-model JSON records.

Called by :func:`balint_analysis.models.analyse_outcomes` for every outcome: reliable change
(``clinical.csv``), cut-off movement (``cutoffs.csv``), dose (``dose.csv``) and the record
written to ``models/<instrument>.<scale>.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from balint_analysis.models.clinical_change import (
    category_transitions,
    dose_response,
    reliable_change_summary,
)
from balint_analysis.models.emmeans import t_interval
from balint_analysis.models.lmm import FittedLMM
from balint_analysis.models.refits import ml_refit

__all__ = ["clinical_tables", "fit_record", "scale_info"]


@lru_cache(maxsize=64)
def scale_info(instrument: str, scale: str) -> tuple[str | None, tuple[str, ...], str]:
    """(direction, cut-off category order, note) from the instrument definition."""
    try:
        from balint_analysis.instruments import load_instrument

        s = load_instrument(instrument).scales[scale]
        return s.direction, tuple(c.label for c in s.categories), ""
    except Exception as exc:  # noqa: BLE001 - reported, the tables say "unknown direction"
        return None, (), f"instrument definition not available ({type(exc).__name__}: {exc})"


def clinical_tables(
    sub: pd.DataFrame,
    participants: pd.DataFrame,
    reliability: pd.DataFrame | None,
    *,
    instrument: str,
    scale: str,
    timepoints: Sequence[str],
    groups: Sequence[str],
    intervention: str,
    alpha: float,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """``clinical``, ``cutoffs`` and ``dose`` rows of one outcome, and notes for models.json."""
    base = timepoints[0]
    direction, order, note = scale_info(instrument, scale)
    notes: dict = {"direction": direction}
    if note:
        notes["instrument_note"] = note
    r_xx = np.nan
    if reliability is not None:
        hit = reliability[(reliability["instrument"].astype(str) == instrument)
                          & (reliability["scale"].astype(str) == scale)
                          & (reliability["timepoint"].astype(str) == base)]
        if len(hit):
            r_xx = float(pd.to_numeric(hit["alpha"], errors="coerce").iloc[0])
    if not np.isfinite(r_xx):
        notes["reliable_change"] = f"no baseline Cronbach's alpha for {instrument}.{scale}: " \
                                   "reliable change not computed"
    elif r_xx <= 0:
        notes["reliable_change"] = f"baseline alpha {r_xx:.3f} <= 0: reliable change undefined"
        r_xx = np.nan
    wide = sub.pivot(index="participant", columns="timepoint", values="score")
    wide["group"] = sub.groupby("participant")["group"].first().reindex(wide.index)
    if direction is None:
        clinical = reliable_change_summary(wide, timepoints=timepoints, groups=groups,
                                           reliability=np.nan, direction="higher_is_worse")
        clinical["reliability"] = r_xx
        notes["reliable_change"] = "scale direction unknown: reliable change not classified"
    else:
        clinical = reliable_change_summary(wide, timepoints=timepoints, groups=groups,
                                           reliability=r_xx, direction=direction)
    if "category" in sub.columns:
        cat = sub.assign(category=sub["category"].astype("string").str.strip()
                         .replace("", pd.NA))
        wide_cat = cat.pivot(index="participant", columns="timepoint", values="category")
        wide_cat["group"] = wide["group"].reindex(wide_cat.index)
        cutoffs = category_transitions(wide_cat, timepoints=timepoints, groups=groups,
                                       order=order)
    else:
        cutoffs = category_transitions(wide[["group"]], timepoints=timepoints, groups=groups)
    dose = pd.DataFrame(columns=["timepoint"])
    if "sessions" in participants.columns:
        sessions = participants.assign(participant=participants["participant"].astype(str)) \
            .set_index("participant")["sessions"]
        treated = wide[wide["group"] == intervention].copy()
        treated["sessions"] = pd.to_numeric(sessions.reindex(treated.index), errors="coerce")
        dose = dose_response(treated, timepoints=timepoints, alpha=alpha)
    else:
        notes["dose"] = "participants has no sessions column: dose not analysed"
    for frame in (clinical, cutoffs, dose):
        frame.insert(0, "scale", scale)
        frame.insert(0, "instrument", instrument)
    return clinical, cutoffs, dose, notes


def _fixed_effects(fit: FittedLMM, alpha: float) -> list[dict]:
    terms = fit.data.terms
    est, se, df = fit.coefficients()
    lo, hi, p = t_interval(est, se, df, alpha)
    return [{"term": t, "estimate": e, "se": s, "df": d, "ci_low": a, "ci_high": b,
             "p_value": q}
            for t, e, s, d, a, b, q in zip(terms, est, se, df, lo, hi, p, strict=True)]


def fit_record(fit: FittedLMM | None, alpha: float, *, error: str | None = None) -> dict:
    """JSON-ready summary of one fit: fixed effects with SE/df/CI/p, variances, REML and ML fit.

    ``reml`` holds the REML deviance and log-likelihood (comparable only between models with
    the same fixed effects); ``ml_refit`` the maximum-likelihood refit with ``loglik``, ``aic``
    and ``bic`` (:func:`.refits.ml_refit`).
    """
    if fit is None:
        return {"fitted": False, "error": error}
    rec = {
        "fitted": True,
        "formula": fit.diagnostics.get("formula"),
        "converged": fit.converged,
        "boundary_components": list(fit.boundary),
        "n_obs": len(fit.data.frame),
        "n_participants": int(fit.data.frame["participant"].nunique()),
        "fixed_effects": _fixed_effects(fit, alpha),
        "variance_components": fit.variances,
        "reml": {"deviance": fit.state.deviance, "loglik": -fit.state.deviance / 2.0},
    }
    try:
        rec["ml_refit"] = ml_refit(fit)
    except Exception as exc:  # noqa: BLE001 - recorded
        rec["ml_refit"] = {"error": f"{type(exc).__name__}: {exc}"}
    return rec
