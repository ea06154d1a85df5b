"""meta.csv rows from a cohort's outputs (hand-computed values); the programme config's checks."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from project_helpers import REPO
from scipy import stats

from balint_analysis.errors import InputError
from balint_analysis.programme.config import load_programme, read_programme
from balint_analysis.programme.dataset import META_CSV_COLUMNS, baseline_summary, cohort_meta_rows

COHORT = {"cohort": "c1", "site": "Leipzig", "year": 2025, "country": "DE", "randomised": True,
          "timepoints": ("pre", "post"), "intervention": "balint", "control": "control",
          "instrument_versions": {"mbi_hss": "22 items"}}  # fmt: skip


def _scores() -> pd.DataFrame:
    # baseline: balint 10, 12, 14 (mean 12, var 4); control 10, 12, 14, 16 (mean 13, var 20/3)
    rows = [("a1", "balint", "pre", 10), ("a2", "balint", "pre", 12),
            ("a3", "balint", "pre", 14), ("b1", "control", "pre", 10),
            ("b2", "control", "pre", 12), ("b3", "control", "pre", 14),
            ("b4", "control", "pre", 16), ("a1", "balint", "post", 8),
            ("b1", "control", "post", 11), ("a4", "balint", "pre", None)]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["participant", "group", "timepoint", "score"])
    return frame.assign(instrument="mbi_hss", scale="emotional_exhaustion")


def _participants() -> pd.DataFrame:
    return pd.DataFrame({"participant": ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"],
                         "group": ["balint"] * 4 + ["control"] * 4,
                         "cluster": ["G1", "G1", "G2", "G2", None, None, None, None]})


def _effects() -> pd.DataFrame:
    return pd.DataFrame([{
        "instrument": "mbi_hss", "scale": "emotional_exhaustion", "timepoint": "post",
        "estimate": -4.0, "se": 2.0, "df": 12.0, "ci_low": -8.357, "ci_high": 0.357,
        "p_value": 0.07, "d_ppc2": -0.4, "d_ci_low": -0.8, "d_ci_high": 0.0,
        "n_intervention": 3, "n_control": 4, "role": "primary", "design": "two-arm",
        "d_model": -0.5, "d_model_ci_low": -0.5 - stats.t.ppf(0.975, 12) * 0.25,
        "d_model_ci_high": -0.5 + stats.t.ppf(0.975, 12) * 0.25, "primary_timepoint": True,
        "estimable": True, "reason": None,
    }])  # fmt: skip


def test_baseline_summary_is_the_pooled_sd_smd():
    base = baseline_summary(_scores(), baseline="pre", intervention="balint", control="control")
    row = base.iloc[0]
    # balint: mean 12, var 4 (n 3); control: mean 13, var 20/3 (n 4)
    pooled = (2 * 4 + 3 * 20 / 3) / 5
    assert (row["n_baseline_intervention"], row["n_baseline_control"]) == (3, 4)
    assert row["baseline_difference"] == pytest.approx((12 - 13) / math.sqrt(pooled), abs=1e-12)


def test_meta_rows_carry_effect_variances_flow_and_labels():
    meta = cohort_meta_rows(_effects(), _scores(), _participants(), cohort=COHORT,
                            programme="north", alpha=0.05, min_cell_size=3)  # fmt: skip
    assert list(meta.columns) == META_CSV_COLUMNS
    row = meta.iloc[0]
    assert row["vi_smd"] == pytest.approx(0.25**2, rel=1e-9)  # from the t(df) CI half-width
    assert row["vi_d_ppc2"] == pytest.approx((0.4 / stats.norm.ppf(0.975)) ** 2, rel=1e-9)
    assert (row["yi_smd"], row["smd_measure"], row["estimate"]) == (-0.5, "d_model", -4.0)
    assert (row["n_enrolled_intervention"], row["n_enrolled_control"]) == (4, 4)
    assert (row["attrition_intervention"], row["attrition_control"]) == (0.25, 0.0)
    assert (row["n_clusters"], row["n_timepoints"], row["randomised"]) == (2, 2, True)
    assert (row["site"], row["instrument_version"], row["estimable"]) == ("Leipzig", "22 items",
                                                                          True)  # fmt: skip
    assert not {"participant"} & set(meta.columns)


def test_small_arm_withholds_the_effect_and_small_baseline_the_imbalance():
    meta = cohort_meta_rows(_effects(), _scores(), _participants(), cohort=COHORT,
                            programme="north", alpha=0.05, min_cell_size=5)  # fmt: skip
    row = meta.iloc[0]
    assert not row["estimable"] and "fewer than 5" in row["reason"]
    assert all(np.isnan(row[c]) for c in ("estimate", "se", "yi_smd", "vi_smd", "d_ppc2"))
    assert np.isnan(row["baseline_difference"])  # 3 and 4 at baseline, below 5
    assert (row["n_intervention"], row["n_control"]) == (3, 4)  # margins stay public


def _project(tmp_path: Path, programme: dict) -> Path:
    (tmp_path / "config" / "programme").mkdir(parents=True)
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "demo.yaml")
    path = tmp_path / "config" / "programme" / "p.yaml"
    path.write_text(yaml.safe_dump({"programme": programme}), encoding="utf-8")
    return path


BASE = {"name": "p", "title": "P", "cohorts": [{"config": "config/demo.yaml", "site": "A"}]}


def test_programme_config_reads_cohorts_and_fills_defaults(tmp_path):
    programme = read_programme(_project(tmp_path, BASE), root=tmp_path)
    assert [c.cohort for c in programme.cohorts] == ["demo"]
    assert (programme.alpha, programme.pool_standardised, programme.disclosure_k) == (0.05,
                                                                                      False, 5)
    assert "data/raw/demo/participants.csv" in programme.cohorts[0].raw_inputs


@pytest.mark.parametrize(("change", "words"), [
    ({"alpah": 0.1}, "unknown key 'alpah' (did you mean 'alpha'?)"),
    ({"cohorts": [{"config": "config/none.yaml", "site": "A"}]}, "config/none.yaml does not exist"),
    ({"cohorts": BASE["cohorts"] * 2}, "cohort 'demo' is already pooled"),
    ({"alpha": 0.9}, "'programme.alpha': 0.9 is outside the allowed range"),
    ({"primary_outcome": "who5.total", "outcomes": ["mbi_hss.emotional_exhaustion"]},
     "not among programme.outcomes"),
    ({"outcomes": ["mbi_hss.exhaustion"]}, "'programme.outcomes': mbi_hss.exhaustion is not an "
     "outcome of any of the programme's cohorts; choose among cbi.client, "),
])  # fmt: skip
def test_programme_config_problems_are_one_line(tmp_path, change, words):
    with pytest.raises(InputError) as err:
        read_programme(_project(tmp_path, {**BASE, **change}), root=tmp_path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_cohort_config_is_not_a_programme():
    with pytest.raises(InputError, match="'programme'"):
        load_programme(yaml.safe_load((REPO / "config" / "config.yaml").read_text("utf-8")))


def test_report_path_of_a_programme(tmp_path, capsys):
    from balint_analysis.cli import main

    path = _project(tmp_path, BASE)
    assert main(["report-path", "--config", str(path)]) == 0
    where = tmp_path / "reports" / "programmes" / "p" / "report.html"
    assert capsys.readouterr().out == f"Report: {where} (not yet written)\n"


def test_a_failing_cohort_run_is_one_line_with_its_own_message(tmp_path):
    from balint_analysis.programme.stage import cohort_job

    log = tmp_path / "cohort.log"
    with pytest.raises(InputError) as err:
        cohort_job("ghost", "config/ghost.yaml", {"summary": str(tmp_path / "s.json")}, cores=1,
                   log=str(log), root=tmp_path)  # fmt: skip
    assert str(err.value) == (
        "cohort 'ghost' (config/ghost.yaml) did not complete: balint-analysis: "
        f"config/ghost.yaml: no such configuration file. (full output: {log}); fix the "
        "cohort, then run the programme again.")
    assert not (tmp_path / "s.json").exists()


def test_check_of_a_programme_checks_each_cohort(tmp_path, capsys):
    from balint_analysis.cli import main

    path = _project(tmp_path, BASE)  # the demo's config without its raw files
    assert main(["check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert "== cohort demo (A): config/demo.yaml" in out
    assert out.rstrip().endswith("Programme 'p': 1 cohorts, not ready: fix the cohorts' "
                                 "problems above and check again.")


def _cohort_outputs(seed: int, effect: float, n_control_analysed: int = 20) -> dict:
    """A small two-arm cohort's outputs (16 per arm, 2 Balint groups, pre/post)."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame({"participant": [f"p{i:02d}" for i in range(32)],
                           "group": ["treat"] * 16 + ["usual"] * 16,
                           "cluster": ["G1"] * 8 + ["G2"] * 8 + [None] * 16})  # fmt: skip
    base = rng.normal(20, 5, 32)
    post = base + rng.normal(0, 3, 32) + np.where(people["group"] == "treat", effect, 0.0)
    scores = pd.concat([people.assign(timepoint="t0", score=base.round(1)),
                        people.assign(timepoint="t1", score=post.round(1))])  # fmt: skip
    scores = scores.drop(columns="cluster").assign(instrument="mbi_hss",
                                                   scale="emotional_exhaustion")
    effects = _effects().assign(timepoint="t1", estimate=effect, n_intervention=16,
                                n_control=n_control_analysed)  # fmt: skip
    return {"effects": effects, "scores": scores, "participants": people,
            "flow": {"participants": {"enrolled": {"treat": 16, "usual": 16},
                                      "observed": {"treat": {"t0": 16, "t1": 12}}}},
            "models": {"settings": {"alpha": 0.05}, "outcomes": [{"design": "two-arm"}]},
            "pseudonymisation": {"key_fingerprint": "ab" * 8}}  # fmt: skip


