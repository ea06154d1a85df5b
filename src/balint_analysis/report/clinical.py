"""Clinical meaning (reliable change, cut-off movement), item quality and safety-item counts.

Inputs are optional aggregate files of the score and model stages: ``clinical.csv`` (Jacobson–
Truax reliable change per outcome × timepoint × group), ``cutoffs.csv`` (movement between the
published score categories), ``items.csv`` (item descriptives) and ``flags.csv`` (counts of
safety-item answers). Every set of counts that adds up to a shown total goes through
:func:`balint_analysis.report.disclosure.protect_line`: a count of 1..k − 1 reads ``"<k"``, and
further counts read ``"hidden"`` until no hidden count can be worked out from the total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.config import StudyConfig
from balint_analysis.report.disclosure import (
    SECONDARY_LABEL,
    STATISTIC_LABEL,
    is_primary,
    n_label,
    protect_line,
    share_label,
)
from balint_analysis.report.tables import numeric, suppressed
from balint_analysis.report.text import ScaleInfo, fmt, fmt_int, is_missing, tp_label

__all__ = [
    "FLOOR_CEILING",
    "cutoff_section",
    "flags_section",
    "hidden_counts",
    "items_section",
    "reliable_change_section",
]

#: An item with at least this share of answers at its lowest/highest option is flagged.
FLOOR_CEILING = 0.15
#: Columns that identify a person: never shown, whatever file they turn up in.
_PERSON_COLS = {"participant", "participant_id", "pseudonym", "id", "record_id", "email"}


def hidden_counts(counts: Mapping[str, Any], min_cell: int) -> set[str]:
    """Keys of the counts to hide when they add up to a shown total (primary or secondary)."""
    keys = list(counts)
    prot = protect_line([counts[k] for k in keys], min_cell)
    return {k for k, hide in zip(keys, prot.hides, strict=True) if hide}


def _labels(counts: Mapping[str, Any], total: Any, min_cell: int) -> tuple[dict[str, str], set]:
    """Display text per count of a line adding up to ``total``, and the keys hidden."""
    keys = list(counts)
    vals = [counts[k] for k in keys]
    prot = protect_line(vals, min_cell)
    texts = prot.labels(vals, min_cell, total)
    hidden = {k for k, h in zip(keys, prot.hides, strict=True) if h}
    return dict(zip(keys, texts, strict=True)), hidden


def _arm_names(arms: Sequence[tuple[str, str, str]]) -> dict[str, str]:
    return {label: name[:1].upper() + name[1:] for label, name, _ in arms}


def _sorted(df: pd.DataFrame, tps: Sequence[str], arms: Sequence[tuple[str, str, str]]):
    t_o = {t: i for i, t in enumerate(tps)}
    a_o = {a[0]: i for i, a in enumerate(arms)}
    return df.assign(
        _t=df["timepoint"].map(lambda t: t_o.get(str(t), 99)),
        _a=df["group"].map(lambda g: a_o.get(str(g), 99)),
    ).sort_values(["_t", "_a", "group"], kind="mergesort")


def reliable_change_section(
    clinical: pd.DataFrame,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    timepoints: Sequence[str],
    arms: Sequence[tuple[str, str, str]],
    min_cell: int,
) -> dict[str, Any]:
    """Share reliably improved / unchanged / deteriorated per outcome, timepoint and group."""
    need = {"instrument", "scale", "timepoint", "group", "n", "improved", "deteriorated"}
    if not len(clinical) or not need <= set(clinical):
        return {"available": False, "outcomes": []}
    names = _arm_names(arms)
    outcomes = []
    for inst, scale in order:
        sel = clinical[(clinical["instrument"] == inst) & (clinical["scale"] == scale)]
        if not len(sel):
            continue
        rows, last_t, by_group = [], None, {}
        for r in _sorted(sel, timepoints, arms).to_dict("records"):
            t, g = str(r["timepoint"]), str(r["group"])
            name = names.get(g, g)
            s_diff = r.get("s_diff")
            threshold = "—" if is_missing(s_diff) else fmt(1.96 * float(s_diff))
            if suppressed(r.get("n"), min_cell) or is_missing(r.get("n")):
                rows.append(
                    {"timepoint": tp_label(t), "group": name, "n": n_label(r.get("n"), min_cell),
                     "improved": STATISTIC_LABEL, "unchanged": "", "deteriorated": "",
                     "threshold": threshold}
                )  # fmt: skip
                continue
            counts = {k: r.get(k) for k in ("improved", "unchanged", "deteriorated")}
            if is_missing(counts["unchanged"]):  # follows from n: protected with the others
                known = [counts[k] for k in ("improved", "deteriorated")]
                if not any(is_missing(v) for v in known):
                    counts["unchanged"] = float(r["n"]) - sum(float(v) for v in known)
            texts, hide = _labels(counts, r["n"], min_cell)
            rows.append(
                {
                    "timepoint": tp_label(t),
                    "group": name,
                    "n": fmt_int(r["n"]),
                    **texts,
                    "threshold": threshold,
                }
            )
            last_t = t
            raw_name = next((a[1] for a in arms if a[0] == g), g)
            by_group.setdefault(t, {})[g] = (raw_name, r, hide)
        sentence = ""
        if last_t is not None:
            parts = []
            for name, r, hide in by_group[last_t].values():
                bits = [
                    f"{100 * float(r[k]) / float(r['n']):.0f}% {word}"
                    for k, word in (("improved", "improved"), ("deteriorated", "deteriorated"))
                    if k not in hide and not is_missing(r.get(k))
                ]
                if bits:
                    parts.append(f"in the {name} " + " and ".join(bits))
            if parts:
                sentence = (
                    f"By {tp_label(last_t)}, " + "; ".join(parts) + " reliably (by more than "
                    "measurement error alone would explain)."
                )
        rel = numeric(sel.get("reliability", pd.Series(dtype=float))).dropna()
        info = infos[(inst, scale)]
        outcomes.append(
            {
                "id": f"rci-{inst}-{scale}".replace("_", "-"),
                "title": f"{info.label} ({info.short_instrument})",
                "rows": rows,
                "sentence": sentence,
                "reliability": fmt(rel.iloc[0], 2) if len(rel) else "—",
            }
        )
    return {"available": True, "outcomes": outcomes}


def _ranks(config: StudyConfig, inst: str, scale: str) -> tuple[dict[str, int], bool | None]:
    """Category label → rank (low to high score), and whether a higher rank is worse."""
    i = config.instruments.get(inst)
    if i is None or scale not in i.scales:
        return {}, None
    s = i.scales[scale]
    worse = {"higher_is_worse": True, "higher_is_better": False}.get(s.direction)
    return {c.label: k for k, c in enumerate(s.categories)}, worse


def cutoff_section(
    cutoffs: pd.DataFrame,
    config: StudyConfig,
    order: Sequence[tuple[str, str]],
    infos: Mapping[tuple[str, str], ScaleInfo],
    arms: Sequence[tuple[str, str, str]],
    min_cell: int,
) -> dict[str, Any]:
    """Movement between published score categories from baseline to each later timepoint."""
    need = {"instrument", "scale", "timepoint", "group", "from_category", "to_category", "n"}
    if not len(cutoffs) or not need <= set(cutoffs):
        return {"available": False, "outcomes": []}
    names = _arm_names(arms)
    outcomes = []
    for inst, scale in order:
        sel = cutoffs[(cutoffs["instrument"] == inst) & (cutoffs["scale"] == scale)]
        sel = sel[sel["from_category"].notna() & sel["to_category"].notna()]
        if not len(sel):
            continue
        rank, worse = _ranks(config, inst, scale)
        cats = sorted(rank, key=rank.get) if rank else []
        worst = (cats[-1] if worse else cats[0]) if cats and worse is not None else None
        rows = []
        for (t, g), part in _sorted(sel, config.design.timepoints, arms).groupby(
            ["_t", "group"], sort=False
        ):
            t = str(part["timepoint"].iloc[0])
            n = numeric(part["n"]).fillna(0)
            fr = part["from_category"].astype(str).map(rank)
            to = part["to_category"].astype(str).map(rank)
            if worse is None or fr.isna().any() or to.isna().any():
                moved = {"better": None, "same": float(n[fr == to].sum()), "worse": None}
                moved["changed"] = float(n.sum()) - moved["same"]
            else:
                up = to > fr
                moved = {
                    "better": float(n[(to < fr) if worse else up].sum()),
                    "same": float(n[fr == to].sum()),
                    "worse": float(n[up if worse else (to < fr)].sum()),
                }
            total = float(n.sum())
            texts, _ = _labels({k: v for k, v in moved.items() if v is not None}, total, min_cell)
            small = total < min_cell
            worst_cells = {}
            if worst is not None:
                worst_cells = {
                    "base": float(n[part["from_category"].astype(str) == worst].sum()),
                    "then": float(n[part["to_category"].astype(str) == worst].sum()),
                }
            # "in the worst category" and "not in it" add up to the shown total
            w_text = {
                k: _labels({"in": v, "out": total - v}, total, min_cell)[0]["in"]
                for k, v in worst_cells.items()
            }
            rows.append(
                {
                    "timepoint": tp_label(t),
                    "group": names.get(str(g), str(g)),
                    "n": n_label(total, min_cell),
                    **{
                        k: (STATISTIC_LABEL if small else texts[k]) if v is not None else "—"
                        for k, v in moved.items()
                        if k != "changed"
                    },
                    "worst": ""
                    if not worst_cells
                    else (
                        STATISTIC_LABEL
                        if small
                        else " → ".join(w_text[k] for k in ("base", "then"))
                    ),
                }
            )
        info = infos[(inst, scale)]
        i = config.instruments.get(inst)
        outcomes.append(
            {
                "id": f"cut-{inst}-{scale}".replace("_", "-"),
                "title": f"{info.label} ({info.short_instrument})",
                "categories": " / ".join(cats),
                "worst": worst or "",
                "source": i.scales[scale].cutoff_source if i and scale in i.scales else "",
                "rows": rows,
            }
        )
    return {"available": True, "outcomes": outcomes}


def items_section(
    items: pd.DataFrame, config: StudyConfig, timepoints: Sequence[str], min_cell: int
) -> dict[str, Any]:
    """Compact item quality: missing answers, floor and ceiling per instrument × timepoint."""
    need = {"instrument", "item", "timepoint", "n", "missing_share"}
    if not len(items) or not need <= set(items):
        return {"available": False, "rows": []}
    t_o = {t: i for i, t in enumerate(timepoints)}
    rows = []
    i_o = {inst: k for k, inst in enumerate(config.instruments)}
    for (inst, t), part in sorted(
        items.groupby(["instrument", "timepoint"]),
        key=lambda kv: (i_o.get(str(kv[0][0]), 99), str(kv[0][0]), t_o.get(str(kv[0][1]), 99)),
    ):
        part = part[~numeric(part["n"]).map(lambda n: suppressed(n, min_cell))]
        name = str(inst)
        if inst in config.instruments:
            full = config.instruments[inst].name
            name = full[full.rfind("(") + 1 : -1] if full.endswith(")") and "(" in full else full
        if not len(part):
            rows.append({"instrument": name, "timepoint": tp_label(str(t)), "n": f"<{min_cell}",
                         "missing": STATISTIC_LABEL, "floor": "", "ceiling": ""})  # fmt: skip
            continue
        miss = numeric(part["missing_share"])
        worst = part.loc[miss.idxmax(), "item"] if miss.notna().any() else None

        def flagged(col: str, part: pd.DataFrame = part) -> str:
            """Like ``3 of 22 (most: item 5, 29%)``, or ``none``."""
            if col not in part:
                return "—"
            share = numeric(part[col])
            hit = share >= FLOOR_CEILING
            if not hit.any():
                return "none"
            top = part.loc[share.idxmax()]
            item = top["item"] if isinstance(top["item"], str) else fmt_int(top["item"])
            most = share_label(share.max(), top["n"], min_cell)
            return f"{int(hit.sum())} of {len(part)} (most: item {item}, {most})"

        n = numeric(part["n"])
        rows.append(
            {
                "instrument": name,
                "timepoint": tp_label(str(t)),
                "n": fmt_int(n.min())
                if n.min() == n.max()
                else f"{fmt_int(n.min())}–{fmt_int(n.max())}",
                "missing": f"median {share_label(miss.median(), n.median(), min_cell, 1)}, "
                f"highest {share_label(miss.max(), n[miss.idxmax()], min_cell, 1)} (item {worst})"
                if worst is not None
                else "—",
                "floor": flagged("floor_share"),
                "ceiling": flagged("ceiling_share"),
            }
        )
    return {"available": True, "rows": rows, "threshold": f"{FLOOR_CEILING:.0%}"}


_FLAG_KEYS = ("instrument", "flag", "item", "group", "timepoint")
_DENOMINATORS = ("n", "n_responses")
_COLUMN_NAMES = {"n": "answers", "n_responses": "answers", "n_flagged": "flagged"}


def _flag_label(config: StudyConfig, r: Mapping[str, Any]) -> str:
    inst = config.instruments.get(str(r.get("instrument")))
    flag = str(r.get("flag", ""))
    if inst is not None and flag in (getattr(inst, "flags", None) or {}):
        name = inst.name
        short = name[name.rfind("(") + 1 : -1] if name.endswith(")") and "(" in name else name
        return f"{short}: {inst.flags[flag].label}"
    return " ".join(str(r[c]) for c in ("instrument", "flag", "item") if c in r) or "—"


def flags_section(
    flags: pd.DataFrame,
    config: StudyConfig,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
) -> dict[str, Any]:
    """Aggregated safety-item counts per group × timepoint (never per person).

    Reads ``flags.csv`` (``instrument, flag, group, timepoint, n_responses, n_flagged``). A
    flagged count is hidden when it is 1..min_cell-1 *or* when fewer than min_cell answers were
    not flagged (otherwise "all 6 of 6 flagged" would disclose every member's answer); a
    denominator below min_cell hides the whole row. A file with a participant column is
    counted per group × timepoint and never listed.
    """
    if not len(flags) or not {"group", "timepoint"} <= set(flags):
        return {"available": False, "rows": [], "columns": []}
    df = flags.copy()
    if _PERSON_COLS & {c.lower() for c in df.columns}:  # per-person rows: count them instead
        keep = [c for c in _FLAG_KEYS if c in df]
        df = df.groupby(keep, dropna=False).size().reset_index(name="n_flagged")
    keys = [c for c in _FLAG_KEYS if c in df]
    counts = [c for c in df.columns if c not in keys and numeric(df[c]).notna().any()]
    denom = next((c for c in _DENOMINATORS if c in counts), None)
    names = _arm_names(arms)
    rows = []
    for r in _sorted(df, timepoints, arms).to_dict("records"):
        vals = {c: numeric(pd.Series([r.get(c)])).iloc[0] for c in counts}
        total = vals.get(denom) if denom else None
        small_n = total is not None and is_primary(total, min_cell)  # 0 answers: nothing to hide
        cells = []
        for c, v in vals.items():
            if (c == denom or total is None or is_missing(total) or is_missing(v)
                    or float(v) > float(total)):  # fmt: skip
                cells.append(n_label(v, min_cell) if not small_n else f"<{min_cell}")
            elif small_n:
                cells.append(SECONDARY_LABEL)
            else:  # flagged and not flagged add up to the answers shown
                cells.append(_labels({"in": v, "out": float(total) - float(v)}, None,
                                     min_cell)[0]["in"])  # fmt: skip
        rows.append(
            {
                "what": _flag_label(config, r),
                "group": names.get(str(r["group"]), str(r["group"])),
                "timepoint": tp_label(str(r["timepoint"])),
                "cells": cells,
            }
        )
    return {
        "available": True,
        "rows": rows,
        "columns": [_COLUMN_NAMES.get(c, c.replace("_", " ")) for c in counts],
    }
