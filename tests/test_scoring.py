"""Scoring engine: golden scores per instrument, missing-item rules, properties, reliability."""

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from balint_analysis.instruments import builtin_ids, load_instrument
from balint_analysis.scoring import (
    FLAG_COLUMNS,
    cronbach_alpha,
    flag_counts,
    item_descriptives,
    reliability,
    reverse,
    score_responses,
)

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


# --- golden scores per instrument (hand-computed) ---------------------------------------------

# instrument -> (all answers at min, all answers at max): expected score per scale.
# Reverse-keyed items flip: at "all min" they count as max (PSS-10: 4 reversed items x 4 = 16).
GOLDEN = {
    "mbi_hss": ({"emotional_exhaustion": 0, "depersonalization": 0, "personal_accomplishment": 0},
                {"emotional_exhaustion": 54, "depersonalization": 30,
                 "personal_accomplishment": 48}),
    "mbi_hss_mp": ({"emotional_exhaustion": 0, "depersonalization": 0,
                    "personal_accomplishment": 0},
                   {"emotional_exhaustion": 54, "depersonalization": 30,
                    "personal_accomplishment": 48}),
    "mbi_gs": ({"exhaustion": 0, "cynicism": 0, "professional_efficacy": 0},
               {"exhaustion": 6, "cynicism": 6, "professional_efficacy": 6}),
    # work: item 13 reversed -> (6 x 0 + 100) / 7 and (6 x 100 + 0) / 7
    "cbi": ({"personal": 0, "work": 100 / 7, "client": 0},
            {"personal": 100, "work": 600 / 7, "client": 100}),
    # 4 of 8 items reversed per scale: (4 x 1 + 4 x 4) / 8 = 2.5 either way
    "olbi": ({"disengagement": 2.5, "exhaustion": 2.5}, {"disengagement": 2.5, "exhaustion": 2.5}),
    # burnout: 5 of 10 reversed -> 5 x 1 + 5 x 5 = 30 either way
    "proqol5": ({"compassion_satisfaction": 10, "burnout": 30, "secondary_traumatic_stress": 10},
                {"compassion_satisfaction": 50, "burnout": 30, "secondary_traumatic_stress": 50}),
    "pss10": ({"total": 16}, {"total": 24}),
    "pss4": ({"total": 8}, {"total": 8}),
    "bat12": ({"total": 1, "exhaustion": 1, "mental_distance": 1, "cognitive_impairment": 1,
               "emotional_impairment": 1},
              {"total": 5, "exhaustion": 5, "mental_distance": 5, "cognitive_impairment": 5,
               "emotional_impairment": 5}),
    "who5": ({"total": 0, "percentage": 0}, {"total": 25, "percentage": 100}),
    "single_item_burnout": ({"total": 1}, {"total": 5}),
    "single_item_burnout_v2": ({"total": 1}, {"total": 5}),
    # 10 of 20 reversed: 10 x 1 + 10 x 7 = 80 either way
    "jse_hp": ({"total": 80}, {"total": 80}),
    "phq9": ({"total": 0}, {"total": 27}),
    "gad7": ({"total": 0}, {"total": 21}),
}  # fmt: skip

# Categories of the all-min / all-max vectors where the instrument publishes bands.
GOLDEN_CATEGORIES = {
    "mbi_hss": ({"emotional_exhaustion": "low", "personal_accomplishment": "low"},
                {"emotional_exhaustion": "high", "depersonalization": "high",
                 "personal_accomplishment": "high"}),
    "cbi": ({"personal": "low", "work": "low"}, {"personal": "high", "work": "high"}),
    "pss10": ({"total": "moderate"}, {"total": "moderate"}),
    "who5": ({"total": "poor", "percentage": "poor"},
             {"total": "adequate", "percentage": "adequate"}),
    "single_item_burnout": ({"total": "no_burnout"}, {"total": "burnout"}),
    "single_item_burnout_v2": ({"total": "burnout"}, {"total": "no_burnout"}),
    "phq9": ({"total": "minimal"}, {"total": "severe"}),
    "gad7": ({"total": "minimal"}, {"total": "severe"}),
    "olbi": ({"exhaustion": "high"}, {"exhaustion": "high"}),
    "mbi_gs": ({"exhaustion": "not_high", "professional_efficacy": "low"},
               {"exhaustion": "high", "professional_efficacy": "not_low"}),
}  # fmt: skip

