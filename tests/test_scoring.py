import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.instruments import load_instrument
from balint_analysis.scoring import cronbach_alpha, reliability, score_responses

MBI = load_instrument("mbi_hss")
PSS = load_instrument("pss10")


def _responses(mbi: dict[int, float], pss: dict[int, float]) -> pd.DataFrame:
    row = {"participant": "p1", "group": "balint", "timepoint": "pre"}
    row.update({f"mbi_hss__{i}": mbi.get(i, np.nan) for i in range(1, 23)})
    row.update({f"pss10__{i}": pss.get(i, np.nan) for i in range(1, 11)})
    return pd.DataFrame([row])


def _scores(mbi, pss) -> dict[str, float]:
    s = score_responses(_responses(mbi, pss), {"mbi_hss": MBI, "pss10": PSS})
    return dict(zip(s["scale"], s["score"], strict=True))


def test_mbi_all_min_all_max():
    assert _scores(dict.fromkeys(range(1, 23), 0), {}) == pytest.approx(
        {"emotional_exhaustion": 0, "depersonalization": 0, "personal_accomplishment": 0,
         "total": np.nan}, nan_ok=True)  # fmt: skip
    got = _scores(dict.fromkeys(range(1, 23), 6), {})
    assert (got["emotional_exhaustion"], got["depersonalization"],
            got["personal_accomplishment"]) == (54, 30, 48)  # fmt: skip


def test_mbi_key_item_by_item():
    # Answer = item number mod 7: EE items 1,2,3,6,8,13,14,16,20 -> 1+2+3+6+1+6+0+2+6 = 27.
    got = _scores({i: i % 7 for i in range(1, 23)}, {})
    assert got["emotional_exhaustion"] == 27
    assert got["depersonalization"] == 5 + 3 + 4 + 1 + 1  # items 5,10,11,15,22
    assert got["personal_accomplishment"] == 4 + 0 + 2 + 5 + 3 + 4 + 5 + 0  # 4,7,9,12,17,18,19,21


def test_pss_reverses_items_4_5_7_8():
    # All answered 0: reversed items count 4 each -> 16.
    assert _scores({}, dict.fromkeys(range(1, 11), 0))["total"] == 16
    assert _scores({}, dict.fromkeys(range(1, 11), 4))["total"] == 24


def test_missing_item_rule_prorates_or_drops():
    ee_items = [1, 2, 3, 6, 8, 13, 14, 16, 20]
    answered = {i: 3 for i in ee_items[:8]}  # 8 of 9 = 89% -> prorated mean 3 * 9 = 27
    s = score_responses(_responses(answered, {}), {"mbi_hss": MBI})
    ee = s[s["scale"] == "emotional_exhaustion"].iloc[0]
    assert (ee["score"], ee["n_items"], ee["n_answered"], ee["category"]) == (27, 9, 8, "high")
    answered = {i: 3 for i in ee_items[:7]}  # 7 of 9 = 78% < 80% -> missing
    s = score_responses(_responses(answered, {}), {"mbi_hss": MBI})
    ee = s[s["scale"] == "emotional_exhaustion"].iloc[0]
    assert np.isnan(ee["score"]) and pd.isna(ee["category"])


@pytest.mark.parametrize(("ee", "category"), [(16, "low"), (17, "moderate"), (26, "moderate"),
                                               (26.6, "moderate"), (27, "high")])  # fmt: skip
def test_categories_follow_published_bands(ee, category):
    from balint_analysis.scoring import categorise

    got = categorise(pd.Series([ee]), MBI.scales["emotional_exhaustion"])
    assert got.iloc[0] == category


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=22, max_size=22))
def test_scores_within_range_for_any_answers(values):
    got = _scores(dict(enumerate(values, start=1)), {})
    for scale in ("emotional_exhaustion", "depersonalization", "personal_accomplishment"):
        low, high = MBI.scale_range(scale)
        assert low <= got[scale] <= high


def test_alpha_matches_pingouin():
    rng = np.random.default_rng(3)
    latent = rng.normal(size=(60, 1))
    items = pd.DataFrame(np.clip(np.round(3 + latent + rng.normal(size=(60, 6))), 0, 6))
    alpha, low, high, n = cronbach_alpha(items)
    ref_alpha, ref_ci = pg.cronbach_alpha(items, ci=0.95)
    assert alpha == pytest.approx(ref_alpha, abs=1e-12)
    assert (low, high) == pytest.approx(tuple(ref_ci), abs=0.006)  # pingouin rounds its CI to 3
    assert n == 60


def test_reliability_table():
    rng = np.random.default_rng(5)
    rows = []
    for p in range(40):
        level = rng.integers(1, 5)
        for tp in ("pre", "post"):
            row = {"participant": f"p{p}", "group": "balint", "timepoint": tp}
            row.update({f"pss10__{i}": float(np.clip(level + rng.integers(-1, 2), 0, 4))
                        for i in range(1, 11)})  # fmt: skip
            rows.append(row)
    rel = reliability(pd.DataFrame(rows), {"pss10": PSS}, ["pre", "post"])
    assert list(rel.columns) == ["instrument", "scale", "timepoint", "n", "alpha", "ci_low",
                                 "ci_high"]  # fmt: skip
    assert list(rel["n"]) == [40, 40]
    assert (rel["ci_low"] < rel["alpha"]).all() and (rel["alpha"] < rel["ci_high"]).all()
