"""Two-stage random-effects meta-analysis and forest plot (issue 17).

Reference values: tests/reference/metafor_reference.R (metafor 3.8-1, ``rma(yi, vi, method =
"REML", test = "knha")``, ``predict()`` and ``leave1out()``), inputs and outputs committed beside
it as metafor_*.csv.
"""

from __future__ import annotations

import importlib.util
import math
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from project_helpers import REPO

from balint_analysis.programme.forest import forest_plot_svg
from balint_analysis.programme.meta_analysis import (
    META_COLUMNS,
    REASON_ONE,
    REASON_TWO,
    leave_one_out,
    meta_analyse,
    random_effects_meta,
)

REFERENCE = REPO / "tests" / "reference"
CASES = pd.read_csv(REFERENCE / "metafor_cases.csv")
RESULTS = pd.read_csv(REFERENCE / "metafor_results.csv").set_index("case")
LOO = pd.read_csv(REFERENCE / "metafor_leave1out.csv")
COMPARED = ["estimate", "se", "ci_low", "ci_high", "p_value", "df", "tau2", "i2", "h2", "q", "q_p",
            "pi_low", "pi_high"]  # fmt: skip


@pytest.mark.parametrize("case", RESULTS.index.tolist())
def test_equals_metafor(case: str) -> None:
    rows = CASES[CASES["case"] == case]
    got = random_effects_meta(rows["yi"], rows["vi"])
    want = RESULTS.loc[case]
    assert got["k"] == want["k"] == len(rows)
    for column in COMPARED:
        assert got[column] == pytest.approx(want[column], abs=1e-6, rel=1e-9), column
    assert got["tau"] == pytest.approx(math.sqrt(want["tau2"]), abs=1e-6)


def test_reference_cases_cover_the_acceptance_list() -> None:
    # 2, 3, 10 and 40 cohorts; tau^2 on the boundary; a Knapp-Hartung factor below 1 (not floored).
    assert {2, 3, 10, 40} <= set(RESULTS["k"])
    assert (RESULTS["tau2"] == 0).sum() >= 2
    assert RESULTS.loc["morris", "s2w"] < 1
    # The published Morris (2008) example: mu = 0.8545, knha CI 0.580 to 1.129.
    assert RESULTS.loc["morris", ["estimate", "ci_low", "ci_high"]].round(3).tolist() == [
        0.855, 0.580, 1.129]  # fmt: skip


def test_leave_one_out_equals_metafor() -> None:
    effects = CASES[CASES["case"].isin(["bcg", "k10"])].rename(columns={"study": "cohort"})
    got = leave_one_out(effects, by=["case"]).set_index(["case", "omitted"])
    want = LOO.set_index(["case", "omitted"])
    assert got.index.tolist() == want.index.tolist()
    for column in ["estimate", "se", "ci_low", "ci_high", "p_value", "tau2", "i2", "h2", "q"]:
        np.testing.assert_allclose(got[column], want[column], atol=1e-6, rtol=1e-9,
                                   err_msg=column)  # fmt: skip
    assert got.loc["bcg", "k"].eq(12).all() and got.loc["k10", "k"].eq(9).all()


def test_meta_analyse_one_row_per_group_in_any_row_order() -> None:
    effects = CASES.rename(columns={"study": "cohort"}).sample(frac=1, random_state=3)
    got = meta_analyse(effects, by=["case"])
    assert list(got.columns) == ["case", *META_COLUMNS]
    got = got.set_index("case")
    for case in RESULTS.index:
        assert got.loc[case, "estimate"] == pytest.approx(RESULTS.loc[case, "estimate"], abs=1e-9)
        assert got.loc[case, "pi_high"] == pytest.approx(RESULTS.loc[case, "pi_high"], abs=1e-9)
    whole = meta_analyse(effects[effects["case"] == "k3"], by=[])
    assert len(whole) == 1 and whole.loc[0, "k"] == 3


def test_fewer_than_two_cohorts_give_a_reason_not_numbers() -> None:
    one = random_effects_meta([-2.0], [0.5])
    assert one["k"] == 1 and one["reason"] == REASON_ONE
    assert all(math.isnan(one[c]) for c in ["estimate", "se", "ci_low", "tau2", "pi_low"])
    # Non-estimable cohorts (NaN effect, NaN or zero variance) are left out of k.
    none = random_effects_meta([np.nan, -1.0, 2.0], [1.0, np.nan, 0.0])
    assert none["k"] == 0 and math.isnan(none["estimate"]) and "nothing to pool" in none["reason"]
    two = random_effects_meta(CASES.query("case == 'k2'")["yi"], CASES.query("case == 'k2'")["vi"])
    assert two["k"] == 2 and two["reason"] == REASON_TWO and two["df"] == 1
    assert two["estimate"] == pytest.approx(RESULTS.loc["k2", "estimate"], abs=1e-6)
    # Leave-one-out of two cohorts: each refit has one cohort, so no pooled numbers.
    loo = leave_one_out(pd.DataFrame({"cohort": ["a", "b"], "yi": [1.0, 2.0], "vi": [0.1, 0.2]}),
                        by=[])  # fmt: skip
    assert loo["omitted"].tolist() == ["a", "b"] and loo["estimate"].isna().all()