# One reverse-keyed item alone at max (all other items at min): expected score of its scale.
GOLDEN_REVERSE = {
    "cbi": {13: ("work", 0)},
    "olbi": {**dict.fromkeys((3, 6, 9, 11), ("disengagement", 17 / 8)),
             **dict.fromkeys((2, 4, 8, 12), ("exhaustion", 17 / 8))},  # (4 + 3 x 4 + 1) / 8
    "proqol5": dict.fromkeys((1, 4, 15, 17, 29), ("burnout", 26)),  # 30 - 4
    "pss10": dict.fromkeys((4, 5, 7, 8), ("total", 12)),  # 16 - 4
    "pss4": dict.fromkeys((2, 3), ("total", 4)),  # 8 - 4
    "jse_hp": dict.fromkeys((1, 3, 6, 7, 8, 11, 12, 14, 18, 19), ("total", 74)),  # 80 - 6
}  # fmt: skip


def _one(inst_id: str, answers: dict[int, float]) -> pd.DataFrame:
    inst = load_instrument(inst_id)
    row = {"participant": "p1", "group": "balint", "timepoint": "pre"}
    row |= {f"{inst_id}__{i}": float(answers.get(i, np.nan)) for i in inst.items}
    return score_responses(pd.DataFrame([row]), {inst_id: inst}).set_index("scale")


def test_golden_covers_every_builtin():
    assert set(GOLDEN) == set(builtin_ids())
    with_reverse = {i for i in builtin_ids() if load_instrument(i).reverse_items}
    assert set(GOLDEN_REVERSE) == with_reverse
    for inst_id, cases in GOLDEN_REVERSE.items():
        assert set(cases) == set(load_instrument(inst_id).reverse_items)


@pytest.mark.parametrize("inst_id", sorted(GOLDEN))
def test_golden_all_min_and_all_max(inst_id):
    inst = load_instrument(inst_id)
    for end, value in enumerate((inst.response_min, inst.response_max)):
        got = _one(inst_id, dict.fromkeys(inst.items, value))
        expected = GOLDEN[inst_id][end]
        assert set(got.index) == set(expected)
        for scale, score in expected.items():
            assert got.at[scale, "score"] == pytest.approx(score), (inst_id, scale, value)
            assert got.at[scale, "n_answered"] == got.at[scale, "n_items"]
        for scale, category in GOLDEN_CATEGORIES.get(inst_id, ({}, {}))[end].items():
            assert got.at[scale, "category"] == category, (inst_id, scale, value)


@pytest.mark.parametrize("inst_id", sorted(GOLDEN_REVERSE))
def test_golden_each_reverse_item_alone(inst_id):
    inst = load_instrument(inst_id)
    for item, (scale, score) in GOLDEN_REVERSE[inst_id].items():
        answers = dict.fromkeys(inst.items, inst.response_min) | {item: inst.response_max}
        got = _one(inst_id, answers)
        assert got.at[scale, "score"] == pytest.approx(score), (inst_id, item)
        for other, expected in GOLDEN[inst_id][0].items():  # other scales untouched
            if item not in inst.scales[other].items:
                assert got.at[other, "score"] == pytest.approx(expected)


# (instrument, answers, scale, score at the threshold, n_answered); one answer fewer -> missing
GOLDEN_MISSING = [
    ("mbi_hss", dict.fromkeys((1, 2, 3, 6, 8, 13, 14, 16), 3), "emotional_exhaustion", 27, 8),
    ("mbi_gs", {5: 4, 7: 4, 10: 5, 11: 5, 12: 6}, "professional_efficacy", 4.8, 5),
    ("cbi", {1: 50, 2: 75, 3: 100}, "personal", 75, 3),  # published: >= 3 of 6
    ("cbi", {7: 100, 8: 100, 9: 100, 13: 100}, "work", 75, 4),  # >= 4 of 7; 13 reversed to 0
    ("cbi", {14: 25, 15: 25, 16: 50}, "client", 100 / 3, 3),
    ("olbi", {1: 2, 3: 2, 6: 2, 7: 2, 9: 2, 11: 2, 13: 2}, "disengagement", 18 / 7, 7),
    ("proqol5", dict.fromkeys((3, 6, 12, 16, 18, 20, 22, 24), 4), "compassion_satisfaction", 40,
     8),
    ("pss10", dict.fromkeys(range(1, 9), 2), "total", 20, 8),
    ("pss4", {1: 1, 2: 3, 3: 3, 4: 1}, "total", 4, 4),  # 80% of 4 items = all 4
    ("bat12", dict.fromkeys(range(1, 11), 3), "total", 3, 10),
    ("bat12", {4: 2, 5: 3, 6: 4}, "mental_distance", 3, 3),
    ("who5", {1: 3, 2: 3, 3: 4, 4: 2}, "total", 15, 4),  # prorated 12 / 4 x 5
    ("who5", {1: 3, 2: 3, 3: 4, 4: 2}, "percentage", 60, 4),
    ("single_item_burnout", {1: 3}, "total", 3, 1),
    ("single_item_burnout_v2", {1: 2}, "total", 2, 1),
    ("jse_hp", dict.fromkeys(range(1, 17), 4), "total", 80, 16),
    ("phq9", dict.fromkeys(range(1, 9), 2), "total", 18, 8),
    ("gad7", dict.fromkeys(range(1, 7), 1), "total", 7, 6),
]  # fmt: skip


