"""Render a programme's pooled-stage files into one self-contained HTML report.

The programme report follows the cohort report's conventions (same stylesheet, glossary
mechanism, disclosure rule, no scripts, nothing loaded from anywhere, deterministic output): the
plain-language answer first (:mod:`.report_text`), then the forest plot, heterogeneity and the
leave-one-out table, the one-stage vs two-stage comparison, each cohort's design strength and
attrition, and the provenance of every cohort with relative links to the cohort reports.

:func:`load_programme` reads ``data/processed/programmes/<name>/`` (``meta.csv``,
``meta_analysis.csv``, ``leave_one_out.csv``, ``ipd.csv``, ``cohorts.json``);
:func:`render_programme_report` returns the HTML. The cohorts' own results are read, never
recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from balint_analysis.errors import InputError
from balint_analysis.programme.report_tables import (
    all_outcome_rows,
    cohort_label,
    cohort_rows,
    forest_figure,
    leave_one_out_rows,
    provenance_rows,
)
from balint_analysis.programme.report_text import (
    PROGRAMME_GLOSSARY,
    Outcome,
    answer_sentences,
    stages_sentence,
)
from balint_analysis.report.disclosure import disclosure_paragraphs
from balint_analysis.report.glossary import gloss, glossary_entries
from balint_analysis.report.inputs import package_versions
from balint_analysis.report.text import fmt, fmt_ci, fmt_p, is_missing, tp_label, truth

__all__ = ["ProgrammeInputs", "load_programme", "render_programme_report"]

MEASURES = ("difference_in_change", "smd")
_CSV = ("meta.csv", "meta_analysis.csv", "leave_one_out.csv", "ipd.csv")
_OUTCOME = ["instrument", "scale", "timepoint"]
_REQUIRED_COLUMNS = {
    "meta.csv": ["cohort", *_OUTCOME, "estimate", "se", "ci_low", "ci_high"],
    "meta_analysis.csv": [*_OUTCOME, "measure", "estimate", "ci_low", "ci_high", "k"],
    "leave_one_out.csv": [*_OUTCOME, "measure", "omitted", "estimate", "ci_low", "ci_high"],
    "ipd.csv": [*_OUTCOME, "estimate", "ci_low", "ci_high"],
}


@dataclass(frozen=True)
class ProgrammeInputs:
    """The pooled-stage files of one programme, as read."""

    meta: pd.DataFrame
    meta_analysis: pd.DataFrame
    leave_one_out: pd.DataFrame
    ipd: pd.DataFrame
    cohorts: list[dict[str, Any]]
    checksums: list[dict[str, str]]


def _read_csv(path: Path, required: bool) -> pd.DataFrame:
    if not path.exists():
        if required:
            raise InputError(f"{path}: missing; run the programme's pooled stage first.")
        return pd.DataFrame()
    try:
        return pd.read_csv(path, keep_default_na=True)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as CSV ({type(exc).__name__}).") from None


def load_programme(folder: str | Path) -> ProgrammeInputs:
    """Read the pooled-stage files of one programme.

    Parameters
    ----------
    folder : str or Path
        ``data/processed/programmes/<name>/``.

    Returns
    -------
    ProgrammeInputs

    Raises
    ------
    InputError
        A required file (``meta.csv``, ``meta_analysis.csv``, ``cohorts.json``) is missing or
        unreadable: one line naming the file and the fix.
    """
    folder = Path(folder)
    frames = {name: _read_csv(folder / name, name in _CSV[:2]) for name in _CSV}
    path = folder / "cohorts.json"
    if not path.exists():
        raise InputError(f"{path}: missing; run the programme's pooled stage first.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: cannot be read as JSON ({type(exc).__name__}).") from None
    cohorts = raw.get("cohorts", raw) if isinstance(raw, dict) else raw
    if isinstance(cohorts, dict):  # {name: {...}}
        cohorts = [{"name": k, **v} for k, v in cohorts.items() if isinstance(v, dict)]
    if not isinstance(cohorts, list) or not all(isinstance(c, dict) for c in cohorts):
        raise InputError(f"{path}: expected a list of cohorts; rerun the programme's pooled stage.")
    for name, needed in _REQUIRED_COLUMNS.items():
        missing = [c for c in needed if c not in frames[name]]
        if missing and not (frames[name].empty and name not in _CSV[:2]):
            raise InputError(
                f"{folder / name}: column(s) {', '.join(missing)} missing; rerun the programme's "
                "pooled stage."
            )
    checksums = [
        {"path": name, "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
        for name in (*_CSV, "cohorts.json")
        if (folder / name).exists()
    ]
    return ProgrammeInputs(
        frames["meta.csv"], frames["meta_analysis.csv"], frames["leave_one_out.csv"],
        frames["ipd.csv"], [dict(c) for c in cohorts], checksums,
    )  # fmt: skip


def _primary(meta: pd.DataFrame, settings: Mapping[str, Any]) -> tuple[str, str, str]:
    """(instrument, scale, timepoint) of the primary outcome: from settings, else meta.csv."""
    p = settings.get("primary") or {}
    if isinstance(p, str) and "." in p:
        p = dict(zip(("instrument", "scale"), p.split(".", 1), strict=True))
    inst, scale = p.get("instrument"), p.get("scale")
    tp = p.get("timepoint") or settings.get("primary_timepoint")
    rows = meta
    if "role" in meta and (meta["role"] == "primary").any():
        rows = meta[meta["role"] == "primary"]
    if "primary_timepoint" in rows:
        flagged = rows[[truth(v) is True for v in rows["primary_timepoint"]]]
        rows = flagged if len(flagged) else rows
    if rows.empty:
        raise InputError("meta.csv: no rows; no cohort produced an effect to pool.")
    first = rows.iloc[0]
    return (str(inst or first["instrument"]), str(scale or first["scale"]),
            str(tp or first["timepoint"]))  # fmt: skip


def _select(df: pd.DataFrame, **keys: str) -> pd.DataFrame:
    if df.empty:
        return df
    mask = pd.Series(True, index=df.index)
    for col, value in keys.items():
        if col in df:
            mask &= df[col].astype(str) == str(value)
    return df[mask]


def _row(df: pd.DataFrame) -> dict[str, Any] | None:
    return None if df.empty else df.iloc[0].to_dict()


def _min_cell(settings: Mapping[str, Any], cohorts: list[dict[str, Any]]) -> int:
    """The largest minimum cell size of the programme and its cohorts (the strictest rule)."""
    sizes = [settings.get("min_cell_size")] + [c.get("min_cell_size") for c in cohorts]
    known = [int(s) for s in sizes if not is_missing(s)]
    return max(known) if known else 5


def _labels(meta: pd.DataFrame, settings: Mapping[str, Any]) -> dict[str, str]:
    """Display label per ``"instrument.scale"`` pooled."""
    pairs = meta[["instrument", "scale"]].drop_duplicates().astype(str).itertuples(index=False)
    return {f"{i}.{s}": _outcome(meta, settings, i, s, "", "points").label for i, s in pairs}


def _outcome(
    meta: pd.DataFrame, settings: Mapping[str, Any], inst: str, scale: str, tp: str, unit: str
) -> Outcome:
    rows = _select(meta, instrument=inst, scale=scale)
    labels = settings.get("labels") or {}
    label = labels.get(f"{inst}.{scale}")
    if not label and "label" in rows and rows["label"].notna().any():
        label = str(rows["label"].dropna().iloc[0])
    label = label or f"{scale.replace('_', ' ').capitalize()} ({inst})"
    # "Scale (Long instrument name (ABBR))" reads as "Scale (ABBR)": the full name is long
    # and the sentences repeat it.
    nested = re.fullmatch(r"(.+?) \((?:[^()]*)\(([^()]+)\)\)", label)
    label = f"{nested.group(1)} ({nested.group(2)})" if nested else label
    direction = (settings.get("directions") or {}).get(f"{inst}.{scale}")
    if direction is None and "higher_is_worse" in rows and rows["higher_is_worse"].notna().any():
        worse = truth(rows["higher_is_worse"].dropna().iloc[0])
        direction = None if worse is None else (
            "higher_is_worse" if worse else "higher_is_better")  # fmt: skip
    return Outcome(label, tp_label(tp), direction, unit)


def _one_stage_counterpart(
    meta_analysis: pd.DataFrame, where: Mapping[str, str], one: Mapping[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    """The two-stage row in the one-stage model's unit (points, or SD when it pooled
    standardised scores), and that unit: the two are compared like with like."""
    standardised = one is not None and str(one.get("pooling")) == "standardised"
    measure = "smd" if standardised else "difference_in_change"
    return _row(
        _select(meta_analysis, **where, measure=measure)
    ), "SD" if standardised else "points"


def _key_figure(row: Mapping[str, Any] | None, unit: str, k: int) -> dict[str, str] | None:
    if row is None or is_missing(row.get("estimate")):
        return None
    digits = 2 if unit == "SD" else 1
    pi = "" if k < 3 else fmt_ci(row.get("pi_low"), row.get("pi_high"), digits)
    return {
        "value": fmt(row["estimate"], digits),
        "unit": unit,
        "ci": fmt_ci(row.get("ci_low"), row.get("ci_high"), digits),
        "pi": "" if pi == "—" else pi,
    }


def build_context(inputs: ProgrammeInputs, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Every value the programme template shows."""
    measure = str(settings.get("measure") or "difference_in_change")
    if measure not in MEASURES:
        raise InputError(f"programme settings: measure {measure!r} is not one of {MEASURES}.")
    unit = "points" if measure == "difference_in_change" else "SD"
    alpha = float(settings.get("alpha") or 0.05)
    level = f"{100 * (1 - alpha):g}%"
    k_min = _min_cell(settings, inputs.cohorts)
    inst, scale, tp = _primary(inputs.meta, settings)
    outcome = _outcome(inputs.meta, settings, inst, scale, tp, unit)
    where = {"instrument": inst, "scale": scale, "timepoint": tp}
    pooled = _row(_select(inputs.meta_analysis, **where, measure=measure))
    if pooled is None:
        raise InputError(
            f"meta_analysis.csv: no row for {inst}.{scale} at {tp} ({measure}); rerun the "
            "programme's pooled stage."
        )
    smd = None if measure == "smd" else _row(_select(inputs.meta_analysis, **where, measure="smd"))
    one = _row(_select(inputs.ipd, **where))
    two_for_one, one_unit = _one_stage_counterpart(inputs.meta_analysis, where, one)
    k = 0 if is_missing(pooled.get("k")) else int(float(pooled["k"]))
    studies = _select(inputs.meta, **where)
    names = sorted({str(c) for c in studies.get("cohort", [])})
    return {
        "title": str(settings.get("title") or f"Programme {settings.get('name', '')}".strip()),
        "name": str(settings.get("name") or ""),
        "level": level,
        "measure": measure,
        "unit": unit,
        "outcome": outcome,
        "k": k,
        "n_cohorts": len(inputs.cohorts) or len(names),
        "key": _key_figure(pooled, unit, k),
        **answer_sentences(pooled, outcome, level=level, smd=smd),
        "method": str(pooled.get("method") or ""),
        "forest": Markup(
            forest_figure(
                studies, pooled, one if one_unit == unit else None, outcome, measure, level, k_min
            )
        ),
        "forest_ipd": one is not None and one_unit == unit and not is_missing(one.get("estimate")),
        "loo": leave_one_out_rows(
            _select(inputs.leave_one_out, **where, measure=measure),
            pooled,
            unit,
            {str(r["cohort"]): cohort_label(r) for _, r in studies.iterrows()},
        ),
        "outcomes": all_outcome_rows(
            inputs.meta_analysis, measure, _labels(inputs.meta, settings), (inst, scale, tp)
        ),
        "pooled": {k: fmt(pooled.get(k), d) for k, d in (("tau2", 2), ("q", 2), ("h2", 2))}
        | {"q_p": fmt_p(pooled.get("q_p")), "df": fmt(pooled.get("df"), 0)},
        "stages": stages_sentence(two_for_one or pooled, one, one_unit),
        "demo_key": sorted(
            str(c.get("name")) for c in inputs.cohorts if truth(c.get("demo_key_used"))
        ),
        "one_stage": one,
        "cohort_rows": cohort_rows(_select(inputs.meta, **where), inputs.cohorts, k_min),
        "provenance_rows": provenance_rows(inputs.cohorts),
        "checksums": inputs.checksums,
        "min_cell": k_min,
        "disclosure": disclosure_paragraphs(k_min),
        "versions": package_versions(),
    }


