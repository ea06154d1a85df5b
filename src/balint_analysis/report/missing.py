"""The report's section "Could drop-out explain the result?" (multiple imputation, tipping points).

Everything here is cohort-level: pooled estimates over the imputations (``missing_data.csv``)
and tipping points (``tipping.csv``); nothing per participant is read or shown.

The tipping point is worded against ``missing_data.plausible_delta_sd``: the largest difference
between drop-outs and similar participants who stayed that the report treats as plausible (in
baseline SDs). No study fixes that value, so it is a documented setting, quoted in every
sentence that uses it, rather than a claim about drop-outs in general.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd

from balint_analysis.report import missing_variance as vc  # variance components at δ
from balint_analysis.report.disclosure import STATISTIC_LABEL, too_small
from balint_analysis.report.svgchart import Series, line_chart_svg
from balint_analysis.report.text import ScaleInfo, fmt, is_missing, tp_label

__all__ = [
    "MI_ANALYSES",
    "caveat_clause",
    "missing_caveat",
    "missing_methods_paragraph",
    "missing_section",
    "missing_sensitivity_rows",
    "primary_timepoint",
    "tipping_sentence",
]

#: Rows the section adds to the sensitivity table: analysis code -> scenario shown.
MI_ANALYSES = {"mi_mar": "mar", "mi_jump_to_reference": "jump_to_reference",
               "mi_delta_balint": "delta_balint"}  # fmt: skip
#: The δ scenario the sentences and the figure follow (drop-outs of the Balint groups).
SCENARIO = "delta_balint"


def _sd_text(sd: float) -> str:
    return f"{abs(sd):.2f}".rstrip("0").rstrip(".") if abs(sd) < 0.1 else f"{abs(sd):.1f}"


def _ways(info: ScaleInfo) -> tuple[str, str]:
    """Words for δ > 0 and δ < 0 (imputed scores higher / lower)."""
    if info.direction == "higher_is_worse":
        return "worse", "better"
    if info.direction == "higher_is_better":
        return "better", "worse"
    return "higher", "lower"


def _significant(row: Mapping[str, Any] | None) -> bool | None:
    if row is None or is_missing(row.get("ci_low")) or is_missing(row.get("ci_high")):
        return None
    return float(row["ci_low"]) > 0 or float(row["ci_high"]) < 0


def tipping_sentence(info: ScaleInfo, *, mar: Mapping[str, Any] | None,
                     tipping: Mapping[str, Any] | None, grid: pd.DataFrame,
                     plausible_sd: float) -> str:  # fmt: skip
    """One plain sentence: how different the Balint drop-outs would have had to be.

    Parameters
    ----------
    info : ScaleInfo
        The outcome (label and direction: which way is "worse").
    mar : mapping or None
        The outcome's ``missing_data.csv`` row of scenario ``mar`` at that timepoint.
    tipping : mapping or None
        Its ``tipping.csv`` row of scenario ``delta_balint``.
    grid : pandas.DataFrame
        Its ``delta_balint`` rows of ``missing_data.csv`` (the δ range examined).
    plausible_sd : float
        ``missing_data.plausible_delta_sd``.

    Returns
    -------
    str
        The sentence; it says why when no tipping point could be computed.
    """
    label = info.label.lower()
    significant = _significant(mar)
    plausible = f"the {_sd_text(plausible_sd)} SD this report treats as the largest plausible " \
        "difference"
    if significant is None:
        why = "" if mar is None or is_missing(mar.get("reason")) else f" ({mar['reason']})"
        return f"Multiple imputation gave no result for {label}{why}."
    up, down = _ways(info)
    if tipping is not None and not is_missing(tipping.get("tipping_delta")):
        size, way, within = _tipping_facts(tipping, up, down, plausible_sd)
        if significant:
            return (f"Participants who left the Balint groups would have had to score, on "
                    f"average, {size} {way} on {label} than similar participants who stayed "
                    f"for this result to lose its statistical support — "
                    + (f"within {plausible}, so drop-out could explain this result."
                       if within else f"larger than {plausible}, so drop-out is unlikely to "
                       "explain it."))  # fmt: skip
        return (f"This result has no statistical support; participants who left the Balint "
                f"groups would have had to score, on average, {size} {way} on {label} than "
                f"similar participants who stayed for this result to gain statistical support — "
                + (f"within {plausible}." if within else f"larger than {plausible}."))
    widest = grid["delta_sd"].abs().max() if len(grid) else math.nan
    span = "" if is_missing(widest) else f" of up to {_sd_text(float(widest))} SD"
    if significant:
        return (f"Even if participants who left the Balint groups had scored {up} or {down} on "
                f"{label} than similar participants who stayed, by any difference{span} "
                f"examined, this result would keep its statistical support — beyond "
                f"{plausible}, so drop-out is unlikely to explain it.")
    return (f"This result has no statistical support, and no difference{span} between "
            f"participants who left the Balint groups and similar participants who stayed "
            f"would give it any.")


def _tipping_facts(tipping: Mapping[str, Any], up: str, down: str,
                   plausible_sd: float) -> tuple[str, str, bool]:  # fmt: skip
    """The tipping point's size in words ("4.9 points (0.5 SD)"), the way the drop-outs' scores
    had to move, and whether that lies within the plausible range: shared by the section's
    sentence and the first screen's clause, so the two can never disagree."""
    delta, delta_sd = float(tipping["tipping_delta"]), tipping.get("tipping_delta_sd")
    size = f"{fmt(abs(delta))} points" + ("" if is_missing(delta_sd) else
                                          f" ({_sd_text(float(delta_sd))} SD)")  # fmt: skip
    within = not is_missing(delta_sd) and abs(float(delta_sd)) <= plausible_sd + 1e-9
    return size, up if delta > 0 else down, within


