"""Aggregate the processed files into the report's tables (plain dicts of display strings).

Only aggregates leave this module: counts, means, SDs, CIs. Every count and statistic goes
through :mod:`balint_analysis.report.disclosure`: a statistic of fewer than ``min_cell_size``
people reads ``"suppressed"``; a count of 1..k − 1 reads ``"<k"``; the counts of a categorical
variable within an arm are protected together so no hidden count follows from the arm size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.disclosure import (
    SECONDARY,
    SECONDARY_LABEL,
    STATISTIC_LABEL,
    n_label,
    protect_line,
    too_small,
)
from balint_analysis.report.text import fmt, fmt_ci, fmt_int, is_missing, tp_label

__all__ = [
    "baseline_table",
    "data_quality",
    "flow_diagram",
    "numeric",
    "reliability_table",
    "suppressed",
]

#: Roster columns that are not covariates.
_ROSTER_META = ("participant", "group", "cluster", "sessions")
#: A categorical covariate with more levels than this is not tabulated (likely an id or text).
_MAX_LEVELS = 12


def suppressed(n: Any, min_cell: int) -> bool:
    """True when a cell describes fewer than ``min_cell`` (but a known number of) people.

    The rule lives in :func:`balint_analysis.report.disclosure.too_small`.
    """
    return too_small(n, min_cell)


def numeric(s: pd.Series) -> pd.Series:
    """Numeric view of a column (non-numbers become NaN)."""
    return pd.to_numeric(s, errors="coerce")


def _smd_cont(a: pd.Series, b: pd.Series) -> float:
    """Standardised mean difference (a − b) / sqrt((sd_a² + sd_b²) / 2)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan
    pooled = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    return (a.mean() - b.mean()) / pooled if pooled > 0 else math.nan


def _smd_prop(p: float, q: float) -> float:
    """Standardised difference of two proportions (Austin 2009)."""
    v = (p * (1 - p) + q * (1 - q)) / 2
    return (p - q) / math.sqrt(v) if v > 0 else math.nan


def flow_diagram(
    flow: Mapping[str, Any],
    scores: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    primary: tuple[str, str],
) -> dict[str, Any]:
    """Participant flow: exports → rows accepted/rejected → participants per arm per timepoint."""
    files = [f for f in flow.get("files", []) if f.get("kind", "export") == "export"]
    totals = flow.get("totals") or {}
    reasons: dict[str, int] = {}
    for f in files:
        for reason, n in (f.get("rejected_by_reason") or {}).items():
            reasons[str(reason)] = reasons.get(str(reason), 0) + int(n)
    parts = flow.get("participants") or {}
    enrolled = parts.get("enrolled") or {}
    observed = parts.get("observed") or {}
    analysed: dict[str, int] = {}
    if len(scores):
        sel = scores[
            (scores["instrument"] == primary[0])
            & (scores["scale"] == primary[1])
            & numeric(scores["score"]).notna()
        ]
        per_group = sel.groupby("group")["participant"].nunique()
        analysed = {str(g): int(n) for g, n in per_group.items()}
    arm_rows = []
    for label, name, role in arms:
        n_enr = enrolled.get(label)
        tps = []
        for t in timepoints:
            n_obs = (observed.get(label) or {}).get(t)
            missing = None if is_missing(n_enr) or is_missing(n_obs) else int(n_enr) - int(n_obs)
            tps.append(
                {"label": tp_label(t), "observed": fmt_int(n_obs), "missing": fmt_int(missing)}
            )
        arm_rows.append(
            {
                "name": name[:1].upper() + name[1:],
                "label": label,
                "role": role,
                "enrolled": fmt_int(n_enr),
                "timepoints": tps,
                "analysed": fmt_int(analysed.get(label)),
            }
        )
    roster = flow.get("roster") or {}
    balanced = all(
        int(f.get("rows_in", 0)) == int(f.get("rows_accepted", 0)) + int(f.get("rows_rejected", 0))
        for f in files
    )
    return {
        "n_files": len(files),
        "rows_in": fmt_int(totals.get("rows_in", sum(int(f.get("rows_in", 0)) for f in files))),
        "rows_accepted": fmt_int(
            totals.get("rows_accepted", sum(int(f.get("rows_accepted", 0)) for f in files))
        ),
        "rows_rejected": fmt_int(
            totals.get("rows_rejected", sum(int(f.get("rows_rejected", 0)) for f in files))
        ),
        "items_invalidated": fmt_int(totals.get("items_invalidated")),
        "reasons": sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        "roster_participants": fmt_int(roster.get("participants")) if roster else None,
        "arms": arm_rows,
        "balanced": balanced,
    }


