"""The pooled stage's computations, on the cohorts' outputs already read (pure functions).

:func:`pool_programme` builds ``meta.csv`` (:mod:`.dataset`), runs the two-stage
meta-analysis and its leave-one-out table per outcome x timepoint x effect measure
(:mod:`.meta_analysis`), the one-stage model (:mod:`.ipd`) and the per-cohort provenance of
``cohorts.json``. Nothing is refitted per cohort: the cohort's ``effects.csv`` is its result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from balint_analysis.programme.config import Programme, ProgrammeCohort
from balint_analysis.programme.dataset import SMD_MEASURE, cohort_meta_rows
from balint_analysis.project import CohortPaths

__all__ = ["MEASURES", "cohort_record", "pool_programme", "pooled_outcomes", "report_settings"]

#: ``measure`` values of ``meta_analysis.csv`` and ``leave_one_out.csv``: meta.csv columns
#: holding the effect and its sampling variance.
MEASURES = {"difference_in_change": ("estimate", "se2"), "smd": ("yi_smd", "vi_smd")}
_BY = ["instrument", "scale", "timepoint"]
#: Canonical arm labels of the one-stage model (cohorts may name their arms differently).
_ARMS = ("intervention", "control")


def pooled_outcomes(programme: Programme, effects: Mapping[str, pd.DataFrame]) -> list[str]:
    """``programme.outcomes``, else every ``instrument.scale`` that two or more cohorts report
    (one cohort alone has nothing to be pooled with)."""
    if programme.outcomes:
        return list(programme.outcomes)
    counts: dict[str, int] = {}
    for frame in effects.values():
        keys = frame["instrument"].astype(str) + "." + frame["scale"].astype(str)
        for key in dict.fromkeys(keys):
            counts[key] = counts.get(key, 0) + 1
    return [k for k, n in counts.items() if n >= 2 or len(effects) == 1]


def _cohort_mapping(c: ProgrammeCohort) -> dict[str, Any]:
    return {"cohort": c.cohort, "site": c.site, "year": c.year, "country": c.country,
            "randomised": c.randomised, "timepoints": c.timepoints,
            "intervention": c.intervention, "control": c.control,
            "instrument_versions": c.instrument_versions}  # fmt: skip


def _meta_tables(meta: pd.DataFrame, alpha: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``meta_analysis.csv`` and ``leave_one_out.csv``: both measures, estimable rows only."""
    from balint_analysis.programme.meta_analysis import leave_one_out, meta_analyse

    usable = meta[meta["estimable"].astype(bool)].assign(se2=lambda f: f["se"] ** 2)
    pooled, omitted = [], []
    for measure, (yi, vi) in MEASURES.items():
        rows = usable.dropna(subset=[yi, vi]).assign(yi=lambda f, c=yi: f[c],
                                                     vi=lambda f, c=vi: f[c])  # fmt: skip
        # every outcome x timepoint of meta.csv gets a row, even with no estimable cohort
        keys = meta[_BY].drop_duplicates()
        result = meta_analyse(rows, by=_BY, alpha=alpha) if len(rows) else None
        table = keys.merge(result, on=_BY, how="left") if result is not None else keys.copy()
        pooled.append(table.assign(measure=measure))
        if len(rows):
            omitted.append(leave_one_out(rows, by=_BY, alpha=alpha).assign(measure=measure))
    meta_analysis = pd.concat(pooled, ignore_index=True)
    meta_analysis["reason"] = meta_analysis["reason"].fillna(
        "no cohort has an estimable effect here, so there is nothing to pool")
    loo = pd.concat(omitted, ignore_index=True) if omitted else pd.DataFrame(
        columns=[*_BY, "omitted", "measure"])  # fmt: skip
    return meta_analysis, loo