def caveat_clause(info: ScaleInfo, *, mar: Mapping[str, Any] | None,
                  tipping: Mapping[str, Any] | None, grid: pd.DataFrame,
                  plausible_sd: float) -> str:  # fmt: skip
    """The tipping point as a clause for the first screen's drop-out caveat ("" when there is
    nothing to quote); the same facts as :func:`tipping_sentence`, in fewer words."""
    significant = _significant(mar)
    if significant is None:
        return ""
    up, down = _ways(info)
    plausible = f"{_sd_text(plausible_sd)} SD"
    if tipping is not None and not is_missing(tipping.get("tipping_delta")):
        size, way, within = _tipping_facts(tipping, up, down, plausible_sd)
        verdict = f"{'within' if within else 'beyond'} the {plausible} treated as plausible"
        change = "lose its statistical support" if significant else "gain statistical support"
        return (f"the result would {change} only if those who left the Balint groups had "
                f"scored, on average, {size} {way} than similar participants who stayed, "
                f"{verdict}")
    widest = grid["delta_sd"].abs().max() if len(grid) else math.nan
    if is_missing(widest):
        return ""
    return (f"even a difference of {_sd_text(float(widest))} SD between those who left the "
            "Balint groups and similar participants who stayed would "
            + ("leave the result its statistical support" if significant
               else "not give the result statistical support"))  # fmt: skip


def _rows(table: pd.DataFrame, inst: str, scale: str, t: str, scenario: str) -> pd.DataFrame:
    if not len(table) or "scenario" not in table:
        return table.iloc[0:0]
    sel = table[(table["instrument"] == inst) & (table["scale"] == scale)
                & (table["timepoint"].astype(str) == t) & (table["scenario"] == scenario)]
    return sel.sort_values("delta") if "delta" in sel else sel


def _first(frame: pd.DataFrame) -> dict[str, Any] | None:
    return frame.iloc[0].to_dict() if len(frame) else None


def primary_timepoint(effects: pd.DataFrame, outcome: tuple[str, str], post: Sequence[str]) -> str:
    """The outcome's primary timepoint (``effects.csv``'s flag; else the first after baseline)."""
    sel = effects[(effects["instrument"] == outcome[0]) & (effects["scale"] == outcome[1])]
    if "primary_timepoint" in sel:
        flagged = sel[sel["primary_timepoint"].astype(str) == "True"]
        if len(flagged):
            return str(flagged["timepoint"].iloc[0])
    return str(post[0])


