"""Tables and the forest figure of the programme report (values in, display rows out).

Every count of people goes through :mod:`balint_analysis.report.disclosure` with the strictest
minimum cell size of the programme's cohorts: arm sizes of 1 to k − 1 read "<k", attrition shares
that stand for such a count read "<k answers", and a cohort estimate whose arm is smaller than k is
neither tabulated nor drawn. Links to the cohort reports are kept only when they are relative
paths (a report must open from a copied folder and never point to the network).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from balint_analysis.programme.report_text import Outcome
from balint_analysis.report.disclosure import STATISTIC_LABEL, n_label, share_label, too_small
from balint_analysis.report.text import fmt, fmt_ci, fmt_int, is_missing, tp_label, truth

__all__ = [
    "all_outcome_rows",
    "cohort_label",
    "cohort_rows",
    "forest_figure",
    "leave_one_out_rows",
    "provenance_rows",
    "relative_link",
]


_ARMS = ("intervention", "control")


def _get(d: Mapping[str, Any], *keys: str) -> Any:
    """The first present, non-missing value of ``keys`` in ``d`` (dotted keys look inside)."""
    for key in keys:
        v: Any = d
        for part in key.split("."):
            v = v.get(part) if isinstance(v, Mapping) else None
        if v is not None and not (isinstance(v, (str, float)) and is_missing(v)):
            return v
    return None


def relative_link(path: Any) -> str | None:
    """``path`` as a relative POSIX link, or None when it is absolute, has a scheme or is empty."""
    if is_missing(path):
        return None
    text = str(path).strip()
    if re.match(r"^[a-zA-Z][\w+.-]*:", text) or text.startswith(("/", "\\", "~")) or "\\" in text:
        return None
    return str(PurePosixPath(text))


def cohort_label(row: Mapping[str, Any]) -> str:
    """A cohort's display name: ``site year`` when both are known, else the cohort's name."""
    row = dict(row)  # a pandas row too
    site, year = _get(row, "site"), _get(row, "year")
    if site is not None and year is not None:
        return f"{site} {fmt_int(year)}"
    return str(_get(row, "cohort", "name") or "cohort")


def _small_arm(row: Mapping[str, Any], min_cell: int) -> bool:
    """An arm of fewer than k people: the cohort's own statistics are not shown."""
    return any(too_small(row.get(c), min_cell) for c in ("n_intervention", "n_control"))


def _design_words(row: Mapping[str, Any]) -> str:
    design = str(_get(row, "design") or "").replace("_", " ")
    if "single" in design:
        return "single-arm (no comparison group)"
    randomised = truth(row.get("randomised"))
    if randomised is None:
        return design or "not recorded"
    return "randomised" if randomised else "non-randomised"


def forest_figure(
    studies: pd.DataFrame,
    pooled: Mapping[str, Any],
    one_stage: Mapping[str, Any] | None,
    outcome: Outcome,
    measure: str,
    level: str,
    min_cell: int,
) -> str:
    """The forest plot (inline SVG) of the cohorts' effects, the pooled diamond and its PI.

    Cohorts with an arm below the minimum cell size are left out of the drawing (the table below
    it names them); cohorts without an estimate are listed as not estimable. Below three cohorts
    no prediction interval is drawn (the between-site spread cannot be estimated reliably).
    """
    from balint_analysis.programme.forest import forest_plot_svg

    frame = pd.DataFrame([dict(r) for _, r in studies.iterrows()])
    if frame.empty:
        return ""
    if measure == "smd":
        frame["yi"], frame["vi"] = frame["yi_smd"].astype(float), frame["vi_smd"].astype(float)
    else:
        frame["yi"], frame["vi"] = frame["estimate"].astype(float), frame["se"].astype(float) ** 2
    half = 1.959963984540054 * frame["vi"] ** 0.5
    if measure == "smd" or "ci_low" not in frame:
        frame["lo"], frame["hi"] = frame["yi"] - half, frame["yi"] + half
    else:  # the cohort's own (Satterthwaite t) interval, as its report shows it
        frame["lo"], frame["hi"] = frame["ci_low"].astype(float), frame["ci_high"].astype(float)
    frame = frame[[not _small_arm(r, min_cell) for _, r in frame.iterrows()]].copy()
    frame["label"] = [cohort_label(r) for _, r in frame.iterrows()]
    drawn = dict(pooled)
    if is_missing(pooled.get("k")) or float(pooled["k"]) < 3:
        drawn["pi_low"] = drawn["pi_high"] = math.nan
    unit = "points" if measure == "difference_in_change" else "standardised units"
    favours = ("favours Balint", "favours comparison")
    if outcome.direction == "higher_is_better":
        favours = favours[::-1]
    svg = forest_plot_svg(
        frame.reset_index(drop=True), drawn, label="label", yi="yi", ci_low="lo", ci_high="hi",
        title=f"{outcome.label} at {outcome.timepoint}: effect per cohort and pooled ({level} CI)",
        xlabel=f"Difference in change ({unit})",
        ipd=dict(one_stage) if one_stage is not None and measure != "smd" else None,
        favours=favours,
    )  # fmt: skip
    # Inline SVG needs no namespace declarations; dropping them keeps the page free of URLs.
    return re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", svg)