def test_pool_programme_pools_the_meta_rows_and_leaves_out_withheld_cohorts():
    from balint_analysis.programme.config import Programme, ProgrammeCohort
    from balint_analysis.programme.meta_analysis import random_effects_meta
    from balint_analysis.programme.pooling import pool_programme

    cohorts = tuple(ProgrammeCohort(
        config=f"config/c{i}.yaml", cohort=f"c{i}", site=f"S{i}", year=None, country=None,
        title="", randomised=False, timepoints=("t0", "t1"), intervention="treat",
        control="usual", min_cell_size=5, raw_inputs=(), instrument_versions={})
        for i in range(4))  # fmt: skip
    programme = Programme(name="p", title="P", cohorts=cohorts, outcomes=None,
                          primary_outcome=None, primary_timepoint=None,
                          pool_standardised=False, alpha=0.05, min_cell_size=5,
                          raw={"programme": {"name": "p"}})  # fmt: skip
    outputs = {f"c{i}": _cohort_outputs(i, -2.0 * i, 3 if i == 3 else 20) for i in range(4)}
    pooled = pool_programme(programme, outputs)
    meta = pooled["meta"]
    assert meta["estimable"].tolist() == [True, True, True, False]  # c3: 3 controls < 5
    table = pooled["meta_analysis"].set_index("measure")
    used = meta[meta["estimable"]]
    expected = random_effects_meta(used["estimate"], used["se"] ** 2)
    for name in ("estimate", "ci_low", "ci_high", "tau2", "pi_low", "pi_high", "k"):
        assert table.loc["difference_in_change", name] == pytest.approx(expected[name])
    smd = random_effects_meta(used["yi_smd"], used["vi_smd"])
    assert table.loc["smd", "estimate"] == pytest.approx(smd["estimate"])
    assert sorted(pooled["leave_one_out"]["omitted"].unique()) == ["c0", "c1", "c2"]
    assert (pooled["ipd"]["n_cohorts"] == 4).all()  # the one-stage model keeps c3's people
    record = pooled["cohorts"]["cohorts"][0]
    assert record["report"] == "../../c0/report.html"
    assert record["attrition"] == {"treat": {"t1": 0.25}, "usual": {"t1": None}}