def _ipd_inputs(programme: Programme, outputs: Mapping[str, Mapping[str, Any]],
                keep: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:  # fmt: skip
    """All two-arm cohorts' scores and rosters with ``cohort``/``site``, arms relabelled
    ``intervention``/``control`` and each cohort's baseline relabelled to the first
    cohort's, so that one model reads them all; the timepoints in order."""
    scores, rosters, timepoints = [], [], []
    two_arm = [c for c in programme.cohorts if c.control is not None]
    baseline = two_arm[0].timepoints[0] if two_arm else None
    for c in two_arm:
        arm = {c.intervention: _ARMS[0], c.control: _ARMS[1]}
        times = {c.timepoints[0]: baseline}
        s = outputs[c.cohort]["scores"]
        s = s[(s["instrument"].astype(str) + "." + s["scale"].astype(str)).isin(keep)]
        s = s.assign(cohort=c.cohort, site=c.site, group=s["group"].astype(str).map(arm),
                     timepoint=s["timepoint"].astype(str).replace(times))  # fmt: skip
        scores.append(s[s["group"].notna()])
        p = outputs[c.cohort]["participants"]
        rosters.append(p.assign(cohort=c.cohort, group=p["group"].astype(str).map(arm)))
        for t in [baseline, *c.timepoints[1:]]:
            if t not in timepoints:
                timepoints.append(t)
    if not scores:
        return pd.DataFrame(), pd.DataFrame(), timepoints
    return pd.concat(scores, ignore_index=True), pd.concat(rosters, ignore_index=True), timepoints


def _ipd_table(programme: Programme, outputs: Mapping[str, Mapping[str, Any]],
               keep: list[str]) -> pd.DataFrame:  # fmt: skip
    from balint_analysis.programme.ipd import IPD_COLUMNS, one_stage_model

    scores, rosters, timepoints = _ipd_inputs(programme, outputs, keep)
    if scores.empty:
        return pd.DataFrame(columns=IPD_COLUMNS)
    return one_stage_model(scores, rosters, timepoints=timepoints, intervention=_ARMS[0],
                           control=_ARMS[1], alpha=programme.alpha,
                           standardise=programme.pool_standardised)  # fmt: skip


def cohort_record(programme: Programme, c: ProgrammeCohort, out: Mapping[str, Any],
                  fingerprints: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One cohort's entry of ``cohorts.json``: labels, where its report is (relative to the
    programme report), key fingerprint, run provenance, design, flow per arm."""
    from balint_analysis.programme.stage import ProgrammePaths

    flow, models = out["flow"], out["models"]
    pseudo = out["pseudonymisation"]
    participants = flow.get("participants", {})
    enrolled = participants.get("enrolled", {})
    observed = participants.get("observed", {})
    arms = [a for a in (c.intervention, c.control) if a is not None]
    base = c.timepoints[0]
    attrition = {}
    for arm in arms:
        start = enrolled.get(arm) or observed.get(arm, {}).get(base)
        seen = observed.get(arm, {})
        # unknown (no count in flow.json) stays unknown, never "everyone left"
        attrition[arm] = {t: 1 - seen[t] / start if start and seen.get(t) is not None else None
                          for t in c.timepoints[1:]}  # fmt: skip
    report = CohortPaths(c.cohort).report
    here = ProgrammePaths(programme.name).report.parent
    designs = sorted({o.get("design") for o in models.get("outcomes", []) if o.get("design")})
    return {
        "name": c.cohort, "site": c.site, "year": c.year, "country": c.country,
        "title": c.title, "config": c.config,
        "report": os.path.relpath(report, here).replace(os.sep, "/"),
        "key_fingerprint": pseudo.get("key_fingerprint"),
        "demo_key_used": bool(pseudo.get("demo_key_used")),
        "software": models.get("software", {}), "min_cell_size": c.min_cell_size,
        "alpha": models.get("settings", {}).get("alpha"),
        "primary": models.get("settings", {}).get("primary"),
        "primary_timepoint": models.get("settings", {}).get("primary_timepoint"),
        "design": designs[0] if len(designs) == 1 else ", ".join(designs),
        "randomised": c.randomised, "timepoints": list(c.timepoints),
        "arms": {"intervention": c.intervention, "control": c.control},
        "enrolled": {a: enrolled.get(a) for a in arms},
        "observed": {a: observed.get(a, {}) for a in arms},
        "attrition": attrition, "outputs": dict(fingerprints or {}),
    }  # fmt: skip


def report_settings(programme: Programme, instruments: Mapping[str, Any] | None = None) -> dict:
    """The report's settings: the programme section plus the primary outcome, the measure
    shown first, the strictest minimum cell size and outcome labels/directions."""
    settings = programme.settings()
    primary = programme.primary_outcome
    if primary:
        instrument, scale = primary.split(".", 1)
        settings["primary"] = {"instrument": instrument, "scale": scale,
                               **({"timepoint": programme.primary_timepoint}
                                  if programme.primary_timepoint else {})}  # fmt: skip
    settings["measure"] = "smd" if programme.pool_standardised else "difference_in_change"
    settings["min_cell_size"] = programme.disclosure_k
    settings["smd_measure"] = SMD_MEASURE
    labels, directions = {}, {}
    for inst in (instruments or {}).values():
        for sid, scale in inst.scales.items():
            labels[f"{inst.id}.{sid}"] = f"{scale.label} ({inst.name})"
            directions[f"{inst.id}.{sid}"] = scale.direction
    settings["labels"], settings["directions"] = labels, directions
    return settings


def pool_programme(programme: Programme, outputs: Mapping[str, Mapping[str, Any]],
                   fingerprints: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """Every pooled file's content from the cohorts' outputs.

    Parameters
    ----------
    programme
        The programme.
    outputs
        Per cohort name: ``effects, scores, participants`` frames and ``flow, models,
        pseudonymisation`` mappings (:func:`.stage.read_cohort_outputs`).
    fingerprints
        Per cohort: SHA-256 of the files read (recorded in ``cohorts.json``).

    Returns
    -------
    dict
        ``meta, meta_analysis, leave_one_out, ipd`` frames and ``cohorts`` (JSON-ready).
    """
    keep = pooled_outcomes(programme, {k: v["effects"] for k, v in outputs.items()})
    rows = []
    for c in programme.cohorts:
        out = outputs[c.cohort]
        alpha = out["models"].get("settings", {}).get("alpha", 0.05)
        rows.append(cohort_meta_rows(out["effects"], out["scores"], out["participants"],
                                     cohort=_cohort_mapping(c), programme=programme.name,
                                     alpha=float(alpha), min_cell_size=programme.disclosure_k,
                                     outcomes=keep))  # fmt: skip
    meta = pd.concat(rows, ignore_index=True)
    meta_analysis, loo = _meta_tables(meta, programme.alpha)
    cohorts = {
        "programme": {"name": programme.name, "title": programme.title,
                      "min_cell_size": programme.disclosure_k, "alpha": programme.alpha,
                      "outcomes": keep, "smd_measure": SMD_MEASURE},
        "cohorts": [cohort_record(programme, c, outputs[c.cohort],
                                  (fingerprints or {}).get(c.cohort)) for c in programme.cohorts],
    }  # fmt: skip
    ipd = _ipd_table(programme, outputs, keep)
    return {"meta": meta, "meta_analysis": meta_analysis, "leave_one_out": loo, "ipd": ipd,
            "cohorts": cohorts}  # fmt: skip
