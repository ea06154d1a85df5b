"""The report's SVG chart: tick rules hold for all ranges, markup is well-formed and escaped."""

import math
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from balint_analysis.report.svgchart import MIN_TEXT_RATIO, Series, line_chart_svg, nice_ticks

finite = st.floats(-1e5, 1e5, allow_nan=False)


@given(finite, finite)
def test_ticks_cover_the_range_with_round_even_steps(a, b):
    low, high = min(a, b), max(a, b)
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low + 1e-9 and ticks[-1] >= high - 1e-9
    steps = {round(y - x, 8) for x, y in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))
    assert 2 <= len(ticks) <= 12


def test_known_ticks():
    assert nice_ticks(15.3, 29.2) == [15, 20, 25, 30]
    assert nice_ticks(-0.42, 0.31) == [-0.6, -0.4, -0.2, 0, 0.2, 0.4]
    assert nice_ticks(7, 7) == [6, 6.5, 7, 7.5, 8]
    assert nice_ticks(0, 100) == [0, 25, 50, 75, 100]


def test_chart_markup_is_well_formed_and_escapes_labels():
    series = [Series("Balint <group>", [(0, 20.0, 18.0, 22.0), (1, 17.0, 15.0, 19.5)], "#0072B2"),
              Series("Comparison & co", [(0, 21.0, 19.0, 23.0), (1, float("nan"), 0, 0)],
                     "#D55E00", marker="square", dashed=True)]  # fmt: skip
    body = line_chart_svg(series, x_labels=[["pre", "(baseline)"], ["post"]],
                          y_label=["Exhaustion", "(0–54)"])  # fmt: skip
    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>')
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Balint <group>" in texts and "Comparison & co" in texts
    assert "&lt;group&gt;" in body and "<group>" not in body.replace("Balint <group>", "")
    assert {"pre", "(baseline)", "post", "Exhaustion", "(0–54)"} <= set(texts)
    # one polyline (the second series has a single finite point), two markers of each kind
    assert body.count("<polyline") == 1
    assert body.count("<circle") == 3 and body.count("<rect") == 2  # incl. legend markers


def _svg_text(body: str, width: int) -> tuple[float, list[float]]:
    """Font size and the legend rows' y positions of a chart body."""
    root = ET.fromstring(f'<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>')
    group = root.find("{http://www.w3.org/2000/svg}g")
    legend_y = sorted({float(ln.get("y1")) for ln in group.iter("{http://www.w3.org/2000/svg}line")
                       if ln.get("y1") == ln.get("y2") and float(ln.get("y1")) < 60
                       and ln.get("stroke-width") == "2"})  # fmt: skip
    return float(group.get("font-size")), legend_y


def test_chart_text_stays_above_11px_on_a_phone():
    """At 390 px the figure column is ~358 px: text = font-size × 358 / width must be ≥ 11 px."""
    series = [Series("Balint group", [(0, 20.0, 18.0, 22.0)], "#0072B2")]
    body = line_chart_svg(series, x_labels=[["Pre"]], y_label=["Exhaustion"])
    font, _ = _svg_text(body, 400)
    assert font * 358 / 400 >= 11  # the default drawing width is 400
    assert font / 400 >= MIN_TEXT_RATIO
    # the report's own figure uses that geometry
    assert 'viewBox="0 0 400 290"' in _report_figure()


def test_long_legend_names_get_a_row_each_instead_of_running_off():
    short = [Series("Balint", [(0, 1.0, 0.0, 2.0)], "#0072B2"),
             Series("Control", [(0, 1.0, 0.0, 2.0)], "#D55E00")]  # fmt: skip
    long = [Series("Balint group (weekly sessions)", [(0, 1.0, 0.0, 2.0)], "#0072B2"),
            Series("Waiting-list comparison group", [(0, 1.0, 0.0, 2.0)], "#D55E00")]  # fmt: skip
    assert len(_svg_text(line_chart_svg(short, x_labels=[["Pre"]], y_label=["y"]), 400)[1]) == 1
    assert _svg_text(line_chart_svg(long, x_labels=[["Pre"]], y_label=["y"]), 400)[1] == [16, 38]


def _report_figure() -> str:
    import pandas as pd

    from balint_analysis.report.figures import emmeans_svg
    from balint_analysis.report.text import ScaleInfo

    emm = pd.DataFrame(
        {
            "group": ["balint", "balint"],
            "timepoint": ["pre", "post"],
            "mean": [20.0, 17.0],
            "ci_low": [18.0, 15.0],
            "ci_high": [22.0, 19.0],
        }
    )
    info = ScaleInfo("mbi", "ee", "Emotional exhaustion", "MBI", "higher_is_worse", 0, 54)
    svg, _ = emmeans_svg(emm, timepoints=["pre", "post"],
                         arms=[("balint", "Balint group", "intervention")], info=info,
                         fig_id="t")  # fmt: skip
    return svg
