"""A small, dependency-free SVG chart: lines with error bars over categorical x positions.

The report's one chart type (estimated means over time by arm, with CIs). Drawing it here
rather than with matplotlib keeps the report stage light (matplotlib's import and layout engine
took over 1 s of the demo's report job) and makes the markup fully determined by the data: no
ids, no metadata, text as text. Widths of text are estimated (0.6 em per character); labels
are short (timepoints, scale names).

The drawing is small (400 user units wide) and its text large (14 units), because the page scales
the whole SVG to its column: on a 390 px phone the column is ~358 px, so text is drawn at
14 × 358 / 400 ≈ 12.5 px, above the report's 11 px floor (``MIN_TEXT_RATIO`` states the rule).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["MIN_TEXT_RATIO", "Series", "line_chart_svg", "nice_ticks"]

_FONT = 14
_CHAR = 0.6 * _FONT
#: Font size over drawing width: at least 11 px text in a 358 px column (a 390 px phone).
MIN_TEXT_RATIO = 11 / 358
_LEGEND_ROW = 22.0


@dataclass(frozen=True)
class Series:
    """One line: points ``(x index, y, y_low, y_high)``, style and legend name."""

    name: str
    points: Sequence[tuple[float, float, float, float]]
    color: str
    marker: str = "circle"  # or "square"
    dashed: bool = False
    offset: float = 0.0  # horizontal dodge in x-index units


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` with steps of 1, 2, 2.5 or 5 × 10^k."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high - low <= 1e-9 * max(1.0, abs(low), abs(high)):  # one value: a unit either side
        low, high = low - 1.0, high + 1.0
    raw = (high - low) / max(target - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    digits = max(0, 3 - math.floor(math.log10(step)))
    first, last = math.floor(low / step), math.ceil(high / step)
    return [round(k * step, digits) for k in range(first, last + 1)]


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:.3g}"


def _marker(shape: str, x: float, y: float, color: str) -> str:
    if shape == "square":
        return (f'<rect x="{_num(x - 4)}" y="{_num(y - 4)}" width="8" height="8" '
                f'fill="{color}"/>')  # fmt: skip
    return f'<circle cx="{_num(x)}" cy="{_num(y)}" r="4.5" fill="{color}"/>'


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return (f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")  # fmt: skip


def line_chart_svg(
    series: Sequence[Series],
    *,
    x_labels: Sequence[Sequence[str]],
    y_label: Sequence[str],
    width: int = 400,
    height: int = 290,
    reference_y: float | None = None,
    marker_x: tuple[float, str] | None = None,
) -> str:
    """The chart as an ``<svg>`` element's inner markup and its viewBox.

    Parameters
    ----------
    series
        Lines to draw, in legend order.
    x_labels
        One entry per x position, each a list of text lines (e.g. ``["Pre", "(baseline)"]``).
    y_label
        Text lines of the y-axis title.
    width, height
        Size of the drawing in SVG user units (the page scales it).
    reference_y
        A value drawn as a solid horizontal line (e.g. 0, "no difference"), always in range.
    marker_x
        ``(x index, label)``: a dashed vertical line at a (fractional) x position, labelled.

    Returns
    -------
    str
        ``<g>`` markup for a ``viewBox="0 0 width height"`` SVG.
    """
    n_x = max(len(x_labels), 1)
    legend_rows = _legend_rows(series, width)
    values = [v for s in series for p in s.points for v in p[1:] if math.isfinite(v)]
    if reference_y is not None:
        values.append(reference_y)
    ticks = nice_ticks(min(values), max(values)) if values else [0.0, 1.0]
    y_min, y_max = ticks[0], ticks[-1]
    tick_width = max(len(_tick_label(t)) for t in ticks) * _CHAR
    left = 16 + _FONT * 1.25 * len(y_label) + tick_width + 8
    right, top = 12.0, 18.0 + _LEGEND_ROW * len(legend_rows)
    bottom = 14 + _FONT * 1.25 * max((len(lines) for lines in x_labels), default=1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(x: float) -> float:  # x index -> pixels; domain [-0.4, n - 0.6] as before
        return left + (x + 0.4) / n_x * plot_w

    def py(y: float) -> float:
        return top + (y_max - y) / (y_max - y_min) * plot_h

    out = [f'<g font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="{_FONT}" '
           f'fill="#222222">']  # fmt: skip
    for t in ticks:
        y = py(t)
        out.append(f'<line x1="{_num(left)}" x2="{_num(left + plot_w)}" y1="{_num(y)}" '
                   f'y2="{_num(y)}" stroke="#dddddd" stroke-width="0.8"/>')  # fmt: skip
        out.append(_text(left - 6, y + _FONT * 0.35, _tick_label(t), "end"))
    axis = "#444444"
    out.append(f'<path d="M{_num(left)} {_num(top)}V{_num(top + plot_h)}H{_num(left + plot_w)}" '
               f'fill="none" stroke="{axis}" stroke-width="1"/>')  # fmt: skip
    for i, lines in enumerate(x_labels):
        x = px(i)
        out.append(f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{_num(top + plot_h)}" '
                   f'y2="{_num(top + plot_h + 4)}" stroke="{axis}"/>')  # fmt: skip
        for j, line in enumerate(lines):
            out.append(_text(x, top + plot_h + 8 + _FONT * (1 + 1.25 * j), line))
    y_mid = top + plot_h / 2
    for j, line in enumerate(y_label):
        x = 14 + _FONT * 1.25 * j
        out.append(_text(x, y_mid, line, extra=f' transform="rotate(-90 {_num(x)} '
                                               f'{_num(y_mid)})"'))  # fmt: skip
    if reference_y is not None:
        ry = _num(py(reference_y))
        out.append(f'<line x1="{_num(left)}" x2="{_num(left + plot_w)}" y1="{ry}" y2="{ry}" '
                   f'stroke="{axis}" stroke-width="1.5"/>')  # fmt: skip
    if marker_x is not None:
        mx = px(marker_x[0])
        out.append(f'<line x1="{_num(mx)}" x2="{_num(mx)}" y1="{_num(top)}" '
                   f'y2="{_num(top + plot_h)}" stroke="#b3261e" stroke-width="1.5" '
                   f'stroke-dasharray="5 4"/>')  # fmt: skip
        anchor = "end" if mx > left + plot_w / 2 else "start"
        out.append(_text(mx + (-4 if anchor == "end" else 4), top + _FONT, marker_x[1], anchor))
    for s in series:
        pts = [(px(x + s.offset), py(y), py(lo), py(hi)) for x, y, lo, hi in s.points
               if math.isfinite(y)]  # fmt: skip
        dash = ' stroke-dasharray="7 4"' if s.dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{_num(x)},{_num(y)}" for x, y, _, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" '
                       f'stroke-width="2"{dash}/>')  # fmt: skip
        for x, y, lo, hi in pts:
            if math.isfinite(lo) and math.isfinite(hi):
                out.append(f'<path d="M{_num(x)} {_num(lo)}V{_num(hi)}M{_num(x - 4)} '
                           f'{_num(lo)}H{_num(x + 4)}M{_num(x - 4)} {_num(hi)}H{_num(x + 4)}" '
                           f'stroke="{s.color}" stroke-width="1.5" fill="none"/>')  # fmt: skip
            out.append(_marker(s.marker, x, y, s.color))
    # Legend: centred rows above the plot (one row per series when one row would not fit).
    for k, items in enumerate(legend_rows):
        x = (width - sum(w for _, w in items) - 16 * max(len(items) - 1, 0)) / 2
        y = 16 + _LEGEND_ROW * k
        for s, w in items:
            dash = ' stroke-dasharray="7 4"' if s.dashed else ""
            out.append(f'<line x1="{_num(x)}" x2="{_num(x + 26)}" y1="{_num(y)}" y2="{_num(y)}" '
                       f'stroke="{s.color}" stroke-width="2"{dash}/>')  # fmt: skip
            out.append(_marker(s.marker, x + 13, y, s.color))
            out.append(_text(x + 32, y + _FONT * 0.35, s.name, "start"))
            x += w + 16
    out.append("</g>")
    return "".join(out)


def _legend_rows(series: Sequence[Series], width: float) -> list[list[tuple[Series, float]]]:
    """Legend entries with their widths, in one row if it fits the drawing, else one per row."""
    items = [(s, 34 + len(s.name) * _CHAR) for s in series]
    one_row = sum(w for _, w in items) + 16 * max(len(items) - 1, 0)
    return [items] if one_row <= width - 8 else [[item] for item in items]