@pytest.mark.parametrize(("inst_id", "answers", "scale", "score", "n"), GOLDEN_MISSING)
def test_golden_missing_items_at_and_past_the_threshold(inst_id, answers, scale, score, n):
    got = _one(inst_id, answers)
    assert got.at[scale, "score"] == pytest.approx(score)
    assert got.at[scale, "n_answered"] == n
    assert got.at[scale, "n_answered"] == load_instrument(inst_id).scales[scale].min_answered
    fewer = dict(list(answers.items())[:-1])
    past = _one(inst_id, fewer)
    assert np.isnan(past.at[scale, "score"]) and pd.isna(past.at[scale, "category"])
    assert past.at[scale, "n_answered"] == n - 1


def test_values_outside_the_answer_codes_are_set_missing():
    with pytest.warns(UserWarning, match="outside the answer codes"):
        got = _one("cbi", {1: 50, 2: 37, 3: 50, 4: 50, 5: 101, 6: 50})
    assert got.at["personal", "score"] == 50 and got.at["personal", "n_answered"] == 4


def test_categories_open_below_with_above():
    who = load_instrument("who5")
    from balint_analysis.scoring import categorise

    got = categorise(pd.Series([48.0, 50.0, 50.5, np.nan]), who.scales["percentage"])
    assert got.tolist()[:3] == ["poor", "poor", "adequate"] and pd.isna(got.iloc[3])


def test_unadministered_items_count_as_unanswered():
    row = pd.DataFrame([{"participant": "p", "group": "g", "timepoint": "pre",
                         **{f"who5__{i}": 4.0 for i in (1, 2, 3, 4)}}])  # fmt: skip
    got = score_responses(row, {"who5": load_instrument("who5")}).set_index("scale")
    assert got.at["total", "score"] == 20 and got.at["total", "n_answered"] == 4


# --- properties ---------------------------------------------------------------------------------

INSTRUMENT_IDS = sorted(GOLDEN)