def cohort_rows(
    meta: pd.DataFrame, cohorts: Sequence[Mapping[str, Any]], min_cell: int
) -> list[dict[str, Any]]:
    """One display row per cohort: design strength, clusters, n and attrition per arm, effect.

    Parameters
    ----------
    meta : DataFrame
        ``meta.csv`` rows of the primary outcome and timepoint (one per cohort).
    cohorts : sequence of Mapping
        ``cohorts.json`` entries (order of the programme config).
    min_cell : int
        Minimum cell size k.
    """
    by_name = {str(r["cohort"]): r.to_dict() for _, r in meta.iterrows()} if len(meta) else {}
    names = [str(_get(c, "name", "cohort")) for c in cohorts] or list(by_name)
    info = {str(_get(c, "name", "cohort")): c for c in cohorts}
    rows = []
    for name in names:
        c = info.get(name, {})
        r = {**c, **by_name.get(name, {}), "cohort": name}
        small = _small_arm(r, min_cell)
        estimable = truth(r.get("estimable")) is not False and not is_missing(r.get("estimate"))
        effect = (STATISTIC_LABEL if small else
                  f"{fmt(r['estimate'])} ({fmt_ci(r.get('ci_low'), r.get('ci_high'))})"
                  if estimable else "not estimable")  # fmt: skip
        rows.append({
            "name": name,
            "label": cohort_label(r),
            "link": relative_link(_get(c, "report", "report_path")),
            "country": str(_get(r, "country") or ""),
            "design": _design_words(r),
            "clusters": fmt_int(_get(r, "n_clusters")),
            "timepoints": fmt_int(_get(r, "n_timepoints")),
            "n": f"{n_label(r.get('n_intervention'), min_cell)} / "
                 f"{n_label(r.get('n_control'), min_cell)}",
            "attrition": " / ".join(
                share_label(r.get(f"attrition_{arm}"),
                            _get(r, f"n_enrolled_{arm}", f"n_baseline_{arm}"), min_cell)
                .replace(" answers", " people")  # attrition counts people, not answers
                for arm in _ARMS
            ),  # fmt: skip
            "baseline": STATISTIC_LABEL
            if small or any(too_small(r.get(f"n_baseline_{a}"), min_cell) for a in _ARMS)
            else fmt(r.get("baseline_difference"), 2),
            "effect": effect,
            "note": "" if estimable else str(r.get("reason") or ""),
        })  # fmt: skip
    return rows


def leave_one_out_rows(
    loo: pd.DataFrame, pooled: Mapping[str, Any], unit: str, labels: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    """The pooled result without each cohort in turn, and whether the conclusion changes.

    ``labels`` maps a cohort's name (the ``omitted`` column) to its display label.
    """
    labels = labels or {}
    digits = 2 if unit == "SD" else 1

    def excludes_zero(r: Mapping[str, Any]) -> bool | None:
        lo, hi = r.get("ci_low"), r.get("ci_high")
        return None if is_missing(lo) or is_missing(hi) else (float(lo) > 0 or float(hi) < 0)

    full = excludes_zero(pooled)
    out = []
    for _, r in loo.iterrows():
        this = excludes_zero(r)
        out.append({
            "omitted": labels.get(str(r.get("omitted")), str(r.get("omitted"))),
            "estimate": fmt(r.get("estimate"), digits),
            "ci": fmt_ci(r.get("ci_low"), r.get("ci_high"), digits),
            "tau": fmt(r.get("tau"), digits),
            "i2": "—" if is_missing(r.get("i2")) else f"{float(r['i2']):.0f}%",
            "changes": "—" if this is None or full is None else ("yes" if this != full else "no"),
        })  # fmt: skip
    return out


def provenance_rows(cohorts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per cohort: config, run date, key fingerprint, software versions and the report link."""
    rows = []
    for c in cohorts:
        versions = _get(c, "software", "versions", "provenance.versions") or {}
        rows.append({
            "name": str(_get(c, "name", "cohort")),
            "config": str(_get(c, "config", "config_path") or "—"),
            "run_date": str(_get(c, "run_date", "provenance.run_date", "date") or ""),
            "fingerprint": str(_get(c, "key_fingerprint", "pseudonymisation.key_fingerprint")
                               or "—"),  # fmt: skip
            "versions": ", ".join(f"{k} {v}" for k, v in sorted(dict(versions).items())) or "—",
            "outputs": [
                {"file": str(f), "sha256": str(h)}
                for f, h in sorted(dict(_get(c, "outputs") or {}).items())
            ],
            "link": relative_link(_get(c, "report", "report_path")),
        })  # fmt: skip
    return rows


def all_outcome_rows(
    meta_analysis: pd.DataFrame,
    measure: str,
    labels: Mapping[str, str],
    primary: tuple[str, str, str],
) -> list[dict[str, str]]:
    """Every pooled outcome × timepoint of one measure: k, estimate, CI, PI, τ and I².

    ``labels`` maps ``"instrument.scale"`` to a display label; ``primary`` (instrument, scale,
    timepoint) is marked. The prediction interval is left out below three cohorts.
    """
    digits = 2 if measure == "smd" else 1
    rows = []
    frame = meta_analysis[meta_analysis["measure"].astype(str) == measure]
    for _, r in frame.iterrows():
        key = f"{r['instrument']}.{r['scale']}"
        k = 0 if is_missing(r.get("k")) else int(float(r["k"]))
        rows.append({
            "outcome": labels.get(key, key),
            "timepoint": tp_label(str(r["timepoint"])),
            "primary": (str(r["instrument"]), str(r["scale"]), str(r["timepoint"])) == primary,
            "k": str(k),
            "estimate": fmt(r.get("estimate"), digits),
            "ci": fmt_ci(r.get("ci_low"), r.get("ci_high"), digits),
            "pi": fmt_ci(r.get("pi_low"), r.get("pi_high"), digits) if k >= 3 else "—",
            "tau": fmt(r.get("tau"), digits) if k >= 3 else "—",
            "i2": "—" if k < 3 or is_missing(r.get("i2")) else f"{float(r['i2']):.0f}%",
            "note": "" if is_missing(r.get("reason")) else str(r["reason"]),
        })  # fmt: skip
    return rows
