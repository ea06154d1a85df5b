"""The report's SVG chart: tick rules hold for all ranges, markup is well-formed and escaped."""

import math
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from balint_analysis.report.svgchart import Series, line_chart_svg, nice_ticks

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