@st.composite
def answered_table(draw, n_rows: int = 6):
    """A random response table for one built-in instrument (codes, some blanks)."""
    inst = load_instrument(draw(st.sampled_from(INSTRUMENT_IDS)))
    codes = [float(c) for c in inst.allowed_values] + [np.nan]
    cells = draw(st.lists(st.sampled_from(codes), min_size=n_rows * inst.n_items,
                          max_size=n_rows * inst.n_items))  # fmt: skip
    values = np.asarray(cells).reshape(n_rows, inst.n_items)
    table = pd.DataFrame(values, columns=[f"{inst.id}__{i}" for i in inst.items])
    table.insert(0, "timepoint", ["pre", "post"] * (n_rows // 2))
    table.insert(0, "group", "balint")
    table.insert(0, "participant", [f"p{i // 2}" for i in range(n_rows)])
    return inst, table


@settings(max_examples=60, deadline=None)
@given(answered_table())
def test_reversing_twice_is_identity(case):
    inst, table = case
    x = table.filter(like="__").to_numpy(dtype=float)
    assert np.array_equal(reverse(reverse(x, inst), inst), x, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(answered_table())
def test_scores_stay_within_the_published_range(case):
    inst, table = case
    scores = score_responses(table, {inst.id: inst})
    for sid in inst.scales:
        lo, hi = inst.scale_range(sid)
        s = scores.loc[scores["scale"] == sid, "score"].dropna()
        assert ((s >= lo - 1e-9) & (s <= hi + 1e-9)).all(), (inst.id, sid)


@settings(max_examples=40, deadline=None)
@given(answered_table(), st.randoms(use_true_random=False))
def test_permuting_export_columns_changes_nothing(case, rnd):
    inst, table = case
    columns = list(table.columns)
    rnd.shuffle(columns)
    before = score_responses(table, {inst.id: inst})
    after = score_responses(table[columns], {inst.id: inst})
    pd.testing.assert_frame_equal(before, after)


@settings(max_examples=40, deadline=None)
@given(answered_table(), st.randoms(use_true_random=False))
def test_scoring_is_invariant_to_row_order(case, rnd):
    inst, table = case
    order = list(range(len(table)))
    rnd.shuffle(order)
    key = ["participant", "timepoint", "scale"]
    before = score_responses(table, {inst.id: inst}).sort_values(key, ignore_index=True)
    shuffled = score_responses(table.iloc[order], {inst.id: inst})
    pd.testing.assert_frame_equal(before, shuffled.sort_values(key, ignore_index=True))


# --- flags and item descriptives --------------------------------------------------------------


def test_flags_are_counts_per_group_and_timepoint_only():
    phq = load_instrument("phq9")
    rows = []
    for p, (group, tp, item9) in enumerate([("balint", "pre", 0), ("balint", "pre", 2),
                                            ("control", "pre", 1), ("control", "post", np.nan),
                                            ("control", "post", 0)]):  # fmt: skip
        rows.append({"participant": f"p{p}", "group": group, "timepoint": tp,
                     **{f"phq9__{i}": 1.0 for i in range(1, 9)}, "phq9__9": item9})  # fmt: skip
    flags = flag_counts(pd.DataFrame(rows), {"phq9": phq}, ["pre", "post"], ["balint", "control"])
    assert list(flags.columns) == FLAG_COLUMNS and "participant" not in flags
    got = flags.set_index(["group", "timepoint"])[["n_responses", "n_flagged"]]
    assert got.loc[("balint", "pre")].tolist() == [2, 1]
    assert got.loc[("control", "pre")].tolist() == [1, 1]
    assert got.loc[("control", "post")].tolist() == [1, 0]  # a blank item 9 is not a response
    assert got.loc[("balint", "post")].tolist() == [0, 0]
    assert set(flags["flag"]) == {"item9_self_harm"}
    none = flag_counts(pd.DataFrame(rows), {}, ["pre"], ["balint"])
    assert none.empty and list(none.columns) == FLAG_COLUMNS


def test_item_descriptives_per_item_and_timepoint():
    rows = [{"participant": "a", "group": "g", "timepoint": "pre", "who5__1": 0.0, "who5__2": 5.0},
            {"participant": "b", "group": "g", "timepoint": "pre", "who5__1": 2.0,
             "who5__2": np.nan}]  # fmt: skip
    d = item_descriptives(pd.DataFrame(rows), {"who5": load_instrument("who5")}, ["pre", "post"])
    d = d.set_index(["item", "timepoint"])
    assert d.loc[(1, "pre"), ["n", "mean", "missing_share", "floor_share"]].tolist() == [
        2, 1.0, 0.0, 0.5]
    assert d.loc[(2, "pre"), ["n", "missing_share", "ceiling_share"]].tolist() == [1, 0.5, 1.0]
    assert d.loc[(1, "post"), "n"] == 0 and np.isnan(d.loc[(1, "post"), "missing_share"])
    assert sorted(d.index.get_level_values("item").unique()) == [1, 2]  # administered only


@settings(max_examples=40, deadline=None)
@given(answers=st.lists(st.tuples(st.sampled_from(["pre", "post", "other", None]),
                                  st.one_of(st.none(), st.integers(0, 5)),
                                  st.one_of(st.none(), st.integers(0, 5))), max_size=25))
def test_item_descriptives_are_those_of_a_grouped_long_table(answers):
    """Counts by timepoint code: the same numbers (to the bit) as aggregating a long table
    (item, timepoint) by its labels with pandas, for any missing pattern; the SD is the
    square root of the exact sample variance rounded once (pandas' running variance agrees
    to rounding error)."""
    import math
    from fractions import Fraction

    who5 = load_instrument("who5")
    table = pd.DataFrame(answers, columns=["timepoint", "who5__1", "who5__3"], dtype=object)
    table = table.astype({"who5__1": "Int8", "who5__3": "float64"})
    got = item_descriptives(table, {"who5": who5}, ["pre", "post"])
    long = table.melt(id_vars="timepoint", var_name="column").astype({"value": float})
    agg = long.groupby(["column", "timepoint"]).agg(
        n=("value", "count"), mean=("value", "mean"), sd=("value", "std"),
        total=("value", "size"),
        floor_share=("value", lambda v: (v.dropna() == who5.response_min).mean()),
        ceiling_share=("value", lambda v: (v.dropna() == who5.response_max).mean()))
    grid = pd.MultiIndex.from_product([["who5__1", "who5__3"], ["pre", "post"]])
    want = agg.reindex(grid)
    assert got["n"].tolist() == want["n"].fillna(0).astype(int).tolist()
    for column in ("mean", "floor_share", "ceiling_share"):
        assert np.array_equal(got[column].to_numpy(float), want[column].to_numpy(float),
                              equal_nan=True), column
    assert np.allclose(got["sd"].to_numpy(float), want["sd"].to_numpy(float), rtol=1e-12,
                       atol=0, equal_nan=True)
    exact = []
    for column, timepoint in grid:
        values = [Fraction(int(v)) for v in long.loc[(long["column"] == column)
                                                    & (long["timepoint"] == timepoint),
                                                    "value"].dropna()]  # fmt: skip
        mean = sum(values, Fraction(0)) / len(values) if values else None
        exact.append(math.sqrt(sum(((v - mean) ** 2 for v in values), Fraction(0))
                               / (len(values) - 1)) if len(values) > 1 else np.nan)
    assert np.array_equal(got["sd"].to_numpy(float), np.array(exact), equal_nan=True)
    missing = (want["total"] - want["n"].fillna(0)) / want["total"]
    assert np.array_equal(got["missing_share"].to_numpy(float), missing.to_numpy(float),
                          equal_nan=True)


def test_reliability_is_cronbach_alpha_of_each_timepoints_rows_to_the_bit():
    """reliability() picks each timepoint's complete cases by code: the same numbers, bit for
    bit, as cronbach_alpha() of that timepoint's rows of the keyed items (a DataFrame)."""
    from balint_analysis.scoring import reliability, scale_items

    rng = np.random.default_rng(3)
    rows = 3_000
    table = pd.DataFrame({f"mbi_hss__{i}": rng.integers(0, 7, rows).astype(float)
                          for i in MBI.items})  # fmt: skip
    table = table.mask(rng.random(table.shape) < 0.02)
    table["timepoint"] = rng.choice(np.array(["pre", "post", None], dtype=object), rows)
    got = reliability(table, {"mbi_hss": MBI}, ["pre", "post", "absent"])
    for (scale_id, tp), row in got.set_index(["scale", "timepoint"]).iterrows():
        items = scale_items(table, MBI, MBI.scales[scale_id])
        want = cronbach_alpha(items[(table["timepoint"] == tp).to_numpy()])
        assert (row["alpha"], row["ci_low"], row["ci_high"], row["n"]) == pytest.approx(
            want, rel=0, abs=0, nan_ok=True)


def test_score_stage_writes_the_four_outputs(tiny_cohort, tmp_path):
    from balint_analysis.pipeline import score_stage

    cfg = tiny_cohort["config"]
    rows = []
    for p, group in (("a", "balint"), ("b", "control")):
        for tp in ("pre", "post"):
            rows.append({"participant": p, "timepoint": tp, "group": group, "source": "x",
                         "row": 2, **{f"mbi_hss__{i}": 3.0 for i in range(1, 23)},
                         **{f"pss10__{i}": 2.0 for i in range(1, 11)}})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "responses.csv", index=False)
    out = {k: str(tmp_path / f"{k}.csv") for k in ("scores", "reliability", "item_stats", "flags")}
    score_stage(cfg, {"responses": str(tmp_path / "responses.csv")}, out)
    scores = pd.read_csv(out["scores"])
    assert len(scores) == 4 * 4 and set(scores["n_answered"]) == {5, 8, 9, 10}
    assert scores.loc[scores["scale"] == "emotional_exhaustion", "score"].eq(27).all()
    flags = pd.read_csv(out["flags"])
    assert list(flags.columns) == FLAG_COLUMNS and flags.empty  # no flagged instrument
    assert len(pd.read_csv(out["item_stats"])) == 32 * 2
