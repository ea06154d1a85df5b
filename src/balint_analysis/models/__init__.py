"""The model stage: primary LMM per outcome, effects, estimated marginal means, d_ppc2 (SPEC §7).

:func:`analyse_outcomes` is the one entry point the workflow calls; it returns
:class:`ModelResults` (``effects.csv``, ``emmeans.csv`` and ``models.json`` content). The
procedures it combines are importable on their own: :func:`fit_lmm` / :func:`model_data`
(statsmodels REML fit with checks), :class:`Satterthwaite` (lmerTest's df),
:func:`estimated_marginal_means`, :func:`morris_dppc2`, :func:`hedges_g`,
:func:`benjamini_hochberg`.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from balint_analysis.models.design import ModelData, model_data
from balint_analysis.models.effects import (
    benjamini_hochberg,
    change_d_from_scores,
    dppc2_from_scores,
    hedges_g,
    morris_dppc2,
    standardized_change,
)
from balint_analysis.models.emmeans import estimated_marginal_means, t_interval
from balint_analysis.models.lmm import FittedLMM, fit_lmm
from balint_analysis.models.satterthwaite import Satterthwaite

__all__ = [
    "EFFECTS_COLUMNS",
    "EMMEANS_COLUMNS",
    "FittedLMM",
    "ModelData",
    "ModelResults",
    "Satterthwaite",
    "analyse_outcomes",
    "benjamini_hochberg",
    "estimated_marginal_means",
    "fit_lmm",
    "hedges_g",
    "model_data",
    "morris_dppc2",
    "standardized_change",
]

#: SPEC §8 columns, then documented extras: ``role`` (primary/secondary), ``design``
#: (two-arm/single-arm), ``effect_type``, ``df_method``, ``boundary`` (a variance component
#: was estimated as 0).
EFFECTS_COLUMNS = [
    "instrument", "scale", "timepoint", "estimate", "se", "df", "ci_low", "ci_high", "p_value",
    "p_adjusted", "d_ppc2", "d_ci_low", "d_ci_high", "n_intervention", "n_control", "converged",
    "role", "design", "effect_type", "df_method", "boundary",
]
#: SPEC §8 columns, then ``df`` (Satterthwaite df behind the CI).
EMMEANS_COLUMNS = [
    "instrument", "scale", "group", "timepoint", "mean", "se", "ci_low", "ci_high", "n", "df",
]
EFFECT_TYPES = {
    "two-arm": "difference in change from baseline (intervention − control)",
    "single-arm": "within-group change (no comparison group)",
}
EFFECT_SIZES = {
    "two-arm": "Morris (2008) d_ppc2: difference in mean change / pooled baseline SD, times "
    "c_p; participants observed at baseline and t; 95% CI from Morris eq. 25 with the pre-post "
    "correlation pooled within arms",
    "single-arm": "standardised within-group change: mean change / baseline SD, times "
    "c = 1 - 3/(4(n-1)-1); participants observed at baseline and t; 95% CI from the Becker "
    "(1988) variance",
}
MULTIPLICITY = ("Benjamini-Hochberg across all secondary-outcome tests (outcome x timepoint); "
                "the primary outcome's p_adjusted equals its unadjusted p_value")
_SCORE_COLUMNS = ("participant", "group", "timepoint", "instrument", "scale", "score")


@dataclass
class ModelResults:
    """Output of :func:`analyse_outcomes`.

    Attributes
    ----------
    effects : pandas.DataFrame
        ``effects.csv``: one row per outcome × post-baseline timepoint (:data:`EFFECTS_COLUMNS`).
    emmeans : pandas.DataFrame
        ``emmeans.csv``: one row per outcome × group × timepoint (:data:`EMMEANS_COLUMNS`).
    diagnostics : dict
        ``models.json`` content: per outcome formula, fit attempts, convergence, warnings,
        variance components, ICCs, fixed effects; software versions; settings. JSON-safe
        (NaN written as null).
    """

    effects: pd.DataFrame
    emmeans: pd.DataFrame
    diagnostics: dict


def analyse_outcomes(
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    intervention: str,
    control: str | None,
    primary: str,
    covariates: Sequence[str] = (),
    alpha: float = 0.05,
    use_clusters: bool = True,
) -> ModelResults:
    """Fit the primary model of every outcome and report effects, EMMs and d_ppc2 (SPEC §7).

    Parameters
    ----------
    scores : pandas.DataFrame
        SPEC ``scores.csv``: ``participant, group, timepoint, instrument, scale, score, ...``.
        Rows with a missing score are dropped; each (instrument, scale) is one outcome.
    participants : pandas.DataFrame
        ``participant, group, cluster, sessions`` and the covariate columns. ``cluster`` (the
        Balint group; empty for controls) may be absent.
    timepoints : sequence of str
        Design timepoints in order; the first is the baseline. Other timepoints are ignored.
    intervention, control : str
        Group labels. ``control=None``: single-arm design (within-group change).
    primary : str
        ``"instrument.scale"`` of the primary outcome.
    covariates : sequence of str
        Numeric participant-level covariates (rows with a missing value are left out of the
        model, and counted in the diagnostics).
    alpha : float
        1 - confidence level of all intervals.
    use_clusters : bool
        Model the Balint groups (partially nested design) when at least two are known.

    Returns
    -------
    ModelResults

    Notes
    -----
    Per outcome: REML LMM ``score ~ group * timepoint + covariates + (1 | participant)`` (plus
    ``(0 + treated_post | cluster)`` with Balint groups), fitted by statsmodels and checked by
    :func:`fit_lmm`. ``estimate`` is the group × timepoint coefficient (two-arm) or the
    timepoint coefficient (single-arm), with Satterthwaite ``df`` used for the t-based CI and
    p-value. ``n_intervention`` / ``n_control`` count the participants observed at baseline and
    at that timepoint (the d_ppc2 sample; the model uses every observation). Rows are ordered
    primary outcome first, then by instrument and scale, then timepoint in design order;
    EMMs intervention before control. Nothing is rounded. An outcome whose model cannot be
    fitted keeps its rows (NaN estimates, ``converged`` False) and its diagnostics say why.
    In a single-arm design with Balint groups the group effect applies to all post-baseline
    observations (everyone is treated). Checked against lme4/lmerTest/emmeans
    (``tests/reference``).
    """
    timepoints = [str(t) for t in timepoints]
    if len(timepoints) < 2 or len(set(timepoints)) != len(timepoints):
        raise ValueError("timepoints must list at least two distinct timepoints")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    frame, notes = _prepare(scores, participants, timepoints, intervention, control,
                            list(covariates))
    outcomes = sorted(set(zip(frame["instrument"], frame["scale"], strict=True)))
    keys = [f"{i}.{s}" for i, s in outcomes]
    if primary not in keys:
        raise ValueError(f"primary outcome {primary!r} has no scores (outcomes: {keys})")
    outcomes.sort(key=lambda o: f"{o[0]}.{o[1]}" != primary)
    design = "single-arm" if control is None else "two-arm"
    effect_rows, emm_frames, outcome_diags = [], [], []
    for instrument, scale in outcomes:
        sub = frame[(frame["instrument"] == instrument) & (frame["scale"] == scale)]
        role = "primary" if f"{instrument}.{scale}" == primary else "secondary"
        rows, emm, diag = _analyse_one(
            sub, timepoints=timepoints, intervention=intervention, control=control,
            covariates=list(covariates), alpha=alpha, use_clusters=use_clusters,
        )
        for row in rows:
            row.update(instrument=instrument, scale=scale, role=role, design=design,
                       effect_type=EFFECT_TYPES[design], df_method="Satterthwaite")
        effect_rows += rows
        emm_frames.append(emm.assign(instrument=instrument, scale=scale))
        outcome_diags.append({"instrument": instrument, "scale": scale, "role": role,
                              "design": design, **diag})
    effects = pd.DataFrame(effect_rows, columns=EFFECTS_COLUMNS)
    secondary = effects["role"] == "secondary"
    effects["p_adjusted"] = effects["p_value"]
    effects.loc[secondary, "p_adjusted"] = benjamini_hochberg(
        effects.loc[secondary, "p_value"].to_numpy(dtype=float))
    effects["converged"] = effects["converged"].astype(bool)
    effects["boundary"] = effects["boundary"].astype(bool)
    emmeans = pd.concat(emm_frames, ignore_index=True)[EMMEANS_COLUMNS]
    diagnostics = {
        "outcomes": outcome_diags,
        "settings": {
            "timepoints": timepoints, "baseline": timepoints[0], "intervention": intervention,
            "control": control, "covariates": list(covariates), "alpha": alpha,
            "use_clusters": use_clusters, "primary": primary, "multiplicity": MULTIPLICITY,
            "effect_size": EFFECT_SIZES[design], "df_method": "Satterthwaite (as lmerTest)",
        },
        "input_notes": notes,
        "software": _software(),
    }
    return ModelResults(effects=effects, emmeans=emmeans, diagnostics=_jsonable(diagnostics))


def _prepare(scores, participants, timepoints, intervention, control, covariates):
    """Validate and merge the inputs; returns the analysable rows and notes on what was left."""
    missing = [c for c in _SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"scores lacks column(s) {missing}")
    if "participant" not in participants.columns:
        raise ValueError("participants lacks the column 'participant'")
    absent = [c for c in covariates if c not in participants.columns]
    if absent:
        raise ValueError(f"covariate(s) {absent} are not columns of participants")
    df = scores.loc[:, list(_SCORE_COLUMNS)].copy()
    for col in ("participant", "group", "timepoint", "instrument", "scale"):
        df[col] = df[col].astype(str)
    try:
        df["score"] = pd.to_numeric(df["score"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"scores.score must be numeric: {exc}") from None
    groups = [intervention] if control is None else [intervention, control]
    for g in groups:
        if not (df["group"] == g).any():
            raise ValueError(f"group {g!r} does not occur in scores")
    notes = {
        "rows_missing_score": int(df["score"].isna().sum()),
        "rows_other_group": int((~df["group"].isin(groups)).sum()),
        "rows_other_timepoint": int((~df["timepoint"].isin(timepoints)).sum()),
    }
    df = df[df["group"].isin(groups) & df["timepoint"].isin(timepoints)]
    if df.duplicated(["participant", "timepoint", "instrument", "scale"]).any():
        raise ValueError("scores has more than one row per participant × timepoint × scale")
    df = df[df["score"].notna()]
    roster = participants.copy()
    roster["participant"] = roster["participant"].astype(str)
    if roster["participant"].duplicated().any():
        raise ValueError("participants has duplicate participant rows")
    if "cluster" not in roster.columns:
        roster["cluster"] = pd.NA
    for c in covariates:
        values = pd.to_numeric(roster[c], errors="coerce")
        bad = values.isna() & roster[c].notna() & (roster[c].astype(str).str.strip() != "")
        if bad.any():
            raise ValueError(f"covariate {c!r} is not numeric (e.g. {roster[c][bad].iloc[0]!r})")
        roster[c] = values.astype(float)
    if "group" in roster.columns:
        check = df[["participant", "group"]].drop_duplicates().merge(
            roster[["participant", "group"]].astype({"group": str}), on="participant",
            suffixes=("", "_roster"))
        clash = check[check["group"] != check["group_roster"]]
        if len(clash):
            raise ValueError(f"participant {clash['participant'].iloc[0]!r} has group "
                             f"{clash['group'].iloc[0]!r} in scores but "
                             f"{clash['group_roster'].iloc[0]!r} in participants")
    notes["participants_not_in_roster"] = int(
        (~df["participant"].drop_duplicates().isin(roster["participant"])).sum())
    keep = ["participant", "cluster", *dict.fromkeys(covariates)]
    df = df.merge(roster[keep], on="participant", how="left")
    return df.reset_index(drop=True), notes


def _analyse_one(sub, *, timepoints, intervention, control, covariates, alpha, use_clusters):
    """Model one outcome; returns (effect rows, EMM frame, diagnostics)."""
    baseline = timepoints[0]
    model_rows = sub.dropna(subset=covariates) if covariates else sub
    levels = [t for t in timepoints if (model_rows["timepoint"] == t).any()]
    groups = [intervention] if control is None else [intervention, control]
    diag: dict = {
        "n_rows_missing_covariates": len(sub) - len(model_rows),
        "formula": None, "method": "REML", "optimizer": None, "converged": False,
        "boundary": False, "warnings": [], "fallback": None, "n_obs": len(model_rows),
        "n_participants": int(model_rows["participant"].nunique()), "n_clusters": 0,
        "variance_components": {}, "icc_cluster": None, "df_method": "Satterthwaite",
    }
    fit: FittedLMM | None = None
    try:
        if baseline not in levels or len(levels) < 2:
            raise ValueError("needs observations at the baseline and a later timepoint")
        data = model_data(model_rows, levels=levels, intervention=intervention, control=control,
                          covariates=covariates, use_clusters=use_clusters)
        fit = fit_lmm(data)
        diag.update(fit.diagnostics)
        est, se, df = fit.contrast(np.eye(len(data.terms)))
        diag["fixed_effects"] = [
            {"term": t, "estimate": e, "se": s, "df": d}
            for t, e, s, d in zip(data.terms, est, se, df, strict=True)
        ]
    except Exception as exc:  # noqa: BLE001 - reported per outcome, the others still run
        diag["error"] = f"{type(exc).__name__}: {exc}"
    wide = sub.pivot(index="participant", columns="timepoint", values="score")
    arm = sub.groupby("participant")["group"].first().reindex(wide.index)
    rows = []
    for t in timepoints[1:]:
        row = {"timepoint": t, "converged": bool(fit is not None and fit.converged),
               "boundary": bool(fit is not None and fit.boundary)}
        est = se = df = np.nan
        if fit is not None and t in levels:
            term = f"timepoint[{t}]" if control is None else f"group[{intervention}]:timepoint[{t}]"
            L = (np.array(fit.data.terms) == term).astype(float)
            (est,), (se,), (df,) = fit.contrast(L)
        lo, hi, p = t_interval(est, se, df, alpha)
        row.update(estimate=est, se=se, df=df, ci_low=float(lo), ci_high=float(hi),
                   p_value=float(p))
        both = wide.reindex(columns=[baseline, t]).dropna()
        if control is None:
            d = change_d_from_scores(both[baseline], both[t], confidence=1 - alpha)
            row.update(d_ppc2=d["d"].item(), n_intervention=len(both), n_control=0)
        else:
            pair = [both[arm.reindex(both.index) == g] for g in groups]
            d = dppc2_from_scores(pair[0][baseline], pair[0][t], pair[1][baseline], pair[1][t],
                                  confidence=1 - alpha)
            row.update(d_ppc2=d["d_ppc2"].item(), n_intervention=len(pair[0]),
                       n_control=len(pair[1]))
        row.update(d_ci_low=d["ci_low"].item(), d_ci_high=d["ci_high"].item())
        rows.append(row)
    if fit is not None:
        emm = estimated_marginal_means(fit, groups=groups, timepoints=timepoints, alpha=alpha)
    else:
        cells = [(g, t) for g in groups for t in timepoints]
        counts = model_rows.groupby(["group", "timepoint"])["participant"].nunique()
        emm = pd.DataFrame({"group": [g for g, _ in cells], "timepoint": [t for _, t in cells],
                            "n": [int(counts.get(c, 0)) for c in cells]})
    return rows, emm, diag


def _software() -> dict:
    import scipy
    import statsmodels

    return {"python": platform.python_version(), "statsmodels": statsmodels.__version__,
            "pandas": pd.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def _jsonable(obj):
    """Plain-Python, strict-JSON version of ``obj`` (NaN and infinity become None)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer | int):
        return int(obj)
    if isinstance(obj, np.floating | float):
        return float(obj) if math.isfinite(obj) else None
    return obj
