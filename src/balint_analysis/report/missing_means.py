"""Estimated means under multiple imputation beside the primary analysis's, for the report's
section "Could drop-out explain the result?".

Everything here is cohort-level: the pooled estimated means of ``missing_emmeans.csv`` (per
outcome × scenario × group × timepoint) and the primary model's ``emmeans.csv``. Disclosure
control: a group × timepoint cell whose primary mean rests on fewer than
``analysis.min_cell_size`` answers (``emmeans.csv``'s ``n``) shows none of its three means, because
the pooled means there are built around those few answers; a cell whose number of answers is
unknown is not shown either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.disclosure import STATISTIC_LABEL, too_small
from balint_analysis.report.text import ScaleInfo, fmt, fmt_ci, is_missing, tp_label

__all__ = ["MEANS_COLUMNS", "means_rows", "means_section", "means_sentence"]

#: Columns of ``missing_emmeans.csv`` the table cannot do without (``fmi`` is optional).
MEANS_COLUMNS = ("instrument", "scale", "scenario", "group", "timepoint", "mean", "ci_low",
                 "ci_high")  # fmt: skip
#: Scenario code in ``missing_emmeans.csv`` -> key of the table row.
_SCENARIOS = {"mar": "mar", "jump_to_reference": "j2r"}


def _cell(row: Mapping[str, Any] | None) -> tuple[str, str]:
    """A mean and its CI as text ("—" when there is no number)."""
    if row is None or is_missing(row.get("mean")):
        return "—", ""
    ci = fmt_ci(row.get("ci_low"), row.get("ci_high"))
    return fmt(row["mean"]), "" if ci == "—" else ci


def _pick(frame: pd.DataFrame, group: str, t: str) -> dict[str, Any] | None:
    sel = frame[(frame["group"].astype(str) == group) & (frame["timepoint"].astype(str) == t)]
    return sel.iloc[0].to_dict() if len(sel) else None


def _outcome(frame: pd.DataFrame, outcome: tuple[str, str]) -> pd.DataFrame:
    if not len(frame) or not {"instrument", "scale"} <= set(frame.columns):
        return frame.iloc[0:0]
    return frame[(frame["instrument"] == outcome[0]) & (frame["scale"] == outcome[1])]


def means_rows(
    missing_emmeans: pd.DataFrame,
    emmeans: pd.DataFrame,
    outcome: tuple[str, str],
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> list[dict[str, Any]]:
    """One row per group × timepoint: the primary analysis's mean, the pooled means under
    multiple imputation (missing at random; jump to reference) and the information missing.

    Parameters
    ----------
    missing_emmeans : pandas.DataFrame
        ``missing_emmeans.csv`` (all outcomes; :data:`MEANS_COLUMNS` required).
    emmeans : pandas.DataFrame
        ``emmeans.csv`` (its ``n``, the answers at that timepoint, decides disclosure).
    outcome : tuple of str
        ``(instrument, scale)``.
    arms : sequence of (label, display name, role)
        The intervention arm first.
    timepoints : sequence of str
        The design's timepoints in order.
    min_cell : int
        ``analysis.min_cell_size``.

    Returns
    -------
    list of dict
        Keys ``group``, ``timepoint``, ``primary``/``primary_ci``, ``mar``/``mar_ci``,
        ``j2r``/``j2r_ci`` (text; ``"suppressed"`` for a small cell), ``fmi`` (share of
        information missing under MAR, text) and ``reason`` (why a pooled mean is absent, or "").
        Empty when the outcome has no pooled means.
    """
    mi = _outcome(missing_emmeans, outcome)
    if not len(mi):
        return []
    primary = _outcome(emmeans, outcome)
    out = []
    for label, name, _role in arms:
        for t in timepoints:
            prim = _pick(primary, label, t) if len(primary) else None
            pooled = {key: _pick(mi[mi["scenario"] == code], label, t)
                      for code, key in _SCENARIOS.items()}  # fmt: skip
            if pooled["mar"] is None and pooled["j2r"] is None:
                continue
            row: dict[str, Any] = {"group": name[:1].upper() + name[1:], "timepoint": tp_label(t),
                                   "reason": ""}  # fmt: skip
            n = None if prim is None else prim.get("n")
            if is_missing(n) or too_small(n, min_cell):
                hidden = "—" if is_missing(n) else STATISTIC_LABEL
                row |= {k: v for key in ("primary", "mar", "j2r")
                        for k, v in ((key, hidden), (f"{key}_ci", ""))}  # fmt: skip
                row["fmi"] = "—"
                out.append(row)
                continue
            row["primary"], row["primary_ci"] = _cell(prim)
            for key, rec in pooled.items():
                row[key], row[f"{key}_ci"] = _cell(rec)
                if rec is not None and is_missing(rec.get("mean")) and \
                        not is_missing(rec.get("reason")) and not row["reason"]:  # fmt: skip
                    row["reason"] = str(rec["reason"])
            fmi = None if pooled["mar"] is None else pooled["mar"].get("fmi")
            row["fmi"] = "—" if is_missing(fmi) else f"{float(fmi):.0%}"
            out.append(row)
    return out


def means_sentence(
    missing_emmeans: pd.DataFrame,
    emmeans: pd.DataFrame,
    outcome: tuple[str, str],
    info: ScaleInfo,
    arms: Sequence[tuple[str, str, str]],
    t: str,
    min_cell: int,
) -> str:
    """What the comparison means, in one or two plain sentences ("" when a cell is withheld).

    "If the participants who left had answered like similar participants who stayed, the
    estimated mean emotional exhaustion at post would be 22.0 in the Balint group and 23.4 in
    the comparison group; the primary analysis, which assumes the same, gives 22.1 and 23.5. …"
    """
    mi, primary = _outcome(missing_emmeans, outcome), _outcome(emmeans, outcome)
    values: dict[str, list[str]] = {"primary": [], "mar": [], "j2r": []}
    for label, _name, _role in arms:
        prim = _pick(primary, label, t) if len(primary) else None
        if prim is None or is_missing(prim.get("n")) or too_small(prim["n"], min_cell):
            return ""
        values["primary"].append(_cell(prim)[0])
        for code, key in _SCENARIOS.items():
            values[key].append(_cell(_pick(mi[mi["scenario"] == code], label, t))[0])
    if "—" in values["mar"] or "—" in values["primary"]:
        return ""
    names = [name for _label, name, _role in arms]
    where = " and ".join(f"{v} in the {n}" for v, n in zip(values["mar"], names, strict=True))
    text = (f"If the participants who left had answered like similar participants who stayed, "
            f"the estimated mean {info.label.lower()} at {tp_label(t)} would be {where}; the "
            f"primary analysis, which assumes the same, gives {' and '.join(values['primary'])}.")
    if len(arms) > 1 and values["j2r"][0] != "—":
        text += (f" If those who left the {names[0]} had answered like the {names[1]} instead "
                 f"(jump to reference), the {names[0]}'s mean would be {values['j2r'][0]}.")
    return text


def means_section(
    missing_emmeans: pd.DataFrame,
    emmeans: pd.DataFrame,
    *,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    primary_timepoint: str,
    min_cell: int,
    run: bool,
) -> dict[str, Any]:
    """The means tables of the section: the primary outcome's (shown) and the others' (folded).

    Parameters
    ----------
    order : sequence of (instrument, scale)
        The outcomes with a model result, the primary first.
    primary_timepoint : str
        The timepoint of the primary outcome's sentence.
    run : bool
        Whether multiple imputation ran (the section's ``run``); nothing is shown otherwise.

    Returns
    -------
    dict
        ``tables`` (one per outcome with pooled means: ``title``, ``rows``, ``sentence``,
        ``main``), ``j2r`` (whether any jump-to-reference mean exists: the column is shown) and
        ``absent`` (a sentence when multiple imputation ran but its means cannot be shown).
    """
    empty = {"tables": [], "j2r": False, "absent": ""}
    if not run:
        return empty
    if not len(missing_emmeans) or not set(MEANS_COLUMNS) <= set(missing_emmeans.columns):
        return empty | {"absent": "The estimated means under multiple imputation are not "
                        "available for this report (missing_emmeans.csv is absent or "
                        "incomplete)."}  # fmt: skip
    tables = []
    for k, outcome in enumerate(order):
        rows = means_rows(missing_emmeans, emmeans, outcome, arms, timepoints, min_cell)
        if not rows:
            continue
        info = infos[outcome]
        sentence = means_sentence(missing_emmeans, emmeans, outcome, info, arms,
                                  primary_timepoint, min_cell) if k == 0 else ""  # fmt: skip
        tables.append({"title": f"{info.label} ({info.short_instrument})", "rows": rows,
                       "sentence": sentence, "main": k == 0,
                       "id": f"dropout-means-{outcome[0]}-{outcome[1]}".replace("_", "-")})
    has_j2r = any(r["j2r"] not in ("—", STATISTIC_LABEL) for t in tables for r in t["rows"])
    return {"tables": tables, "j2r": has_j2r, "absent": ""}
