"""Data-quality details from ``flow.json`` and ``careless.csv`` (aggregates only).

* :func:`file_details`: per file, what ingest detected and how (only the keys present).
* :func:`careless_section`: careless-responding / platform / code-matching flags counted per
  flag × group × timepoint, protected by :mod:`balint_analysis.report.disclosure`. No row,
  person or value from ``careless.csv`` reaches the report.
* :func:`code_matching`: the matching method, per-timepoint counts and the distribution of edit
  distances of tolerant links (never a code, file row or participant).
* :func:`withheld_sentence`: why some ``rejected.csv`` values read ``(withheld: …)``.
* :func:`rows_by_group_timepoint`: rows in / accepted / rejected per group × timepoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.privacy import WITHHELD
from balint_analysis.report.disclosure import n_label, protect_line
from balint_analysis.report.text import fmt_int, is_missing, tp_label

__all__ = [
    "careless_section",
    "code_matching",
    "file_details",
    "rows_by_group_timepoint",
    "withheld_sentence",
]

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
_CONTAINERS = {"xlsx": "Excel workbook", "sav": "SPSS file", "text": "text file"}
_FLAG_NAMES = {
    "longstring": "Same answer many times in a row (longstring)",
    "too fast": "Completed implausibly fast",
    "participant code matched tolerantly": "Participant code matched tolerantly",
}
_MATCH_COLS = (
    ("exact", "exact"),
    ("after_normalising", "after normalising"),
    ("fuzzy", "tolerant (fuzzy)"),
    ("unmatched", "unmatched"),
    ("invalid_code", "invalid code"),
)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


#: What a platform's answer codes are, for the data-quality table.
_CODED = {"sosci": "SoSci Survey option positions", "surveymonkey": "SurveyMonkey option positions",
          "limesurvey": "LimeSurvey answer codes"}  # fmt: skip
#: The platform's "no answer" codes that ingest sets blank (``RawExport.missing_codes``).
_NO_ANSWER = {"sosci": "SoSci −9, −1", "limesurvey": "LimeSurvey “N/A”"}


def file_details(f: Mapping[str, Any]) -> list[str]:
    """What was detected in one file entry of ``flow.json`` and how; absent keys are skipped."""
    out: list[str] = []
    fmt = f.get("format")
    if not is_missing(fmt) and fmt:
        how = {True: " (detected from the file)", False: " (as set in the config)"}.get(
            f.get("format_detected"), ""
        )
        variant = f.get("variant")
        out.append(f"format {fmt}" + (f" / {variant}" if variant else "") + how)
    container = f.get("container")
    if container and container != "text":
        out.append(f"read as {_CONTAINERS.get(str(container), str(container))}")
    enc = f.get("encoding")
    if enc and (not container or container == "text"):
        out.append(f"encoding {enc}")
    delim = f.get("delimiter")
    if delim:
        out.append(f"delimiter {_DELIMITERS.get(str(delim), repr(delim))}")
    dec = f.get("decimal")
    if dec and dec != ".":
        out.append(f"decimal mark “{dec}” (converted to “.”)")
    if f.get("sheet"):
        out.append(f"worksheet “{f['sheet']}”")
    hr = f.get("header_rows")
    if not is_missing(hr) and hr is not None and int(hr) > 1:
        out.append(f"{int(hr)} header rows")
    dups = list(f.get("duplicate_headers") or [])
    if dups:
        out.append("duplicate column names renamed: " + ", ".join(str(d) for d in dups))
    um = f.get("user_missing_set_blank") or {}
    if isinstance(um, Mapping) and um:
        n = sum(int(v) for v in um.values() if not is_missing(v))
        out.append(
            f"SPSS user-missing codes blanked: {_plural(n, 'value')} in "
            f"{_plural(len(um), 'column')} ({', '.join(str(c) for c in sorted(um))})"
        )
    rec = list(f.get("recoded_by_value_labels") or [])
    if rec:
        out.append(f"{_plural(len(rec), 'item column')} recoded through the SPSS value labels")
    serials = f.get("excel_serial_times")
    if not is_missing(serials) and serials and int(serials) > 0:
        out.append(f"{_plural(int(serials), 'submission time')} written as Excel serial numbers "
                   "(the file was re-saved in Excel), converted to dates")  # fmt: skip
    blanked = f.get("no_answer_codes_set_blank") or {}
    if isinstance(blanked, Mapping) and blanked:
        n = sum(int(v) for v in blanked.values() if not is_missing(v))
        example = _NO_ANSWER.get(str(fmt))
        out.append(f"{_plural(n, 'answer')} coded as “no answer” by the platform"
                   + (f" (e.g. {example})" if example else "")
                   + f" set missing, in {_plural(len(blanked), 'item column')}")  # fmt: skip
    forms = f.get("redcap_forms")
    if isinstance(forms, Mapping) and len(forms) > 1:
        names = sorted({str(v) for k, v in forms.items() if k != "from"})
        out.append(f"completeness judged from REDCap form(s) {', '.join(names)} (found from "
                   f"the {forms.get('from', 'column order')})")  # fmt: skip
    codes = f.get("answer_codes")
    if isinstance(codes, Mapping):
        what = _CODED.get(str(fmt), "answer codes")
        how = ("by position (the first option = the lowest value)"
               if codes.get("setting") == "position" else "through the configured map")  # fmt: skip
        out.append(f"{_plural(int(codes.get('cells_decoded') or 0), 'answer')} given as "
                   f"{what}, decoded {how}")  # fmt: skip
    ctm = f.get("choice_text_mapped")
    if not is_missing(ctm) and ctm and int(ctm) > 0:
        out.append(f"{_plural(int(ctm), 'answer')} given as choice text mapped to codes")
    if f.get("mojibake_suspected"):
        out.append("text looks mis-decoded (mojibake suspected): check the file's encoding")
    return out


def rows_by_group_timepoint(
    flow: Mapping[str, Any],
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
) -> dict[str, Any]:
    """Rows in / accepted / rejected per group × timepoint (``unknown``/``unmapped`` last)."""
    data = flow.get("rows_by_group_timepoint") or {}
    if not isinstance(data, Mapping) or not data:
        return {"available": False, "rows": []}
    names = {label: name[:1].upper() + name[1:] for label, name, _ in arms}
    g_order = [a[0] for a in arms] + sorted(g for g in data if g not in names)
    t_order = {t: i for i, t in enumerate(timepoints)}
    rows = []
    for g in g_order:
        per = data.get(g) or {}
        for t in sorted(per, key=lambda x: (t_order.get(x, len(t_order)), x)):
            c = per[t] or {}
            rows.append(
                {
                    "group": names.get(g, "group unknown" if g == "unknown" else g),
                    "timepoint": "not a design timepoint" if t == "unmapped" else tp_label(t),
                    "rows_in": fmt_int(c.get("rows_in")),
                    "rows_accepted": fmt_int(c.get("rows_accepted")),
                    "rows_rejected": fmt_int(c.get("rows_rejected")),
                }
            )
    return {"available": bool(rows), "rows": rows}


def careless_section(
    careless: pd.DataFrame,
    arms: Sequence[tuple[str, str, str]],
    timepoints: Sequence[str],
    min_cell: int,
    accepted: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Flags from ``careless.csv`` counted per flag × group × timepoint (small counts hidden).

    ``accepted`` is ``flow.json``'s ``rows_by_group_timepoint`` (shown in the same report): a
    flagged count and the accepted rows it leaves unflagged are protected together, so neither
    a small flagged count nor a small unflagged one can be worked out.

    An absent file is "not available"; a file with the header only means nothing was flagged.

    A response flagged for several instruments counts once per flag (``source`` and ``row``
    identify a response; they are used for the count only).
    """
    if not {"flag", "group", "timepoint"} <= set(careless.columns):  # absent file
        return {"available": False, "rows": [], "groups": [], "any": False}
    df = careless.copy()
    for c in ("flag", "group", "timepoint"):
        df[c] = df[c].fillna("").astype(str)
    keys = [c for c in ("source", "row") if c in df.columns]
    per = df.drop_duplicates(subset=["flag", "group", "timepoint", *keys]) if keys else df
    counts = per.groupby(["flag", "group", "timepoint"]).size()
    names = {label: name[:1].upper() + name[1:] for label, name, _ in arms}
    groups = [a[0] for a in arms] + sorted(
        {g for g in df["group"] if g not in names}, key=lambda g: (g == "", g)
    )
    tps = list(timepoints) + sorted({t for t in df["timepoint"] if t not in timepoints})
    rows = []
    known = list(_FLAG_NAMES)
    for flag in sorted(
        df["flag"].unique(), key=lambda f: (known.index(f) if f in known else 99, f)
    ):
        for t in tps:
            cells = []
            for g in groups:
                n = int(counts.get((flag, g, t), 0))
                total = ((accepted or {}).get(g) or {}).get(t) or {}
                total = total.get("rows_accepted") if isinstance(total, Mapping) else None
                if is_missing(total) or float(total) < n:
                    cells.append(n_label(n, min_cell))
                else:
                    line = protect_line([n, float(total) - n], min_cell)
                    cells.append(line.labels([n, float(total) - n], min_cell)[0])
            if any(c != "0" for c in cells):
                rows.append(
                    {"flag": _FLAG_NAMES.get(flag, flag), "timepoint": tp_label(t), "cells": cells}
                )
    return {
        "available": True,
        "any": bool(rows),
        "rows": rows,
        "groups": [names.get(g, g or "group unknown") for g in groups],
    }