def test_identical_effects_give_a_zero_hartung_knapp_factor_as_metafor() -> None:
    # metafor sets s2w = 0 when the weighted residual sum of squares is below machine epsilon.
    got = random_effects_meta([1.5, 1.5, 1.5], [0.2, 0.3, 0.4])
    assert got["tau2"] == 0 and got["se"] == 0 and got["ci_low"] == got["ci_high"] == 1.5
    assert got["p_value"] == 0


effects_strategy = st.lists(
    st.tuples(st.floats(-5, 5), st.floats(0.01, 4.0)), min_size=3, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(effects_strategy, st.randoms(use_true_random=False))
def test_invariant_to_cohort_order(pairs, rnd) -> None:
    yi, vi = map(np.array, zip(*pairs, strict=True))
    order = list(range(len(yi)))
    rnd.shuffle(order)
    a, b = random_effects_meta(yi, vi), random_effects_meta(yi[order], vi[order])
    for column in ["estimate", "se", "tau2", "i2", "pi_low", "pi_high"]:
        assert a[column] == pytest.approx(b[column], rel=1e-6, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(effects_strategy, st.floats(1.0, 10.0), st.floats(-3, 3))
def test_equivariant_to_scale_and_shift(pairs, scale, shift) -> None:
    yi, vi = map(np.array, zip(*pairs, strict=True))
    a = random_effects_meta(yi, vi)
    b = random_effects_meta(scale * yi + shift, scale**2 * vi)
    # Shifting changes nothing but the estimate (the iterations see only residuals).
    c = random_effects_meta(yi + shift, vi)
    assert c["estimate"] == pytest.approx(a["estimate"] + shift, abs=1e-9)
    assert c["tau2"] == pytest.approx(a["tau2"], abs=1e-9) and c["se"] == pytest.approx(a["se"])
    # Scaling is equivariant only up to the convergence threshold, which (as metafor's) is an
    # absolute 1e-5 on tau^2: scales >= 1 so the scaled fit is at least as precise.
    assert b["estimate"] == pytest.approx(scale * a["estimate"] + shift, abs=1e-3 * scale)
    assert b["tau2"] == pytest.approx(scale**2 * a["tau2"], abs=1e-3 * scale**2)
    assert b["i2"] == pytest.approx(a["i2"], abs=1.0)
    assert b["q"] == pytest.approx(a["q"], rel=1e-6)


@settings(max_examples=80, deadline=None)
@given(effects_strategy)
def test_intervals_are_ordered_and_tau2_nonnegative(pairs) -> None:
    yi, vi = map(np.array, zip(*pairs, strict=True))
    r = random_effects_meta(yi, vi)
    assert r["tau2"] >= 0 and 0 <= r["i2"] < 100 and r["h2"] >= 1
    assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
    assert r["pi_low"] <= r["ci_low"] and r["ci_high"] <= r["pi_high"]
    assert min(yi) - 1e-9 <= r["estimate"] <= max(yi) + 1e-9  # a weighted mean
    assert r["df"] == len(yi) - 1
    assert 0 <= r["p_value"] <= 1 or (r["se"] == 0 and r["estimate"] == 0)


# --- forest plot ---------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def test_forest_plot_positions_of_a_known_case() -> None:
    studies = pd.DataFrame({"cohort": ["Leeds 2024", "Graz 2025", "Lyon"],
                            "yi": [-0.5, 0.25, -1.0], "vi": [0.04, 0.01, 0.09]})  # fmt: skip
    studies["lo"] = studies["yi"] - 0.5
    studies["hi"] = studies["yi"] + 0.5
    # k as a float, as read back from meta_analysis.csv
    pooled = {"estimate": -0.25, "ci_low": -0.75, "ci_high": 0.25, "pi_low": -1.25,
              "pi_high": 0.75, "tau2": 0.0, "k": 3.0}  # fmt: skip
    ipd = {"estimate": -0.3, "ci_low": -0.6, "ci_high": 0.0}
    svg = forest_plot_svg(studies, pooled, label="cohort", yi="yi", ci_low="lo", ci_high="hi",
                          title="Exhaustion: difference in change", xlabel="SMD", ipd=ipd,
                          fig_id="f1")  # fmt: skip
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == "Exhaustion: difference in change"
    assert root.get("role") == "img" and "href" not in svg and "http" not in svg
    desc = root.find(f"{SVG}desc").text
    assert "Leeds 2024: \u22120.50 (\u22121.00 to 0.00)" in desc and "new site" in desc
    assert "pooled estimate over 3 cohorts: \u22120.25 (\u22120.75 to 0.25)" in desc

    def by_class(name: str) -> list[ET.Element]:
        return [e for e in root.iter() if e.get("class") == name]

    # Values span -1.5 .. 0.75: axis -2 .. 1 with a tick every 1; recover the scale from them.
    ticks = [float(t.get("x1")) for t in by_class("tick")]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert len(ticks) == 4 and texts[:4] == ["\u22122", "\u22121", "0", "1"]
    x0, step = ticks[0], (ticks[-1] - ticks[0]) / 3

    def px(v: float) -> float:
        return x0 + (v + 2) * step

    zero = by_class("zero")[0]
    assert float(zero.get("x1")) == pytest.approx(px(0), abs=0.1)
    squares = by_class("study")
    centres = [float(r.get("x")) + float(r.get("width")) / 2 for r in squares]
    assert centres == pytest.approx([px(-0.5), px(0.25), px(-1.0)], abs=0.1)
    ys = [float(r.get("y")) + float(r.get("height")) / 2 for r in squares]
    assert ys == sorted(ys)  # drawn top to bottom in the given order
    # Weights 1/v: 25, 100, 11.1 -> the second square is largest, areas proportional to weight.
    sides = [float(r.get("width")) for r in squares]
    assert sides[1] == pytest.approx(14) and sides[0] == pytest.approx(14 * math.sqrt(0.25))
    cis = by_class("study-ci")
    lows = [float(c.get("x1")) for c in cis]
    assert lows == pytest.approx([px(-1), px(-0.25), px(-1.5)], abs=0.1)
    diamond = [tuple(map(float, p.split(","))) for p in by_class("pooled")[0].get("points").split()]
    assert [p[0] for p in diamond] == pytest.approx([px(-0.75), px(-0.25), px(0.25), px(-0.25)],
                                                    abs=0.1)  # fmt: skip
    assert min(p[1] for p in diamond) > max(ys)  # below the cohorts
    bar = by_class("prediction")[0]
    assert float(bar.get("x")) == pytest.approx(px(-1.25), abs=0.1)
    assert float(bar.get("x")) + float(bar.get("width")) == pytest.approx(px(0.75), abs=0.1)
    assert float(by_class("ipd")[0].get("cx")) == pytest.approx(px(-0.3), abs=0.1)
    words = [by_class(c)[0].text for c in ("favours-left", "favours-right")]
    assert words == ["\u2190 favours Balint", "favours comparison \u2192"]
    assert texts[-2:] == words and "Leeds 2024" in texts and "Pooled" in texts


def test_forest_plot_without_a_pooled_estimate_draws_no_diamond() -> None:
    studies = pd.DataFrame({"cohort": ["A", "B"], "yi": [1.0, np.nan], "lo": [0.0, np.nan],
                            "hi": [2.0, np.nan]})  # fmt: skip
    svg = forest_plot_svg(studies, random_effects_meta([1.0], [0.25]), label="cohort", yi="yi",
                          ci_low="lo", ci_high="hi", title="t", xlabel="points")  # fmt: skip
    root = _parse(svg)
    classes = [e.get("class") for e in root.iter()]
    assert "pooled" not in classes and "prediction" not in classes and classes.count("study") == 1
    assert "B: not estimable" in root.find(f"{SVG}desc").text


# --- simulated programme with known heterogeneity -------------------------------------------


def _benchmark():
    path = REPO / "benchmarks" / "programme_heterogeneity.py"
    spec = importlib.util.spec_from_file_location("programme_heterogeneity", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulated_programme_recovers_mean_and_tau2_within_mc_error() -> None:
    # 8 sites, tau = 0.2 SD, mu = -0.3 SD; sites large enough that tau^2 is rarely truncated at 0
    # (with 20-150-person cohorts REML's truncation biases tau^2 up: see the benchmark).
    r = _benchmark().run(600, sites=8, tau=0.2, mu=-0.3, seed=5, arm_sizes=(150, 400))
    assert abs(r["estimate_bias"]) < 3 * r["estimate_mc_se"]
    assert abs(r["tau2_bias"]) < 3 * r["tau2_mc_se"]
    assert abs(r["ci_coverage"] - 0.95) < 3 * math.sqrt(0.95 * 0.05 / 600)
    assert 0.85 < r["pi_coverage_expected"] < 0.97
