"""Deterministic inline SVG figures (matplotlib, no pyplot, no GUI).

Figures are drawn on a bare :class:`matplotlib.figure.Figure` (rendered by the Agg/SVG canvas,
never a GUI backend) with a fixed ``svg.hashsalt`` and no date metadata, then cleaned up for
inlining into HTML: no XML prolog, DOCTYPE or RDF metadata (so no URLs at all), ids prefixed per
figure so several figures can share one page, and a ``<title>``/``<desc>`` plus ``role="img"``
for screen readers. Text stays text (``svg.fonttype = none``), so it is selectable and scales.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from balint_analysis.report.tables import suppressed
from balint_analysis.report.text import DesignInfo, ScaleInfo, fmt, fmt_ci, is_missing, tp_label

__all__ = ["OKABE_ITO", "ci_strip", "emmeans_svg", "inline_svg"]

#: Okabe–Ito colour-blind-safe palette: Balint arm blue, comparison arm orange.
OKABE_ITO = {"intervention": "#0072B2", "control": "#D55E00", "grey": "#666666"}
_MARKERS = {"intervention": "o", "control": "s"}
_LINES = {"intervention": "-", "control": "--"}

_RC = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "legend.fontsize": 11,
    "path.simplify": False,
    "text.parse_math": False,  # labels come from config/definitions: "$" is not mathtext here
}


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
    import matplotlib  # kept local: importing the report package must not import matplotlib
    from matplotlib.figure import Figure

    x_of = {t: i for i, t in enumerate(timepoints)}
    desc_parts: list[str] = []
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"balint-report-{fig_id}"}):
        fig = Figure(figsize=(5.2, 3.3), layout="constrained")
        ax = fig.add_subplot()
        n_arms = max(len(arms), 1)
        for k, (label, name, role) in enumerate(arms):
            rows = emm[emm["group"].astype(str) == label]
            rows = rows[rows["timepoint"].isin(x_of)].copy()
            rows["_x"] = rows["timepoint"].map(x_of)
            rows = rows.sort_values("_x")
            dodge = (k - (n_arms - 1) / 2) * 0.08
            pts = []
            if len(rows):
                y = rows["mean"].astype(float).to_numpy()
                # clip: a CI that does not contain its mean must not crash the report
                lo = np.clip(y - rows["ci_low"].astype(float).to_numpy(), 0, None)
                hi = np.clip(rows["ci_high"].astype(float).to_numpy() - y, 0, None)
                ax.errorbar(
                    rows["_x"].to_numpy() + dodge,
                    y,
                    yerr=[lo, hi],
                    color=OKABE_ITO[role],
                    marker=_MARKERS[role],
                    linestyle=_LINES[role],
                    linewidth=2,
                    markersize=7,
                    capsize=4,
                    label=name[:1].upper() + name[1:],
                )
                for _, r in rows.iterrows():
                    pts.append(
                        f"{tp_label(r['timepoint'])} {fmt(r['mean'])} "
                        f"({level} CI {fmt_ci(r['ci_low'], r['ci_high'])})"
                    )
            shown = "; ".join(pts) if pts else "no reportable means"
            desc_parts.append(f"{name[:1].upper() + name[1:]}: {shown}.")
        ax.set_xticks(range(len(timepoints)))
        ax.set_xticklabels(
            [tp_label(t) + ("\n(baseline)" if i == 0 else "") for i, t in enumerate(timepoints)]
        )
        ax.set_xlim(-0.4, len(timepoints) - 0.6)
        ylabel = info.label
        if info.range_text:
            ylabel += f"\n({info.range_text})"
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        if arms:
            fig.legend(loc="outside upper center", ncol=len(arms), frameon=False)
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    title = f"{info.label}: estimated mean by group over time, with {level} confidence intervals"
    desc = (
        f"Line chart of the estimated mean {info.label.lower()} score ({info.range_text}) at "
        f"{', '.join(tp_label(t) for t in timepoints)}, one line per group, error bars showing "
        f"the {level} confidence interval. " + " ".join(desc_parts)
    )
    return inline_svg(buf.getvalue(), f"fig-{fig_id}", title, desc), desc


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
