"""Sensitivity analyses and dose–response, from the model stage's optional side files.

``sensitivity.csv`` (one row per outcome × timepoint × analysis) is shown per outcome with the
analyses side by side, so a reader sees at once whether the answer depends on the modelling
choices. ``dose.csv`` (one row per outcome × timepoint) is the observational association between
sessions attended and change among Balint participants. Either file may be absent (an older run):
the sections then say so instead of failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.disclosure import STATISTIC_LABEL, n_label, too_small
from balint_analysis.report.text import (
    DesignInfo,
    ScaleInfo,
    fmt,
    fmt_ci,
    fmt_int,
    fmt_p,
    is_missing,
    tp_label,
    truth,
)

__all__ = [
    "ANALYSES",
    "ancillary_limitations",
    "ancillary_paragraphs",
    "dose_section",
    "response_dates",
    "safe_note",
    "sensitivity_caveat",
    "sensitivity_section",
]

#: Analysis id → (label, short explanation), in display order.
ANALYSES: dict[str, tuple[str, str]] = {
    "primary_lmm": (
        "Primary: mixed model, all available answers",
        "the analysis reported above",
    ),
    "ancova": (
        "ANCOVA: later score adjusted for baseline",
        "compares the groups' scores at the timepoint, adjusted for their baseline score",
    ),
    "complete_case_lmm": (
        "Mixed model, complete cases only",
        "only participants who answered at every timepoint",
    ),
    "lmm_without_cluster": (
        "Mixed model without the Balint-group effect",
        "ignores that Balint participants meet in groups",
    ),
    "lmm_residual_by_arm": (
        "Mixed model, residual variance per arm",
        "lets answers vary more in one arm than the other",
    ),
    "lmm_without_fuzzy_links": (
        "Mixed model without fuzzy code links",
        "leaves out answers joined to a participant only by tolerant matching of retyped codes",
    ),
    "mi_mar": (
        "Multiple imputation, missing at random",
        "drop-outs' missing answers filled in many times from the model, results pooled",
    ),
    "mi_jump_to_reference": (
        "Multiple imputation, jump to reference",
        "Balint drop-outs' missing answers imputed as if they had been in the comparison group",
    ),
    "mi_delta_balint": (
        "Multiple imputation, Balint drop-outs worse",
        "a stress test, not an estimate: see “Could drop-out explain the result?”",
    ),
}
#: Stress tests shown in the table but left out of the agreement summaries.
STRESS_TESTS = ("mi_delta_balint",)


def safe_note(note: str, small: bool, min_cell: int) -> str:
    """A model note, without its numbers when the row describes an arm of fewer than k people.

    Notes can carry per-arm statistics (the residual SD of each arm) or counts; a row with a
    suppressed cell shows no number from its note, only that details were withheld.
    """
    if not small or not any(ch.isdigit() for ch in note):
        return note
    return f"details withheld: an arm has fewer than {min_cell} people"


def plain_note(note: str) -> str:
    """A model-stage note with analysis ids in words ("same as primary_lmm" → "same as the
    primary analysis")."""
    for analysis, (label, _) in ANALYSES.items():
        name = (
            "the primary analysis" if analysis == "primary_lmm" else label[:1].lower() + label[1:]
        )
        note = re.sub(rf"\b{analysis}\b", name, note)
    return note


def _label(analysis: str) -> str:
    return ANALYSES.get(analysis, (analysis.replace("_", " ").capitalize(), ""))[0]


def _order(tps: Sequence[str]) -> dict[str, int]:
    return {t: i for i, t in enumerate(tps)}


def _ns(r: Mapping[str, Any], single_arm: bool, min_cell: int) -> str:
    def one(n: Any) -> str:
        return n_label(n, min_cell)

    return one(r.get("n_intervention")) + ("" if single_arm else f" / {one(r.get('n_control'))}")


def _cell(r: Mapping[str, Any], single_arm: bool, min_cell: int) -> dict[str, str]:
    """One analysis at one timepoint: estimate, CI, p, n, and a status."""
    small = any(
        too_small(r.get(c), min_cell)
        for c in (("n_intervention",) if single_arm else ("n_intervention", "n_control"))
    )
    base = {"n": _ns(r, single_arm, min_cell), "est": "", "ci": "", "p": ""}
    if small:
        return {**base, "status": "suppressed", "est": STATISTIC_LABEL}
    if truth(r.get("converged")) is False:
        return {**base, "status": "failed", "est": "did not converge"}
    if is_missing(r.get("estimate")):
        return {**base, "status": "failed", "est": "not estimated"}
    return {
        **base,
        "status": "ok",
        "est": fmt(r.get("estimate")),
        "ci": fmt_ci(r.get("ci_low"), r.get("ci_high")),
        "p": fmt_p(r.get("p_value")),
    }


def _same_direction(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every shown analysis points the same way as the primary one (True if < 2)."""
    ok = [r for r in rows if r["_status"] == "ok"]
    ests = [float(r["estimate"]) for r in ok]
    prim = next((float(r["estimate"]) for r in ok if r["analysis"] == "primary_lmm"), None)
    ref = prim if prim is not None else (ests[0] if ests else 0.0)
    return len(ok) < 2 or all((e < 0) == (ref < 0) for e in ests if e != 0)


def _agreement(rows: Sequence[Mapping[str, Any]], t: str, level: str) -> str:
    """Plain words: do the analyses agree at timepoint ``t``?"""
    ok = [r for r in rows if r["_status"] == "ok"]
    if len(ok) < 2:
        return ""
    ests = [float(r["estimate"]) for r in ok]
    same = _same_direction(rows)
    excl = sum(
        1
        for r in ok
        if not is_missing(r.get("ci_low"))
        and not is_missing(r.get("ci_high"))
        and (float(r["ci_low"]) > 0 or float(r["ci_high"]) < 0)
    )
    s = (
        f"At {tp_label(t)}, the {len(ok)} analyses give estimates from {fmt(min(ests))} to "
        f"{fmt(max(ests))} points"
    )
    s += (
        "; all point in the same direction as the primary analysis"
        if same
        else "; they do not all point in the same direction, so the answer depends on the "
        "analysis choices"
    )
    return s + f". Confidence intervals ({level}) that exclude zero: {excl} of {len(ok)}."


def sensitivity_section(
    sens: pd.DataFrame,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    timepoints: Sequence[str],
    design: DesignInfo,
    min_cell: int,
    level: str,
) -> dict[str, Any]:
    """Per outcome: a table with one row per analysis and one column per later timepoint."""
    if not len(sens) or not {"instrument", "scale", "timepoint", "analysis"} <= set(sens):
        return {"available": False, "outcomes": [], "analyses": []}
    tpo = _order(timepoints)
    outcomes = []
    for inst, scale in order:
        sel = sens[(sens["instrument"] == inst) & (sens["scale"] == scale)]
        if not len(sel):
            continue
        tps = sorted({str(t) for t in sel["timepoint"]}, key=lambda t: (tpo.get(t, 99), t))
        known = [a for a in ANALYSES if a in set(sel["analysis"])]
        analyses = known + sorted(set(map(str, sel["analysis"])) - set(known))
        rows, records = [], []
        for a in analyses:
            cells, notes = [], []
            for t in tps:
                r = sel[(sel["analysis"] == a) & (sel["timepoint"].astype(str) == t)]
                if not len(r):
                    cells.append({"status": "none", "est": "—", "ci": "", "p": "", "n": ""})
                    continue
                rec = r.iloc[0].to_dict()
                c = _cell(rec, design.single_arm, min_cell)
                cells.append(c)
                if a not in STRESS_TESTS:
                    records.append({**rec, "_status": c["status"], "timepoint": t})
                note = rec.get("note")
                if not is_missing(note) and plain_note(str(note)) not in notes:
                    notes.append(plain_note(str(note)))
            small = any(c["status"] == "suppressed" for c in cells)
            rows.append(
                {
                    "label": _label(a),
                    "explain": ANALYSES.get(a, ("", ""))[1],
                    "primary": a == "primary_lmm",
                    "cells": cells,
                    "notes": safe_note("; ".join(notes), small, min_cell),
                }
            )
        at = {t: [x for x in records if x["timepoint"] == t] for t in tps}
        summary = [s for s in (_agreement(at[t], t, level) for t in tps) if s]
        split = [t for t in tps if not _same_direction(at[t])]
        spread = ""
        if split:
            ests = [float(x["estimate"]) for x in at[split[-1]] if x["_status"] == "ok"]
            spread = (
                f"at {tp_label(split[-1])}, the {len(ests)} analyses give estimates from "
                f"{fmt(min(ests))} to {fmt(max(ests))} points"
            )
        info = infos[(inst, scale)]
        outcomes.append(
            {
                "id": f"sens-{inst}-{scale}".replace("_", "-"),
                "title": f"{info.label} ({info.short_instrument})",
                "timepoints": [tp_label(t) for t in tps],
                "rows": rows,
                "summary": summary,
                "directions_disagree": bool(split),
                "disagreement": spread,
            }
        )
    known = list(ANALYSES)
    ran = sorted(
        set(map(str, sens["analysis"])),
        key=lambda a: (known.index(a) if a in known else len(known), a),
    )
    return {"available": True, "outcomes": outcomes, "analyses": [_label(a) for a in ran]}


def sensitivity_caveat(sens: Mapping[str, Any], outcome_id: str) -> list[str]:
    """A first-screen caveat when the main outcome's direction depends on the analysis."""
    for o in sens.get("outcomes", []):
        if o["id"] == outcome_id and o["directions_disagree"]:
            return [
                f"The answer depends on how it is analysed: {o['disagreement']}, not all in the "
                "same direction (see Sensitivity analyses)."
            ]
    return []


def dose_section(
    dose: pd.DataFrame,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    timepoints: Sequence[str],
    baseline: str,
    min_cell: int,
    level: str,
) -> dict[str, Any]:
    """Change from baseline per session attended, among Balint participants (observational)."""
    if not len(dose) or not {"instrument", "scale", "timepoint", "slope"} <= set(dose):
        return {"available": False, "rows": [], "sentence": "", "note": ""}
    tpo = _order(timepoints)
    rows, sentence = [], ""
    for inst, scale in order:
        sel = dose[(dose["instrument"] == inst) & (dose["scale"] == scale)]
        sel = sel.assign(_o=sel["timepoint"].map(lambda t: tpo.get(str(t), 99))).sort_values("_o")
        info = infos[(inst, scale)]
        for r in sel.to_dict("records"):
            hidden = too_small(r.get("n"), min_cell)
            ok = not hidden and not is_missing(r.get("slope"))
            rows.append(
                {
                    "outcome": info.label,
                    "timepoint": tp_label(str(r["timepoint"])),
                    "n": n_label(r.get("n"), min_cell),
                    "slope": STATISTIC_LABEL if hidden else fmt(r.get("slope"), 2),
                    "ci": fmt_ci(r.get("ci_low"), r.get("ci_high"), 2) if ok else "",
                    "p": fmt_p(r.get("p_value")) if ok else "",
                    "note": "" if is_missing(r.get("note")) else str(r["note"]),
                }
            )
        last = [r for r in sel.to_dict("records") if not too_small(r.get("n"), min_cell)]
        if not sentence and (inst, scale) == tuple(order[0]) and last:
            r = last[-1]
            if not is_missing(r.get("slope")):
                label = info.label[:1].lower() + info.label[1:]
                sentence = (
                    f"Among Balint participants with attendance recorded (n = {fmt_int(r['n'])}), "
                    f"each additional session attended went with a change in {label} of "
                    f"{fmt(r['slope'], 2)} points from {tp_label(baseline)} to "
                    f"{tp_label(str(r['timepoint']))} ({level} CI "
                    f"{fmt_ci(r.get('ci_low'), r.get('ci_high'), 2)}"
                    + (f"; {info.range_text}" if info.range_text else "")
                    + ")."
                )
    if not any(r["ci"] for r in rows):
        # Nothing to say: no attendance data, or every estimate withheld (small cells).
        return {"available": False, "rows": [], "sentence": "", "note": ""}
    notes = {r["note"] for r in rows}
    common = notes.pop() if len(notes) == 1 else ""
    if common:  # the same note on every row is said once, above the table
        for r in rows:
            r["note"] = ""
    return {"available": True, "rows": rows, "sentence": sentence, "note": common}


def response_dates(flow: Mapping[str, Any], timepoints: Sequence[str],
                   min_cell: int = 1) -> list[dict[str, str]]:  # fmt: skip
    """First and last response date per timepoint, when ``flow.json`` records them.

    Read from each file's optional ``submitted_by_timepoint``:
    ``{"pre": {"first": "2026-01-12", "last": "2026-02-03", "n": 57}}`` (dates only; per-person
    times stay out of the report). A span over fewer than ``min_cell`` responses is left out:
    its first or last date could point at one person. Returns an empty list when no file
    records dates.
    """
    spans: dict[str, list[str]] = {}
    for f in flow.get("files", []) or []:
        for t, span in (f.get("submitted_by_timepoint") or {}).items():
            if not isinstance(span, Mapping) or int(span.get("n", min_cell)) < min_cell:
                continue
            for k in ("first", "last"):
                if not is_missing(span.get(k)):
                    spans.setdefault(str(t), []).append(str(span[k])[:10])
    order = _order(timepoints)
    return [
        {"timepoint": tp_label(t), "first": min(v), "last": max(v)}
        for t, v in sorted(spans.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))
    ]


def ancillary_paragraphs(extra: Mapping[str, Any], design: DesignInfo, min_cell: int) -> list[str]:
    """Methods sentences for the ancillary analyses that actually ran (none for absent files)."""
    out = []
    sens = extra["sensitivity"]
    if sens["available"]:
        out.append(
            "Sensitivity analyses, shown beside the primary result: "
            + "; ".join(sens["analyses"])
            + ". They use the same data and differ only in the modelling choice named."
        )
    if extra["clinical"]["available"]:
        out.append(
            "Clinical meaning: for each participant observed at baseline and later, the "
            "Jacobson–Truax reliable change index divides the change by the standard error of "
            "the difference, s_diff = SD_baseline × √(2(1 − r)), with r the baseline Cronbach's "
            "alpha; a change beyond 1.96 × s_diff counts as reliable improvement or "
            "deterioration."
            + (
                " Movement across the instruments' published cut-off categories is counted from "
                "baseline to each later timepoint."
                if extra["cutoffs"]["available"]
                else ""
            )
        )
    if extra["dose"]["available"]:
        out.append(
            "Dose: among Balint participants with attendance recorded, the change from baseline "
            "was regressed on the number of sessions attended (an observational analysis)."
        )
    if extra["flags"]["available"]:
        out.append(
            "Safety item answers are reported only as counts per group and timepoint; counts "
            f"below {min_cell} are suppressed."
        )
    return out


def ancillary_limitations(extra: Mapping[str, Any]) -> list[str]:
    """Limitations that follow from the ancillary analyses."""
    out = []
    sens = extra["sensitivity"]
    split = [o["title"] for o in sens.get("outcomes", []) if o["directions_disagree"]]
    if split:
        out.append(
            "The direction of the effect depends on the analysis choices for: "
            + ", ".join(split)
            + " (see Sensitivity analyses)."
        )
    if not sens["available"]:
        out.append("No sensitivity analyses were available in this run.")
    if extra["dose"]["available"]:
        out.append(
            "The dose analysis is observational: participants who attended more sessions may "
            "differ in motivation, workload or baseline burnout, so it does not show that more "
            "sessions cause more change."
        )
    return out
