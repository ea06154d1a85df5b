"""Forest plot of the per-cohort effects and the pooled random-effects estimate, as inline SVG.

Same conventions as the cohort report's figures (:mod:`balint_analysis.report.figures`): no XML
prolog, no external resources, ids prefixed per figure, ``<title>``/``<desc>`` with
``role="img"``, text as text, and a small drawing with large text (14 units in a 400-unit-wide
drawing stays readable when a phone scales it down). One row per cohort: a square at its estimate
(area proportional to its weight in the random-effects model) with its confidence interval; then
the pooled estimate as a diamond spanning its confidence interval, the prediction interval for a
new site as a bar, and optionally the one-stage (IPD) estimate. A vertical line marks no
difference; words under the axis say which side favours which arm.

Elements carry classes (``study``, ``study-ci``, ``pooled``, ``prediction``, ``ipd``, ``zero``,
``tick``) so tests and styles can find them; the markup is fully determined by the data.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from balint_analysis.report.svgchart import nice_ticks

__all__ = ["forest_plot_svg"]

_FONT = 14
_CHAR = 0.6 * _FONT
_ROW = 26.0
_WIDTH = 400
_LABEL_CHARS = 14  # labels longer than this are shortened in the drawing (full text in <desc>)
_BLUE, _GREY, _DARK, _ORANGE = "#0072B2", "#666666", "#222222", "#D55E00"


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _fmt(v: float) -> str:
    return f"{v:.2f}".replace("-", "\u2212")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{extra}>'
            f"{html.escape(text)}</text>")  # fmt: skip


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "\u2026"


def _finite(*values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _weights(studies: pd.DataFrame, yi_ci: tuple[str, str], pooled: Mapping) -> list[float]:
    """Random-effects weights 1/(v_i + tau^2); v_i from ``vi`` or, failing that, the CI width."""
    tau2 = float(pooled.get("tau2", 0.0)) if _finite(pooled.get("tau2")) else 0.0
    if "vi" in studies:
        vi = studies["vi"].astype(float)
    else:  # the CI width is proportional to the SE, so this gives the same relative sizes
        vi = ((studies[yi_ci[1]].astype(float) - studies[yi_ci[0]].astype(float)) / 3.92) ** 2
    return [1.0 / (v + tau2) if _finite(v) and v + tau2 > 0 else math.nan for v in vi]


def forest_plot_svg(
    studies: pd.DataFrame,
    pooled: Mapping[str, Any],
    *,
    label: str,
    yi: str,
    ci_low: str,
    ci_high: str,
    title: str,
    xlabel: str,
    ipd: Mapping[str, Any] | None = None,
    favours: Sequence[str] = ("favours Balint", "favours comparison"),
    fig_id: str = "forest",
) -> str:
    """Draw a forest plot as an accessible, self-contained inline ``<svg>``.

    Parameters
    ----------
    studies : pandas.DataFrame
        One row per cohort, in the order to draw (top to bottom), with columns ``label``,
        ``yi``, ``ci_low``, ``ci_high`` and optionally ``vi`` (sampling variance, for the weights).
        Rows without a finite estimate and CI are listed with "not estimable".
    pooled : mapping
        A :func:`~balint_analysis.programme.meta_analysis.random_effects_meta` result (keys
        ``estimate``, ``ci_low``, ``ci_high``, ``pi_low``, ``pi_high``, ``tau2``, ``k``); a NaN
        estimate (fewer than two cohorts) draws no diamond.
    label, yi, ci_low, ci_high : str
        Column names in ``studies``.
    title : str
        The figure's title (``<title>``).
    xlabel : str
        Axis title, e.g. "Difference in change (points)".
    ipd : mapping, optional
        The one-stage estimate (``estimate``, ``ci_low``, ``ci_high``), drawn as its own row.
    favours : pair of str
        Words for the left (below zero) and right (above zero) side of the axis. For a burnout
        score where lower is better, the defaults (left favours Balint) apply.
    fig_id : str
        Letters/digits/hyphens making the element ids unique within a page.

    Returns
    -------
    str
        ``<svg>`` markup, safe to insert into HTML as-is.
    """
    weights = _weights(studies, (ci_low, ci_high), pooled)
    rows = list(studies[[label, yi, ci_low, ci_high]].itertuples(index=False, name=None))
    has_pooled = _finite(pooled.get("estimate"), pooled.get("ci_low"), pooled.get("ci_high"))
    has_pi = has_pooled and _finite(pooled.get("pi_low"), pooled.get("pi_high"))
    has_ipd = ipd is not None and _finite(*(ipd.get(c) for c in ("estimate", "ci_low", "ci_high")))
    values = [0.0] + [float(v) for r in rows for v in r[1:] if _finite(v)]
    if has_pooled:
        values += [float(pooled["ci_low"]), float(pooled["ci_high"])]
    if has_pi:
        values += [float(pooled["pi_low"]), float(pooled["pi_high"])]
    if has_ipd:
        values += [float(ipd["ci_low"]), float(ipd["ci_high"])]  # type: ignore[index]
    ticks = nice_ticks(min(values), max(values))
    x_min, x_max = ticks[0], ticks[-1]

    left = 12 + _LABEL_CHARS * _CHAR + 8
    right = 14.0
    plot_w = _WIDTH - left - right
    top = 12.0
    n_rows = len(rows) + int(has_pooled) + int(has_pi) + int(has_ipd)
    plot_h = _ROW * (n_rows + (0.5 if has_pooled or has_ipd else 0))
    bottom_y = top + plot_h
    height = math.ceil(bottom_y + 4 + _FONT * 4.85 + 6)  # ticks, axis title, two lines of words

    def px(x: float) -> float:
        return left + (x - x_min) / (x_max - x_min) * plot_w

    def row_y(i: int) -> float:
        return top + _ROW * (i + 0.5)

    out = [f'<g font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="{_FONT}" '
           f'fill="{_DARK}">']  # fmt: skip
    for t in ticks:
        x = _num(px(t))
        out.append(f'<line class="tick" x1="{x}" x2="{x}" y1="{_num(bottom_y)}" '
                   f'y2="{_num(bottom_y + 4)}" stroke="#444444"/>')  # fmt: skip
        out.append(_text(px(t), bottom_y + 4 + _FONT, f"{t:g}".replace("-", "\u2212"), "middle"))
    out.append(f'<line x1="{_num(left)}" x2="{_num(left + plot_w)}" y1="{_num(bottom_y)}" '
               f'y2="{_num(bottom_y)}" stroke="#444444"/>')  # fmt: skip
    out.append(f'<line class="zero" x1="{_num(px(0))}" x2="{_num(px(0))}" y1="{_num(top)}" '
               f'y2="{_num(bottom_y)}" stroke="{_GREY}" stroke-dasharray="4 3"/>')  # fmt: skip

    finite_w = [w for w in weights if _finite(w)]
    max_w = max(finite_w) if finite_w else 1.0
    desc = []
    for i, ((name, est, lo, hi), w) in enumerate(zip(rows, weights, strict=True)):
        y = row_y(i)
        out.append(_text(12, y + _FONT * 0.35, _short(str(name))))
        if not _finite(est, lo, hi):
            out.append(_text(px(0) + 6, y + _FONT * 0.35, "not estimable", extra=' fill="#666666"'))
            desc.append(f"{name}: not estimable")
            continue
        out.append(f'<line class="study-ci" x1="{_num(px(float(lo)))}" '
                   f'x2="{_num(px(float(hi)))}" y1="{_num(y)}" y2="{_num(y)}" stroke="{_DARK}" '
                   f'stroke-width="1.5"/>')  # fmt: skip
        # Square area proportional to the weight (side 14 for the largest, at least 4 to be seen).
        side = max(4.0, 14 * math.sqrt(w / max_w)) if _finite(w) else 6.0
        out.append(f'<rect class="study" x="{_num(px(float(est)) - side / 2)}" '
                   f'y="{_num(y - side / 2)}" width="{_num(side)}" height="{_num(side)}" '
                   f'fill="{_BLUE}"/>')  # fmt: skip
        desc.append(f"{name}: {_fmt(float(est))} ({_fmt(float(lo))} to {_fmt(float(hi))})")
    i = len(rows) + (0.5 if has_pooled or has_ipd else 0)
    if has_pooled:
        y = row_y(i)  # type: ignore[arg-type]
        est, lo, hi = (float(pooled[c]) for c in ("estimate", "ci_low", "ci_high"))
        out.append(_text(12, y + _FONT * 0.35, "Pooled", extra=' font-weight="bold"'))
        out.append(f'<polygon class="pooled" points="{_num(px(lo))},{_num(y)} {_num(px(est))},'
                   f'{_num(y - 7)} {_num(px(hi))},{_num(y)} {_num(px(est))},{_num(y + 7)}" '
                   f'fill="{_DARK}"/>')  # fmt: skip
        k = f"{int(float(pooled['k']))} " if _finite(pooled.get("k")) else ""
        desc.append(f"pooled estimate over {k}cohorts: {_fmt(est)} "
                    f"({_fmt(lo)} to {_fmt(hi)})")  # fmt: skip
        i += 1
    if has_pi:
        y = row_y(i)  # type: ignore[arg-type]
        lo, hi = float(pooled["pi_low"]), float(pooled["pi_high"])
        out.append(_text(12, y + _FONT * 0.35, "New site"))
        out.append(f'<rect class="prediction" x="{_num(px(lo))}" y="{_num(y - 3)}" '
                   f'width="{_num(px(hi) - px(lo))}" height="6" fill="{_GREY}"/>')  # fmt: skip
        desc.append(f"prediction interval for a new site: {_fmt(lo)} to {_fmt(hi)}")
        i += 1
    if has_ipd:
        y = row_y(i)  # type: ignore[arg-type]
        est, lo, hi = (float(ipd[c]) for c in ("estimate", "ci_low", "ci_high"))  # type: ignore[index]
        out.append(_text(12, y + _FONT * 0.35, "One-stage"))
        out.append(f'<line class="ipd-ci" x1="{_num(px(lo))}" x2="{_num(px(hi))}" y1="{_num(y)}" '
                   f'y2="{_num(y)}" stroke="{_ORANGE}" stroke-width="1.5"/>')  # fmt: skip
        out.append(f'<circle class="ipd" cx="{_num(px(est))}" cy="{_num(y)}" r="5" '
                   f'fill="{_ORANGE}"/>')  # fmt: skip
        desc.append(f"one-stage (participant-level) estimate: {_fmt(est)} "
                    f"({_fmt(lo)} to {_fmt(hi)})")  # fmt: skip
    # Axis title, and the words for each side of zero under it.
    out.append(_text(left + plot_w / 2, bottom_y + 4 + _FONT * 2.4, xlabel, "middle"))
    words_y = bottom_y + 4 + _FONT * 3.6
    left_words, right_words = f"\u2190 {favours[0]}", f"{favours[1]} \u2192"
    # Either side of the zero line, kept inside the drawing; on two lines if one would overlap.
    left_end = max(px(0) - 6, 4 + len(left_words) * _CHAR)
    right_start = max(px(0) + 6, left_end + 12)
    right_y = words_y
    if right_start + len(right_words) * _CHAR > _WIDTH - 4:
        right_start = min(px(0) + 6, _WIDTH - 4 - len(right_words) * _CHAR)
        right_y = words_y + _FONT * 1.25
    out.append(_text(left_end, words_y, left_words, "end", ' class="favours-left"'))
    out.append(_text(right_start, right_y, right_words, "start", ' class="favours-right"'))
    out.append("</g>")

    prefix = f"fig-{fig_id}"
    description = (
        f"Forest plot ({xlabel}): one row per cohort with its estimate (square, larger "
        f"for more weight) and 95% confidence interval (line); values left of zero "
        f"{favours[0]}, right of zero {favours[1]}. " + "; ".join(desc) + "."
    )
    return (f'<svg viewBox="0 0 {_WIDTH} {height}" role="img" '
            f'aria-labelledby="{prefix}-title {prefix}-desc" class="figure-svg" '
            f'preserveAspectRatio="xMidYMid meet" focusable="false">'
            f'<title id="{prefix}-title">{html.escape(title)}</title>'
            f'<desc id="{prefix}-desc">{html.escape(description)}</desc>'
            + "".join(out) + "</svg>")  # fmt: skip
