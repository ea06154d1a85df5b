"""``meta.csv``: what a systematic review extracts, one row per cohort x outcome x timepoint.

Every value comes from a cohort's own outputs (``effects.csv``, ``scores.csv``,
``participants.csv``, ``models.json``); nothing is refitted. Pure functions: frames and
mappings in, a frame out (the pooled stage, :mod:`balint_analysis.programme.stage`, reads and
writes the files).

Standardised effect. ``yi_smd``/``vi_smd`` are the cohort's ``d_model`` (the model's effect
over the baseline SD pooled within arms) with the sampling variance implied by its t-based
CI: the same model, and so the same handling of Balint-group clustering and of missing
visits, as the raw difference in change. Morris's ``d_ppc2`` and its variance (from its
normal-based CI) are carried beside it for review teams that pool that measure.

Disclosure control. Participant pseudonyms never leave the cohort's folder. Counts per arm
and per arm x timepoint are public margins of the participant flow (as in the cohort report,
:mod:`balint_analysis.report.disclosure`) and are written; a statistic computed from fewer
than ``k`` people (:func:`balint_analysis.report.disclosure.too_small`) is withheld: the
effect when either arm has fewer than ``k`` analysed participants at that timepoint (the row
is then not estimable and not pooled, ``reason`` says why), the baseline difference when
either arm has fewer than ``k`` at baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from balint_analysis.report.disclosure import too_small

__all__ = ["META_CSV_COLUMNS", "SMD_MEASURE", "baseline_summary", "cohort_meta_rows"]

#: Columns of ``meta.csv``, in order (documented in docs/contract.md and docs/programme.md).
META_CSV_COLUMNS = [
    "programme", "cohort", "site", "year", "country", "instrument", "instrument_version",
    "scale", "timepoint", "primary_timepoint", "role", "design", "randomised", "n_clusters",
    "n_timepoints", "n_enrolled_intervention", "n_enrolled_control", "n_intervention",
    "n_control", "n_baseline_intervention", "n_baseline_control", "attrition_intervention",
    "attrition_control", "baseline_difference", "estimate", "se", "ci_low", "ci_high", "df",
    "p_value", "yi_smd", "vi_smd", "smd_measure", "d_ppc2", "vi_d_ppc2", "alpha", "estimable",
    "reason",
]  # fmt: skip

#: The standardised measure ``yi_smd`` holds (``smd_measure`` column).
SMD_MEASURE = "d_model"

_EFFECT_FIELDS = ("estimate", "se", "ci_low", "ci_high", "df", "p_value", "yi_smd", "vi_smd",
                  "d_ppc2", "vi_d_ppc2")  # fmt: skip


def _half_width_variance(low: Any, high: Any, quantile: float) -> float:
    """Sampling variance of an estimate from its symmetric CI: ``((high - low) / 2q)^2``."""
    low, high = pd.to_numeric(low, errors="coerce"), pd.to_numeric(high, errors="coerce")
    if not (np.isfinite(low) and np.isfinite(high) and np.isfinite(quantile)) or quantile <= 0:
        return float("nan")
    return float(((high - low) / (2.0 * quantile)) ** 2)


def baseline_summary(scores: pd.DataFrame, *, baseline: str, intervention: str,
                     control: str | None) -> pd.DataFrame:  # fmt: skip
    """Per outcome: participants with a score at baseline per arm and the standardised mean
    difference at baseline (intervention minus control over the SD pooled within arms).

    Returns
    -------
    DataFrame
        ``instrument, scale, n_baseline_intervention, n_baseline_control,
        baseline_difference`` (the difference NaN for a single-arm design or an arm with
        fewer than two scores).
    """
    scored = scores[(scores["timepoint"].astype(str) == baseline) & scores["score"].notna()]
    rows = []
    for (instrument, scale), part in scored.groupby(["instrument", "scale"], sort=False):
        arm_i = part.loc[part["group"].astype(str) == intervention, "score"].astype(float)
        arm_c = (part.loc[part["group"].astype(str) == control, "score"].astype(float)
                 if control is not None else pd.Series(dtype=float))  # fmt: skip
        n_i, n_c = len(arm_i), len(arm_c)
        smd = float("nan")
        if n_i >= 2 and n_c >= 2:
            pooled = ((n_i - 1) * arm_i.var() + (n_c - 1) * arm_c.var()) / (n_i + n_c - 2)
            if pooled > 0:
                smd = float((arm_i.mean() - arm_c.mean()) / np.sqrt(pooled))
        rows.append({"instrument": instrument, "scale": scale, "n_baseline_intervention": n_i,
                     "n_baseline_control": n_c if control is not None else np.nan,
                     "baseline_difference": smd})  # fmt: skip
    return pd.DataFrame(rows, columns=["instrument", "scale", "n_baseline_intervention",
                                       "n_baseline_control", "baseline_difference"])


def _n_clusters(participants: pd.DataFrame, intervention: str) -> int:
    """Balint groups of the intervention arm (0 when the roster names none)."""
    if "cluster" not in participants:
        return 0
    arm = participants[participants["group"].astype(str) == intervention]
    return int(arm["cluster"].dropna().astype(str).str.strip().replace("", np.nan).nunique())


def cohort_meta_rows(
    effects: pd.DataFrame,
    scores: pd.DataFrame,
    participants: pd.DataFrame,
    *,
    cohort: Mapping[str, Any],
    programme: str,
    alpha: float,
    min_cell_size: int,
    outcomes: list[str] | None = None,
) -> pd.DataFrame:
    """The ``meta.csv`` rows of one cohort, from its own outputs.

    Parameters
    ----------
    effects, scores, participants
        The cohort's ``effects.csv``, ``scores.csv`` and ``participants.csv``.
    cohort
        ``cohort, site, year, country, randomised, timepoints, intervention, control,
        instrument_versions`` (a :class:`~balint_analysis.programme.config.ProgrammeCohort`
        as a mapping).
    programme
        The programme's name.
    alpha
        The cohort's ``analysis.alpha``: its CIs are ``1 - alpha`` intervals.
    min_cell_size
        ``k``: a statistic from fewer than ``k`` people is withheld (module docstring).
    outcomes
        ``instrument.scale`` keys to keep (None: all).

    Returns
    -------
    DataFrame
        :data:`META_CSV_COLUMNS`, one row per outcome x post-baseline timepoint.
    """
    timepoints = list(cohort["timepoints"])
    intervention, control = cohort["intervention"], cohort["control"]
    frame = effects.copy()
    if outcomes is not None:
        keys = frame["instrument"].astype(str) + "." + frame["scale"].astype(str)
        frame = frame[keys.isin(outcomes)]
    base = baseline_summary(scores, baseline=timepoints[0], intervention=intervention,
                            control=control)  # fmt: skip
    frame = frame.merge(base, on=["instrument", "scale"], how="left")
    enrolled = participants["group"].astype(str).value_counts()
    n_enrolled_i = int(enrolled.get(intervention, 0))
    n_enrolled_c = int(enrolled.get(control, 0)) if control is not None else np.nan
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for r in frame.to_dict("records"):
        t = stats.t.ppf(1 - alpha / 2, r["df"]) if pd.notna(r.get("df")) else float("nan")
        estimable = bool(r.get("estimable")) and pd.notna(r.get("estimate"))
        row = {
            "programme": programme, "cohort": cohort["cohort"], "site": cohort["site"],
            "year": cohort.get("year"), "country": cohort.get("country"),
            "instrument": r["instrument"],
            "instrument_version": cohort["instrument_versions"].get(r["instrument"], ""),
            "scale": r["scale"], "timepoint": r["timepoint"],
            "primary_timepoint": bool(r.get("primary_timepoint")), "role": r.get("role"),
            "design": r.get("design"), "randomised": bool(cohort["randomised"]),
            "n_clusters": _n_clusters(participants, intervention),
            "n_timepoints": len(timepoints), "n_enrolled_intervention": n_enrolled_i,
            "n_enrolled_control": n_enrolled_c, "n_intervention": r.get("n_intervention"),
            "n_control": r.get("n_control"),
            "n_baseline_intervention": r.get("n_baseline_intervention"),
            "n_baseline_control": r.get("n_baseline_control"),
            "attrition_intervention": _attrition(r.get("n_intervention"), n_enrolled_i),
            "attrition_control": _attrition(r.get("n_control"), n_enrolled_c),
            "baseline_difference": r.get("baseline_difference"),
            "estimate": r.get("estimate"), "se": r.get("se"), "ci_low": r.get("ci_low"),
            "ci_high": r.get("ci_high"), "df": r.get("df"), "p_value": r.get("p_value"),
            "yi_smd": r.get("d_model"),
            "vi_smd": _half_width_variance(r.get("d_model_ci_low"), r.get("d_model_ci_high"), t),
            "smd_measure": SMD_MEASURE, "d_ppc2": r.get("d_ppc2"),
            "vi_d_ppc2": _half_width_variance(r.get("d_ci_low"), r.get("d_ci_high"), z),
            "alpha": alpha, "estimable": estimable,
            "reason": "" if estimable else (r.get("reason") or "not estimated in the cohort"),
        }  # fmt: skip
        _withhold_small(row, min_cell_size, single_arm=control is None)
        rows.append(row)
    return pd.DataFrame(rows, columns=META_CSV_COLUMNS)


def _attrition(n_analysed: Any, n_enrolled: Any) -> float:
    """Share of the arm's enrolled participants not analysed at the timepoint."""
    n_analysed = pd.to_numeric(n_analysed, errors="coerce")
    if pd.isna(n_analysed) or pd.isna(n_enrolled) or n_enrolled <= 0:
        return float("nan")
    return float(1.0 - n_analysed / n_enrolled)


def _withhold_small(row: dict[str, Any], k: int, *, single_arm: bool) -> None:
    """Disclosure control of one row (module docstring), in place."""
    arms = ["n_intervention"] if single_arm else ["n_intervention", "n_control"]
    if any(too_small(row[a], k) for a in arms) and row["estimable"]:
        for name in _EFFECT_FIELDS:
            row[name] = np.nan
        row["estimable"] = False
        row["reason"] = (f"withheld: fewer than {k} participants analysed in an arm "
                         "(disclosure control)")  # fmt: skip
    base = ["n_baseline_intervention"] if single_arm else ["n_baseline_intervention",
                                                           "n_baseline_control"]
    if any(too_small(row[a], k) for a in base):
        row["baseline_difference"] = np.nan