def render_programme_report(folder: str | Path, *, settings: Mapping[str, Any]) -> str:
    """Render the programme report of one pooled-stage folder (pure and deterministic).

    Parameters
    ----------
    folder : str or Path
        ``data/processed/programmes/<name>/`` with the pooled stage's files.
    settings : Mapping
        The programme's settings: ``name``, ``title``, ``primary`` (``{instrument, scale,
        timepoint}``, default the rows meta.csv marks primary), ``measure``
        (``"difference_in_change"`` or ``"smd"``), ``alpha``, ``min_cell_size`` (the strictest
        of it and the cohorts' is used), optional ``labels``/``directions`` per
        ``"instrument.scale"``.

    Returns
    -------
    str
        The self-contained HTML page.
    """
    ctx = build_context(load_programme(folder), settings)
    css = resources.files("balint_analysis.report").joinpath("templates/report.css")
    ctx["css"] = Markup(css.read_text(encoding="utf-8"))
    env = jinja2.Environment(  # the cohort report's templates folder and settings
        loader=jinja2.PackageLoader("balint_analysis.report", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True,
    )  # fmt: skip
    used: set[str] = set()  # terms glossed above the glossary: it lists only those
    env.filters["gloss"] = functools.partial(gloss, used=used, terms=PROGRAMME_GLOSSARY)
    ctx["glossary"], ctx["glossary_used"] = glossary_entries(PROGRAMME_GLOSSARY), used
    return env.get_template("programme.html.j2").render(**ctx)