def code_matching(flow: Mapping[str, Any], timepoints: Sequence[str]) -> dict[str, Any]:
    """Participant-code matching: method, counts per timepoint, edit-distance distribution."""
    m = flow.get("code_matching") or {}
    method = str(m.get("method") or "")
    if not method:
        return {"available": False}
    if method == "exact":
        return {
            "available": True,
            "method": "exact",
            "text": "Participant codes were matched exactly (after trimming spaces): a code "
            "typed differently at a later timepoint is not linked to the same person.",
            "columns": [],
            "rows": [],
            "distances": [],
        }
    anchors = str(m.get("anchors") or "")
    pattern = m.get("pattern")
    text = (
        "Participant codes were matched tolerantly: normalised (case, spaces, hyphens, "
        "diacritics), then linked to "
        + ("the roster's ids" if anchors == "roster" else (anchors or "the baseline codes"))
        + f" within at most {_plural(int(m.get('max_distance') or 0), 'edit')} when exactly one "
        "candidate was that close; ambiguous codes stay unmatched."
        + (f" Expected code pattern: {pattern}." if pattern else "")
        + " Each tolerant link is listed (file and row, never the codes) in flow.json and "
        "careless.csv."
    )
    by_tp = m.get("by_timepoint") or {}
    order = {t: i for i, t in enumerate(timepoints)}
    rows = []
    for t in sorted(by_tp, key=lambda x: (order.get(x, len(order)), x)):
        c = by_tp[t] or {}
        rows.append(
            {"timepoint": tp_label(t), "cells": [fmt_int(c.get(k)) for k, _ in _MATCH_COLS]}
        )
    dist: dict[tuple[int, str], int] = {}
    for fm in m.get("fuzzy_matches") or []:
        if is_missing(fm.get("distance")):
            continue
        key = (int(fm["distance"]), str(fm.get("edit") or ""))
        dist[key] = dist.get(key, 0) + 1
    distances = [
        {"distance": str(d), "edit": e or "—", "n": str(n)} for (d, e), n in sorted(dist.items())
    ]
    return {
        "available": True,
        "method": "tolerant",
        "text": text,
        "columns": [label for _, label in _MATCH_COLS],
        "rows": rows,
        "distances": distances,
    }


def withheld_sentence(rejected: pd.DataFrame) -> str:
    """Why some raw values in ``rejected.csv`` read ``(withheld: …)`` (with the count)."""
    values = rejected["value"].astype(str) if "value" in rejected else pd.Series([], dtype=str)
    n = int(values.str.startswith(WITHHELD).sum())
    base = (
        "In rejected.csv, a raw value that could identify someone (names, initials, e-mails, "
        "dates, phone numbers, free text, undeclared labels) is replaced on purpose by a "
        "description such as “(withheld: text, 4 characters)”; only answers within or just "
        "outside an item's range and declared codes are shown."
    )
    if n:
        return base + f" {_plural(n, 'value is', 'values are')} withheld in this run."
    return base + " No value needed withholding in this run."