def data_quality(flow: Mapping[str, Any], rejected: pd.DataFrame, limit: int = 40) -> dict:
    """Per-file formats/encodings/row accounting, and problems grouped by reason.

    Individual rejected rows (row numbers, raw values) stay in ``rejected.csv``; the report
    shows counts only.
    """
    files = []
    for f in list(flow.get("files", [])) + ([flow["roster"]] if flow.get("roster") else []):
        dropped = f.get("dropped_columns") or {}
        rows_in, acc, rej = f.get("rows_in"), f.get("rows_accepted"), f.get("rows_rejected")
        ok = None
        if not any(is_missing(x) for x in (rows_in, acc, rej)):
            ok = int(rows_in) == int(acc) + int(rej)
        files.append(
            {
                "source": str(f.get("source", "")),
                "kind": str(f.get("kind", "roster" if f is flow.get("roster") else "export")),
                "format": " / ".join(
                    str(x) for x in (f.get("format"), f.get("variant")) if not is_missing(x)
                )
                or "—",
                "encoding": str(f.get("encoding") or "—"),
                "delimiter": repr(f["delimiter"]) if f.get("delimiter") else "—",
                "timepoints": ", ".join(tp_label(t) for t in f.get("timepoints", []) or []) or "—",
                "rows_in": fmt_int(rows_in),
                "rows_accepted": fmt_int(acc if not is_missing(acc) else f.get("participants")),
                "rows_rejected": fmt_int(rej),
                "items_invalidated": fmt_int(f.get("items_invalidated")),
                "balanced": ok,
                "dropped": [
                    (kind, ", ".join(str(c) for c in cols))
                    for kind, cols in sorted(dropped.items())
                    if cols
                ],
            }
        )
    problems: list[dict[str, str]] = []
    more = 0
    if len(rejected):
        rej = rejected.copy()
        for c in ("source", "column", "reason", "action"):
            rej[c] = rej[c].fillna("").astype(str) if c in rej else ""
        g = (
            rej.groupby(["source", "column", "reason", "action"], sort=True)
            .size()
            .reset_index(name="n")
            .sort_values(
                ["n", "source", "column", "reason", "action"],
                ascending=[False, True, True, True, True],
                kind="mergesort",
            )
        )
        more = max(len(g) - limit, 0)
        problems = [
            {
                "source": r.source,
                "column": r.column or "(whole row)",
                "reason": r.reason,
                "action": r.action,
                "n": str(int(r.n)),
            }
            for r in g.head(limit).itertuples(index=False)
        ]
    return {"files": files, "problems": problems, "more": more, "n_problems": len(rejected)}


def _covariates(participants: pd.DataFrame) -> list[str]:
    return [c for c in participants.columns if c not in _ROSTER_META]


def _cont_row(
    label: str, values: Mapping[str, pd.Series], arms: Sequence[str], min_cell: int, digits: int
) -> dict[str, Any]:
    cells, hide = [], False
    for a in arms:
        v = values[a].dropna()
        if suppressed(len(v), min_cell):
            cells.append({"n": n_label(len(v), min_cell), "value": STATISTIC_LABEL})
            hide = True
        else:
            sd = fmt(v.std(ddof=1), digits) if len(v) > 1 else "—"
            cells.append({"n": str(len(v)), "value": f"{fmt(v.mean(), digits)} ({sd})"})
    smd = "—"
    if len(arms) == 2 and not hide:
        smd = fmt(_smd_cont(values[arms[0]].dropna(), values[arms[1]].dropna()), 2)
    return {"label": label, "cells": cells, "smd": smd, "flag": _flag(smd)}


def _flag(smd: str) -> bool:
    try:
        return abs(float(smd.replace("\u2212", "-"))) > 0.1
    except ValueError:
        return False


