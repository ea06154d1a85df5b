"""Per-outcome results: effect rows, estimated-means tables, figures and sentences.

``effects.csv`` holds one row per outcome × post-baseline timepoint: the primary model's effect.
Sensitivity analyses come from ``sensitivity.csv`` (see :mod:`balint_analysis.report.ancillary`).
A row whose model did not converge is never shown as a result: its numbers are replaced by the
reason recorded in ``models.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.report.disclosure import STATISTIC_LABEL, is_primary, n_label
from balint_analysis.report.figures import emmeans_svg
from balint_analysis.report.model_facts import fit_notes, model_facts, not_modelled_reason
from balint_analysis.report.tables import suppressed
from balint_analysis.report.text import (
    TIMEPOINT_WORDS,
    DesignInfo,
    ScaleInfo,
    certainty_sentence,
    effect_sentence,
    fmt,
    fmt_ci,
    fmt_int,
    fmt_p,
    is_missing,
    scale_info,
    size_words,
    tp_label,
    truth,
)

__all__ = [
    "failed",
    "failure_reason",
    "failure_sentence",
    "main_effects",
    "means_line",
    "not_estimable_reason",
    "outcome_order",
    "outcome_section",
]


def main_effects(effects: pd.DataFrame, instrument: str, scale: str) -> pd.DataFrame:
    """The primary-model effect rows of one outcome, one per timepoint, in file order."""
    if not len(effects):
        return effects
    sel = effects[(effects["instrument"] == instrument) & (effects["scale"] == scale)]
    return sel.drop_duplicates(subset=["timepoint"], keep="first")


def failed(row: Mapping[str, Any] | None) -> bool:
    """Whether an effect row comes from a model that did not converge (or has no estimate)."""
    return row is not None and (
        truth(row.get("converged")) is False or is_missing(row.get("estimate"))
    )


def not_estimable_reason(row: Mapping[str, Any] | None) -> str:
    """Why the design cannot estimate an effect row (``estimable`` False), else ``""``.

    The model stage writes ``estimable`` and a plain-language ``reason`` clause per row; a row
    that is not estimable is not a convergence failure and is never worded as one.
    """
    if row is None or truth(row.get("estimable")) is not False:
        return ""
    reason = row.get("reason")
    if is_missing(reason):
        return "the data cannot separate this effect from the others"
    # The model stage names timepoints as in the data ("followup"); the report says "follow-up".
    words = re.split(r"(\w+)", not_modelled_reason(str(reason).strip()))
    return "".join(tp_label(w) if w.lower() in TIMEPOINT_WORDS else w for w in words)


def failure_reason(models: Sequence[Mapping[str, Any]], instrument: str, scale: str) -> str:
    """Why a model gave no estimate, from ``models.json``.

    The outcome's ``degenerate`` reason if any; else the warnings of the fit that was used; the
    errors of abandoned attempts only when no fit converged (a converged fit's abandoned
    attempts say nothing about its result).
    """
    for m in models:
        if (m.get("instrument"), m.get("scale")) != (instrument, scale):
            continue
        facts = model_facts(m)
        if facts.degenerate:
            return facts.degenerate
        reasons = list(facts.fit_warnings)
        if facts.converged is False:
            for a in m.get("attempts") or []:
                if isinstance(a, Mapping) and not is_missing(a.get("error")):
                    reasons.append(str(a["error"]))
        if reasons:
            return "; ".join(dict.fromkeys(reasons))
    return "no reason was recorded"


def failure_sentence(label: str, reason: str, main: bool = False, converged: bool = False) -> str:
    """The wording used wherever a failed model's result would have been.

    ``converged`` True: the fit converged but gave no estimate, which is not worded as a
    convergence failure.
    """
    low = label[:1].lower() + label[1:]
    what = f"the main outcome, {low}," if main else low
    happened = "gave no estimate" if converged else "did not converge"
    return (
        f"The statistical model for {what} {happened}, so no effect is reported. "
        f"Reason recorded by the model stage: {reason}."
    )


def outcome_order(config: StudyConfig, effects: pd.DataFrame, emmeans: pd.DataFrame) -> list:
    """``(instrument, scale)`` pairs: the primary first, then config order, then the rest."""
    primary = (config.analysis.primary_instrument, config.analysis.primary_scale)
    found: list[tuple[str, str]] = []
    for df in (effects, emmeans):
        if len(df):
            for i, s in df[["instrument", "scale"]].drop_duplicates().itertuples(index=False):
                if (str(i), str(s)) not in found:
                    found.append((str(i), str(s)))
    ordered = [primary]
    for inst_id, inst in config.instruments.items():
        for sid in inst.scales:
            if (inst_id, sid) in found and (inst_id, sid) not in ordered:
                ordered.append((inst_id, sid))
    ordered += sorted(x for x in found if x not in ordered)
    return ordered


def _suppress_effect(row: Mapping[str, Any], min_cell: int) -> bool:
    return any(suppressed(row.get(c), min_cell) for c in ("n_intervention", "n_control"))


def row_status(r: Mapping[str, Any], min_cell: int) -> str:
    """What an effect row can show: ``"suppressed"`` (an arm below ``min_cell``),
    ``"not_estimable"``, ``"failed"`` (no valid estimate) or ``"ok"``."""
    reason = not_estimable_reason(r)
    # An arm of 1..k-1 people hides everything, the reason too (it may describe them); an arm
    # of nobody has nothing to hide, and the reason says why there is no estimate.
    few = any(is_primary(r.get(c), min_cell) for c in ("n_intervention", "n_control"))
    if reason and not few:
        return "not_estimable"
    if _suppress_effect(r, min_cell):
        return "suppressed"
    if reason:
        return "not_estimable"
    return "failed" if failed(r) else "ok"


def _effect_row(r: Mapping[str, Any], min_cell: int, role: str) -> dict[str, Any]:
    status = row_status(r, min_cell)
    conv = r.get("converged")
    conv_txt = {True: "yes", False: "NO"}.get(truth(conv), "—")
    if status != "ok":
        # No numbers: a group is too small to show, or there is no valid estimate.
        hidden = status == "suppressed"
        return {
            "timepoint": tp_label(str(r["timepoint"])),
            "estimate": STATISTIC_LABEL if hidden else "not reported",
            "ci": {"suppressed": "", "not_estimable": "not estimable"}.get(status, (
                "model did not converge" if truth(conv) is False else "no estimate")),
            "df": "", "p": "", "p_adj": "", "d": "", "d_ppc2": "",
            "n_i": fmt_n(r.get("n_intervention"), min_cell),
            "n_c": fmt_n(r.get("n_control"), min_cell),
            "converged": conv_txt,
            "suppressed": hidden,
            "status": status,
        }  # fmt: skip
    return {
        "timepoint": tp_label(str(r["timepoint"])),
        "estimate": fmt(r.get("estimate")),
        "ci": fmt_ci(r.get("ci_low"), r.get("ci_high")),
        "df": fmt(r.get("df"), 1),
        "p": fmt_p(r.get("p_value")),
        "p_adj": "—" if role == "primary" else fmt_p(r.get("p_adjusted")),
        # The standardised effect beside the difference is the model's (its CI agrees with the
        # CI in points); Morris's d_ppc2 is kept for meta-analysts, without a size verdict.
        "d": _d_text(r.get("d_model"), r.get("d_model_ci_low"), r.get("d_model_ci_high"),
                     size=True),
        "d_ppc2": _d_text(r.get("d_ppc2"), r.get("d_ci_low"), r.get("d_ci_high")),
        "n_i": fmt_n(r.get("n_intervention"), min_cell),
        "n_c": fmt_n(r.get("n_control"), min_cell),
        "converged": conv_txt,
        "suppressed": False,
        "status": status,
    }


def _d_text(d: Any, lo: Any, hi: Any, size: bool = False) -> str:
    """``"−0.61 (−1.15 to −0.07), moderate"``; "—" when missing."""
    if is_missing(d):
        return "—"
    words = size_words(d) if size else ""
    return f"{fmt(d, 2)} ({fmt_ci(lo, hi, 2)})" + (f", {words}" if words else "")


def meta_analyst_line(rows: Sequence[Mapping[str, Any]], single_arm: bool, level: str) -> str:
    """The secondary standardised effect of one outcome, for meta-analysts (or "")."""
    shown = [f"{r['timepoint']} {r['d_ppc2']}" for r in rows if r.get("d_ppc2") not in ("", "—")]
    if not shown:
        return ""
    what = (
        "the standardised change within the group (Becker 1988)"
        if single_arm
        else "Morris's (2008) d_ppc2 (difference in mean change over the pooled baseline SD, "
        "small-sample corrected)"
    )
    return (
        f"For meta-analysts: {what}, on the participants observed at baseline and at that "
        f"timepoint, with its {level} CI: " + "; ".join(shown) + "."
    )


def _at(row: Mapping[str, Any], sentence: str) -> str:
    """Prefix a sentence with the timepoint it is about."""
    return f"At {tp_label(str(row['timepoint']))}, {sentence[:1].lower()}{sentence[1:]}"


def fmt_n(n: Any, min_cell: int) -> str:
    """The number of people behind a statistic (:func:`disclosure.n_label`)."""
    return n_label(n, min_cell)


def _emmeans_table(
    emm: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> list[dict[str, Any]]:
    rows = []
    for label, name, _role in arms:
        cells = []
        for t in timepoints:
            r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == t)]
            if not len(r):
                cells.append({"mean": "—", "ci": "", "n": "—"})
                continue
            r = r.iloc[0]
            if suppressed(r["n"], min_cell):
                cells.append({"mean": STATISTIC_LABEL, "ci": "", "n": n_label(r["n"], min_cell)})
            else:
                cells.append(
                    {
                        "mean": fmt(r["mean"]),
                        "ci": fmt_ci(r["ci_low"], r["ci_high"]),
                        "n": fmt_int(r["n"]),
                    }
                )
        rows.append({"name": name[:1].upper() + name[1:], "cells": cells})
    return rows


def outcome_section(
    config: StudyConfig,
    instrument: str,
    scale: str,
    effects: pd.DataFrame,
    emmeans: pd.DataFrame,
    models: Sequence[Mapping[str, Any]],
    design: DesignInfo,
    arms: Sequence[tuple[str, str, str]],
    index: int,
) -> dict[str, Any]:
    """Everything the template shows for one outcome."""
    info: ScaleInfo = scale_info(config, instrument, scale)
    min_cell = config.analysis.min_cell_size
    level = f"{100 * (1 - config.analysis.alpha):g}%"
    tps = list(config.design.timepoints)
    primary = (instrument, scale) == (
        config.analysis.primary_instrument,
        config.analysis.primary_scale,
    )
    role = "primary" if primary else "secondary"
    main = main_effects(effects, instrument, scale)
    main = (
        main.assign(_o=main["timepoint"].map({t: i for i, t in enumerate(tps)})).sort_values(
            "_o", kind="mergesort"
        )
        if len(main)
        else main
    )
    rows = [_effect_row(r, min_cell, role) for r in main.to_dict("records")]
    emm = (
        emmeans[(emmeans["instrument"] == instrument) & (emmeans["scale"] == scale)]
        if len(emmeans)
        else emmeans
    )
    sentences = []
    model_notes = [
        m for m in models if m.get("instrument") == instrument and m.get("scale") == scale
    ]
    reason = failure_reason(model_notes, instrument, scale)
    records = main.to_dict("records")
    statuses = [row_status(r, min_cell) for r in records]
    all_failed = len(records) > 0 and all(st == "failed" for st in statuses)
    if all_failed:
        converged = all(truth(r.get("converged")) is not False for r in records)
        sentences.append(failure_sentence(info.label, reason, converged=converged))
    for r, status in zip(records, statuses, strict=True):
        when = tp_label(str(r["timepoint"]))
        if status == "not_estimable":
            sentences.append(f"At {when} no effect can be estimated: {not_estimable_reason(r)}.")
        elif status == "failed" and not all_failed:
            sentences.append(
                f"At {when} no effect is reported: the model did not converge ({reason})."
                if truth(r.get("converged")) is False
                else f"At {when} no effect is reported: the model gave no estimate ({reason})."
            )
        elif status == "suppressed":
            sentences.append(
                f"At {when} fewer than {min_cell} people were observed in an arm, so the "
                "estimate is not reported."
            )
        elif status == "ok":
            change = balint_change(emm, arms[0][0], tps[0], str(r["timepoint"]), min_cell)
            sentences.append(effect_sentence(r, info, design, tps[0], level, change))
    figure, fig_desc, n_hidden = None, "", 0
    if len(emm):
        shown = emm[~emm["n"].map(lambda n: suppressed(n, min_cell))]
        n_hidden = len(emm) - len(shown)
        figure, fig_desc = emmeans_svg(
            shown, timepoints=tps, arms=arms, info=info, fig_id=f"{index}", level=level
        )
    chosen = config.analysis.primary_timepoint
    last = next((r for r in records if str(r["timepoint"]) == chosen),
                records[-1] if records else None)  # the result at the primary timepoint
    return {
        "id": f"outcome-{instrument}-{scale}".replace("_", "-").replace(".", "-"),
        "info": info,
        "title": f"{info.label} ({info.short_instrument})",
        "role": role,
        "rows": rows,
        "failed": [
            row["timepoint"]
            for row, r in zip(rows, records, strict=True)
            if row["status"] == "failed" and truth(r.get("converged")) is False
        ],
        "reason": reason,
        "sentences": sentences,
        "meta_d": meta_analyst_line(rows, design.single_arm, level),
        "certainty": _at(last, certainty_sentence(last, info, design, level))
        if last is not None and not _suppress_effect(last, min_cell) and not failed(last)
        else "",
        "emmeans": _emmeans_table(emm, arms, tps, min_cell) if len(emm) else [],
        "descriptive": [],
        "note": "",
        "timepoints": [tp_label(t) for t in tps],
        "figure": figure,
        "figure_desc": fig_desc,
        "n_hidden": n_hidden,
        "models": model_notes,
        "fit_notes": fit_notes(model_facts(model_notes[0])) if model_notes else [],
        "df_method": str(main["df_method"].iloc[0])
        if len(main) and "df_method" in main and not is_missing(main["df_method"].iloc[0])
        else "",
        "level": level,
    }


def balint_change(emm: pd.DataFrame, label: str, base: str, t: str, min_cell: int) -> float | None:
    """The intervention arm's estimated change from ``base`` to ``t`` (None if not reportable)."""
    if not len(emm):
        return None
    vals = []
    for tp in (base, t):
        r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == tp)]
        if not len(r) or suppressed(r.iloc[0]["n"], min_cell) or is_missing(r.iloc[0]["mean"]):
            return None
        vals.append(float(r.iloc[0]["mean"]))
    return vals[1] - vals[0]


def means_line(
    emm: pd.DataFrame, arms: Sequence[tuple[str, str, str]], base: str, last: str, min_cell: int
) -> str:
    """ "Estimated average scores: Balint group 27.0 at pre → 23.0 at follow-up; …" (or "")."""
    parts = []
    for label, name, _ in arms:
        vals = []
        for t in (base, last):
            r = emm[(emm["group"].astype(str) == label) & (emm["timepoint"].astype(str) == t)]
            if not len(r) or suppressed(r.iloc[0]["n"], min_cell):
                return ""
            vals.append(fmt(r.iloc[0]["mean"]))
        parts.append(f"{name} {vals[0]} at {tp_label(base)} → {vals[1]} at {tp_label(last)}")
    return ("Estimated average scores: " + "; ".join(parts) + ".") if parts else ""
