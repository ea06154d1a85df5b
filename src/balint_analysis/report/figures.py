"""Deterministic inline SVG figures.

The report's charts are drawn by :mod:`.svgchart` (no matplotlib: its import and layout cost the
report job over a second): no XML prolog, DOCTYPE or metadata (so no URLs at all), ids prefixed
per figure so several figures can share one page, a ``<title>``/``<desc>`` plus ``role="img"``
for screen readers, text as text. :func:`inline_svg` cleans up matplotlib's standalone SVG the
same way (the power-analysis page still draws with matplotlib).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.svgchart import Series, line_chart_svg
from balint_analysis.report.tables import suppressed
from balint_analysis.report.text import DesignInfo, ScaleInfo, fmt, fmt_ci, is_missing, tp_label

__all__ = ["OKABE_ITO", "ci_strip", "emmeans_svg", "inline_svg"]

#: Okabe–Ito colour-blind-safe palette: Balint arm blue, comparison arm orange.
OKABE_ITO = {"intervention": "#0072B2", "control": "#D55E00", "grey": "#666666"}
_MARKERS = {"intervention": "circle", "control": "square"}


def inline_svg(svg: str, prefix: str, title: str, desc: str) -> str:
    """Turn matplotlib's standalone SVG into a self-contained, accessible inline ``<svg>``.

    Parameters
    ----------
    svg
        The SVG document as written by ``savefig(format="svg")``.
    prefix
        A per-figure id prefix (letters, digits, hyphens) so ids are unique within the page.
    title, desc
        Plain text for ``<title>`` and ``<desc>`` (escaped here).

    Returns
    -------
    str
        Markup safe to insert into HTML as-is.
    """
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    referenced = set(re.findall(r"#([A-Za-z_][\w.-]*)", svg))

    def _id(m: re.Match[str]) -> str:
        return f' id="{prefix}-{m.group(1)}"' if m.group(1) in referenced else ""

    svg = re.sub(r' id="([^"]+)"', _id, svg)
    svg = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    head_end = svg.index(">")
    head = svg[:head_end]
    viewbox = re.search(r'viewBox="([^"]+)"', head)
    vb = viewbox.group(1) if viewbox else "0 0 460 260"
    new_head = (
        f'<svg viewBox="{vb}" role="img" aria-labelledby="{prefix}-title {prefix}-desc" '
        f'class="figure-svg" preserveAspectRatio="xMidYMid meet" focusable="false">'
        f'<title id="{prefix}-title">{html.escape(title)}</title>'
        f'<desc id="{prefix}-desc">{html.escape(desc)}</desc>'
    )
    svg = new_head + svg[head_end + 1 :]
    # Collapse the indentation matplotlib writes: fewer bytes, same drawing.
    return re.sub(r">\s+<", "><", svg).strip()


def emmeans_svg(
    emm: pd.DataFrame,
    *,
    timepoints: Sequence[str],
    arms: Sequence[tuple[str, str, str]],
    info: ScaleInfo,
    fig_id: str,
    level: str = "95%",
) -> tuple[str, str]:
    """Estimated marginal means over time by arm with CI error bars.

    Parameters
    ----------
    emm
        ``emmeans.csv`` rows of one outcome, small cells already removed (``group, timepoint,
        mean, ci_low, ci_high``).
    timepoints
        Design order of the timepoints (x axis).
    arms
        ``(data label, display name, role)`` with role ``"intervention"`` or ``"control"``.
    info
        The outcome scale (label, range, direction).
    fig_id
        Unique id prefix for this figure.
    level
        Confidence level label, e.g. ``"95%"``.

    Returns
    -------
    tuple[str, str]
        The inline SVG markup and the plain-text description also used as its ``<desc>``.
    """
    x_of = {t: i for i, t in enumerate(timepoints)}
    desc_parts: list[str] = []
    series = []
    n_arms = max(len(arms), 1)
    for k, (label, name, role) in enumerate(arms):
        rows = emm[emm["group"].astype(str) == label]
        rows = rows[rows["timepoint"].isin(x_of)].copy()
        rows["_x"] = rows["timepoint"].map(x_of)
        rows = rows.sort_values("_x")
        display = name[:1].upper() + name[1:]
        points = [(float(r["_x"]), float(r["mean"]), float(r["ci_low"]), float(r["ci_high"]))
                  for _, r in rows.iterrows()]  # fmt: skip
        series.append(Series(name=display, points=points, color=OKABE_ITO[role],
                             marker=_MARKERS[role], dashed=role == "control",
                             offset=(k - (n_arms - 1) / 2) * 0.08))  # fmt: skip
        pts = [f"{tp_label(r['timepoint'])} {fmt(r['mean'])} "
               f"({level} CI {fmt_ci(r['ci_low'], r['ci_high'])})" for _, r in rows.iterrows()]
        shown = "; ".join(pts) if pts else "no reportable means"
        desc_parts.append(f"{display}: {shown}.")
    x_labels = [[tp_label(t), *(["(baseline)"] if i == 0 else [])]
                for i, t in enumerate(timepoints)]  # fmt: skip
    y_label = [info.label, *([f"({info.range_text})"] if info.range_text else [])]
    width, height = 400, 290  # small drawing, large text: readable when scaled to a phone
    body = line_chart_svg(series, x_labels=x_labels, y_label=y_label, width=width,
                          height=height)  # fmt: skip
    title = f"{info.label}: estimated mean by group over time, with {level} confidence intervals"
    desc = (
        f"Line chart of the estimated mean {info.label.lower()} score ({info.range_text}) at "
        f"{', '.join(tp_label(t) for t in timepoints)}, one line per group, error bars showing "
        f"the {level} confidence interval. " + " ".join(desc_parts)
    )
    prefix = f"fig-{fig_id}"
    svg = (f'<svg viewBox="0 0 {width} {height}" role="img" '
           f'aria-labelledby="{prefix}-title {prefix}-desc" class="figure-svg" '
           f'preserveAspectRatio="xMidYMid meet" focusable="false">'
           f'<title id="{prefix}-title">{html.escape(title)}</title>'
           f'<desc id="{prefix}-desc">{html.escape(desc)}</desc>{body}</svg>')  # fmt: skip
    return svg, desc


def ci_strip(
    rows: Sequence[Mapping[str, Any]], info: ScaleInfo, design: DesignInfo, min_cell: int
) -> dict[str, Any]:
    """Geometry of the first-screen CI strip (drawn with HTML/CSS, no image).

    Each effect row becomes a bar from ``ci_low`` to ``ci_high`` and a dot at the estimate,
    positioned in % of a common axis centred on zero, plus the words for each side of zero.
    Rows with suppressed cells or without a CI are left out.
    """
    usable = [
        r
        for r in rows
        if not is_missing(r.get("ci_low"))
        and not is_missing(r.get("ci_high"))
        and not any(suppressed(r.get(c), min_cell) for c in ("n_intervention", "n_control"))
    ]
    if not usable:
        return {}
    span = max(max(abs(float(r["ci_low"])), abs(float(r["ci_high"]))) for r in usable) * 1.1 or 1

    def pos(x: float) -> str:
        return f"{50 + 50 * x / span:.1f}"

    items = [
        {
            "label": tp_label(str(r["timepoint"])),
            "left": pos(float(r["ci_low"])),
            "width": f"{50 * (float(r['ci_high']) - float(r['ci_low'])) / span:.1f}",
            "point": pos(float(r["estimate"])),
            "text": f"{fmt(r['estimate'])} ({fmt_ci(r['ci_low'], r['ci_high'])})",
        }
        for r in usable
    ]
    if design.single_arm:
        good = {
            "higher_is_worse": (" (better)", " (worse)"),
            "higher_is_better": (" (worse)", " (better)"),
        }.get(info.direction or "", ("", ""))
        left, right = "score fell" + good[0], "score rose" + good[1]
    elif info.direction == "higher_is_worse":
        left, right = f"better in the {design.intervention}", f"better in the {design.control}"
    elif info.direction == "higher_is_better":
        left, right = f"better in the {design.control}", f"better in the {design.intervention}"
    else:
        left, right = "lower in the Balint group", "higher in the Balint group"
    return {"items": items, "left": left, "right": right}