def _cat_rows(
    name: str, col: pd.DataFrame, arms: Sequence[str], min_cell: int,
    sizes: Mapping[str, int] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """n (%) per level and arm, protected per arm with :func:`protect_line`.

    An arm's levels and its participants without a value add up to the arm size shown in the
    table's header, so the count without a value is protected with them (never displayed).
    """
    levels = sorted(col["value"].dropna().astype(str).unique())
    counts = {a: col[col["group"] == a]["value"].dropna().astype(str) for a in arms}
    labels: dict[str, dict[str, str]] = {}
    for a in arms:
        n_lv = [int((counts[a] == lv).sum()) for lv in levels]
        unknown = max((sizes or {}).get(a, len(counts[a])) - len(counts[a]), 0)
        prot = protect_line([*n_lv, unknown], min_cell)
        # percentages of the group size shown in the header: a percentage of those with a
        # value would give away how many have none, and with it a hidden count
        shown = prot.labels([*n_lv, unknown], min_cell, len(counts[a]) + unknown)[: len(levels)]
        labels[a] = dict(zip(levels, shown, strict=True))
    rows = []
    for lv in levels:
        cells = [{"n": "", "value": labels[a][lv]} for a in arms]
        hide = any(c["value"] in (SECONDARY_LABEL, f"<{min_cell}") for c in cells)
        smd = "—"
        if len(arms) == 2 and not hide and all(len(counts[a]) for a in arms):
            p, q = ((counts[a] == lv).mean() for a in arms)
            smd = fmt(_smd_prop(float(p), float(q)), 2)
        rows.append({"label": f"{name}: {lv}", "cells": cells, "smd": smd, "flag": _flag(smd)})
    return rows


def baseline_table(
    participants: pd.DataFrame,
    scores: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    baseline: str,
    outcomes: Sequence[tuple[str, str, str]],
    min_cell: int,
) -> dict[str, Any]:
    """Baseline characteristics by arm: n, covariates, baseline outcome scores, dose, clusters.

    ``outcomes`` is ``(instrument, scale, display label)`` in report order.
    """
    labels = [a[0] for a in arms]
    p = participants.copy()
    if "group" in p:
        p["group"] = p["group"].astype(str)
        p = p[p["group"].isin(labels)]
    n_arm = {a: int((p["group"] == a).sum()) if "group" in p else 0 for a in labels}
    rows: list[dict[str, Any]] = []
    for cov in _covariates(p):
        nums = numeric(p[cov])
        present = p[cov].notna() & (p[cov].astype(str).str.strip() != "")
        if present.any() and nums[present].notna().all():
            vals = {a: nums[p["group"] == a] for a in labels}
            rows.append(_cont_row(cov.replace("_", " ").capitalize(), vals, labels, min_cell, 1))
        elif 0 < p.loc[present, cov].astype(str).nunique() <= _MAX_LEVELS:
            col = pd.DataFrame({"group": p["group"], "value": p.loc[present, cov].astype(str)})
            name = cov.replace("_", " ").capitalize()
            rows.extend(_cat_rows(name, col, labels, min_cell, n_arm))
    score_rows: list[dict[str, Any]] = []
    if len(scores):
        base = scores[scores["timepoint"].astype(str) == baseline]
        for inst, scale, label in outcomes:
            sel = base[(base["instrument"] == inst) & (base["scale"] == scale)]
            vals = {a: numeric(sel.loc[sel["group"].astype(str) == a, "score"]) for a in labels}
            score_rows.append(_cont_row(label, vals, labels, min_cell, 1))
    dose = None
    if "sessions" in p and len(labels):
        s = numeric(p.loc[p["group"] == labels[0], "sessions"]).dropna()
        if len(s):
            dose = _cont_row("Sessions attended", {labels[0]: s}, labels[:1], min_cell, 1)
    clusters = None
    if "cluster" in p and len(labels):
        c = p.loc[p["group"] == labels[0], "cluster"].dropna().astype(str)
        c = c[c.str.strip() != ""]
        if len(c):
            sizes = c.value_counts()  # largest first
            # The group sizes and the arm's members without a group add up to the arm size
            # shown beside them: protected as one line, so a "<k" size cannot be worked out
            # from the arm size and the other sizes.
            line = protect_line([*sizes.tolist(), n_arm[labels[0]] - int(sizes.sum())],
                                min_cell)  # fmt: skip
            hidden = line.withheld or SECONDARY in line.status[: len(sizes)]
            lo, hi = (n_label(int(x), min_cell) for x in (sizes.min(), sizes.max()))
            sizes_text = (f"{SECONDARY_LABEL} (at least one below {min_cell})" if hidden
                          else hi if len(sizes) == 1 else f"{lo}–{hi}")  # fmt: skip
            clusters = {"n": str(len(sizes)), "sizes": sizes_text}
    return {
        "arms": [
            {"name": n[:1].upper() + n[1:], "label": lab, "n": str(n_arm[lab])}
            for lab, n, _ in arms
        ],
        "rows": rows,
        "scores": score_rows,
        "dose": dose,
        "clusters": clusters,
        "two_arm": len(arms) == 2,
    }


def reliability_table(
    reliability: pd.DataFrame,
    outcomes: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> dict[str, Any]:
    """Cronbach's alpha with CI per scale (rows) and timepoint (columns)."""
    rows = []
    low = []
    for inst, scale, label in outcomes:
        sel = reliability[(reliability["instrument"] == inst) & (reliability["scale"] == scale)]
        cells = []
        for t in timepoints:
            r = sel[sel["timepoint"].astype(str) == t]
            if not len(r):
                cells.append({"value": "—", "n": "—", "low": False})
                continue
            r = r.iloc[0]
            if suppressed(r["n"], min_cell):
                n = n_label(r["n"], min_cell)
                cells.append({"value": STATISTIC_LABEL, "n": n, "low": False})
                continue
            a = r["alpha"]
            is_low = not is_missing(a) and float(a) < 0.7
            if is_low:
                low.append(f"{label} at {tp_label(t)}")
            ci = fmt_ci(r.get("ci_low"), r.get("ci_high"), 2)
            cells.append({"value": f"{fmt(a, 2)} ({ci})", "n": fmt_int(r["n"]), "low": is_low})
        rows.append({"label": label, "cells": cells})
    return {"timepoints": [tp_label(t) for t in timepoints], "rows": rows, "low": low}