def tipping_figure(grid: pd.DataFrame, tipping: Mapping[str, Any] | None,
                   info: ScaleInfo) -> str:  # fmt: skip
    """Inline SVG: pooled estimate and CI against δ (SD units), zero line, tipping point."""
    grid = grid.dropna(subset=["estimate", "delta_sd"])
    if len(grid) < 2:
        return ""
    sds = [float(v) for v in grid["delta_sd"]]
    points = [(i, float(r["estimate"]), float(r["ci_low"]), float(r["ci_high"]))
              for i, r in enumerate(grid.to_dict("records"))]  # fmt: skip
    step = max(1, len(sds) // 4)
    labels = [[_signed(v)] if i % step == 0 or i == len(sds) - 1 else [""]
              for i, v in enumerate(sds)]  # fmt: skip
    marker = None
    if tipping is not None and not is_missing(tipping.get("tipping_delta_sd")):
        at = float(tipping["tipping_delta_sd"])
        marker = (_index_of(sds, at), f"tipping point {at:+.2f} SD".replace("-", "−"))
    up, _down = _ways(info)
    inner = line_chart_svg(
        [Series("Pooled estimate (CI)", points, "#1f5fa8")], x_labels=labels,
        y_label=["Difference (points)"], reference_y=0.0, marker_x=marker,
    )  # fmt: skip
    title = (f"Pooled estimate and confidence interval as the Balint drop-outs' imputed "
             f"scores are shifted by δ (baseline SDs; positive = {up})")
    desc = (f"{len(sds)} values of δ from {sds[0]:+.1f} to {sds[-1]:+.1f} SD; "
            + ("no tipping point in this range." if marker is None else f"{marker[1]}."))
    return (f'<svg viewBox="0 0 400 290" role="img" aria-labelledby="fig-tipping-title '
            f'fig-tipping-desc" class="figure-svg" preserveAspectRatio="xMidYMid meet" '
            f'focusable="false"><title id="fig-tipping-title">{escape(title)}</title>'
            f'<desc id="fig-tipping-desc">{escape(desc)}</desc>{inner}</svg>')


def _signed(v: float) -> str:
    return "0" if v == 0 else f"{v:+.1f}".replace("-", "−")


def _index_of(values: Sequence[float], x: float) -> float:
    """``x`` as a fractional position among the sorted ``values``."""
    for i in range(len(values) - 1):
        a, b = values[i], values[i + 1]
        if a <= x <= b:
            return i + (x - a) / (b - a) if b > a else float(i)
    return 0.0 if x < values[0] else float(len(values) - 1)


def missing_sensitivity_rows(
    missing_data: pd.DataFrame,
    sensitivity: pd.DataFrame,
    plausible_sd: float,
    directions: Mapping[tuple[str, str], str],
) -> pd.DataFrame:
    """Rows for the sensitivity table (its columns): MAR, jump to reference, and the Balint
    drop-outs shifted by the plausible δ in the worse direction, per outcome and timepoint.
    Participant counts are those of the primary analysis (every participant is analysed)."""
    if not len(missing_data) or not len(sensitivity) or "scenario" not in missing_data:
        return sensitivity.iloc[0:0]
    primary = sensitivity[sensitivity["analysis"] == "primary_lmm"]
    out = []
    for prim in primary.to_dict("records"):
        inst, scale, t = prim["instrument"], prim["scale"], str(prim["timepoint"])
        sign = -1.0 if directions.get((inst, scale)) == "higher_is_better" else 1.0
        for code, scenario in MI_ANALYSES.items():
            sel = _rows(missing_data, inst, scale, t, scenario)
            note = ""
            if scenario == SCENARIO:
                sel = sel.dropna(subset=["delta_sd"])
                if not len(sel):
                    continue
                target = sign * plausible_sd
                sel = sel.iloc[[int((sel["delta_sd"] - target).abs().to_numpy().argmin())]]
                r = sel.iloc[0]
                held = "; approximate: the standard error of the missing-at-random analysis"
                note = (f"Balint drop-outs' imputed scores shifted by {fmt(r['delta'])} points "
                        f"({_sd_text(float(r['delta_sd']))} SD)"
                        + (held if vc.held_at_mar(r) else ""))  # fmt: skip
            rec = _first(sel)
            if rec is None:
                continue
            if not is_missing(rec.get("reason")):
                note = str(rec["reason"])
            out.append({"instrument": inst, "scale": scale, "timepoint": t, "analysis": code,
                        "estimate": rec["estimate"], "se": rec["se"], "df": rec["df"],
                        "ci_low": rec["ci_low"], "ci_high": rec["ci_high"],
                        "p_value": rec["p_value"], "n_intervention": prim["n_intervention"],
                        "n_control": prim["n_control"], "converged": True, "note": note})
    return pd.DataFrame(out, columns=list(sensitivity.columns))


def missing_section(
    missing_data: pd.DataFrame,
    tipping: pd.DataFrame,
    effects: pd.DataFrame,
    *,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    post: Sequence[str],
    settings: Mapping[str, Any],
    min_cell: int,
) -> dict[str, Any]:
    """The section's values: sentence per primary outcome, figure, per-outcome table.

    ``settings`` are :func:`balint_analysis.missing.missing_settings` (``imputations``,
    ``plausible_delta_sd``). ``run`` is False when multiple imputation was switched off or
    its outputs are absent; ``sentences`` then holds the one sentence saying so. An outcome
    whose primary effect rests on a group smaller than ``min_cell`` (``effects.csv``'s
    ``n_intervention``/``n_control``) is withheld here as in the sensitivity table.
    """
    plausible = float(settings["plausible_delta_sd"])
    off = int(settings["imputations"]) == 0
    if off or not len(missing_data) or "scenario" not in missing_data:
        why = ("switched off in this run's configuration (missing_data.imputations: 0)" if off
               else "not run for this report (missing_data.csv is absent)")  # fmt: skip
        return {"run": False, "sentences": [
            f"Multiple imputation was {why}, so this report cannot say how different the "
            "participants who left would have had to be to change the result."],
            "figure": "", "figure_caption": "", "rows": [], "caveat": "", "m": 0,
            "plausible": _sd_text(plausible), "how": ""}  # fmt: skip
    sentences, rows, figure, caption, caveat = [], [], "", "", ""
    for k, (inst, scale) in enumerate(order):
        info = infos[(inst, scale)]
        for t in post:
            mar = _first(_rows(missing_data, inst, scale, t, "mar"))
            if mar is None:
                continue
            is_main = k == 0 and t == primary_timepoint(effects, (inst, scale), post)
            if _withheld(effects, inst, scale, t, min_cell):
                rows.append({"outcome": f"{info.label} ({info.short_instrument})",
                             "timepoint": tp_label(t), "mar": STATISTIC_LABEL, "fmi": "—",
                             "balint": "—", "both": "—", "main": is_main,
                             "approx": False})  # fmt: skip
                if is_main:
                    sentences.append(f"No tipping point is shown for {info.label.lower()}: a "
                                     f"group has fewer than {min_cell} participants.")
                continue
            grid = _rows(missing_data, inst, scale, t, SCENARIO)
            tip = _first(_rows(tipping, inst, scale, t, SCENARIO))
            sentence = tipping_sentence(info, mar=mar, tipping=tip, grid=grid,
                                        plausible_sd=plausible)  # fmt: skip
            if is_main:
                caveated = vc.held_at_mar(tip) and _significant(mar) is not None
                sentences.append(f"{sentence} {vc.held_caveat()}" if caveated else sentence)
                caveat = caveat_clause(info, mar=mar, tipping=tip, grid=grid,
                                       plausible_sd=plausible)  # fmt: skip
                figure = tipping_figure(grid, tip, info)
                caption = (f"{info.label}, {tp_label(t)}: pooled difference (dot) and "
                           "confidence interval (bar) when the Balint drop-outs' imputed "
                           "scores are shifted by δ baseline SDs; the dashed line marks the "
                           "tipping point.")
            sd = None if tip is None else tip.get("tipping_delta_sd")
            both = _first(_rows(tipping, inst, scale, t, "delta_both"))
            rows.append({"outcome": f"{info.label} ({info.short_instrument})",
                         "timepoint": tp_label(t), "mar": fmt(mar.get("estimate")),
                         "fmi": "—" if is_missing(mar.get("fmi")) else f"{float(mar['fmi']):.0%}",
                         "balint": _tip_text(tip, sd), "both": _tip_text(
                             both, None if both is None else both.get("tipping_delta_sd")),
                         "main": is_main, "approx": vc.held_at_mar(tip) or vc.held_at_mar(both)})
    m = int(missing_data["m"].max()) if "m" in missing_data and len(missing_data) else 0
    how = (f"How this was checked: the answers missing because participants left were filled "
           f"in {m} times from the statistical model, using what each participant had answered "
           f"before (multiple imputation), and the {m} results were combined. The filled-in "
           "answers of those who left the Balint groups were then made gradually worse or better "
           "than the model predicts (by δ, in baseline standard deviations, SD) until the "
           "conclusion changed: the tipping point. This report treats differences of up to "
           f"{_sd_text(plausible)} SD as plausible; that is a setting "
           "(missing_data.plausible_delta_sd), not a fact about these participants.")
    held = {o: vc.outcome_held(tipping, *o) for o in order}
    return {"run": True, "sentences": sentences, "figure": figure, "figure_caption": caption,
            "rows": rows, "caveat": caveat, "m": m, "plausible": _sd_text(plausible),
            "how": how, "held_note": vc.HELD_FOOTNOTE if any(r["approx"] for r in rows) else "",
            "variance": vc.variance_sentence([infos[o] for o in order if held[o] is False],
                                             [infos[o] for o in order if held[o]])}  # fmt: skip


def _withheld(effects: pd.DataFrame, inst: str, scale: str, t: str, min_cell: int) -> bool:
    """Whether the outcome's effect at ``t`` rests on a group smaller than ``min_cell``."""
    sel = effects[(effects["instrument"] == inst) & (effects["scale"] == scale)
                  & (effects["timepoint"].astype(str) == t)]
    return any(too_small(v, min_cell) for c in ("n_intervention", "n_control") if c in sel
               for v in sel[c])  # fmt: skip


def _tip_text(tip: Mapping[str, Any] | None, sd: Any) -> str:
    if tip is None:
        return "—"
    if is_missing(tip.get("tipping_delta")):
        return "beyond the range examined" if "whole" in str(tip.get("reason") or "") else "—"
    text = f"{fmt(abs(float(tip['tipping_delta'])))} points"
    text = text if is_missing(sd) else f"{text} ({fmt(abs(float(sd)), 2)} SD)"
    way = str(tip.get("direction") or "").split(";")[0].strip()
    return f"{text} {way}".strip()


def missing_caveat(caveats: Sequence[str], section: Mapping[str, Any]) -> list[str]:
    """The first screen's caveats, the drop-out one quoting the tipping point: its clause on the
    missing-at-random assumption is replaced by what the tipping point says about it."""
    out = list(caveats)
    if not section.get("caveat"):
        return out
    for i, c in enumerate(out):
        if c.startswith("Missing answers:") and "; " in c:
            head = c.split("; ", 1)[0]
            out[i] = f"{head}; {section['caveat']} (see “Could drop-out explain the result?”)."
            return out
    return out


def missing_methods_paragraph(section: Mapping[str, Any]) -> str:
    """The methods paragraph on multiple imputation and the tipping point ("" when not run)."""
    if not section.get("run"):
        return ""
    return (
        f"Missing answers (multiple imputation): each outcome's primary model also served to "
        f"fill in the answers missing at later timepoints, {section['m']} times, each "
        "participant's from their own earlier answers and the model's estimates, with the "
        "uncertainty of those estimates carried into the filled-in values. Each completed data "
        "set was analysed with the primary model and the results were combined with Rubin's "
        "rules (Barnard–Rubin degrees of freedom). This assumes, like the primary analysis, "
        "that answers are missing at random. To see what happens if they are not, the filled-in "
        "answers of participants who left the Balint groups (and, separately, of those who left "
        "either group) were shifted by a fixed amount δ, over a range of δ in baseline standard "
        "deviations, and re-combined; the tipping point is the δ at which the conclusion "
        "changes. A further analysis filled in the Balint drop-outs' answers as if they had "
        "been in the comparison group (jump to reference), a deliberately unfavourable "
        "assumption for the Balint groups. " + section.get("variance", "")
    ).strip()
