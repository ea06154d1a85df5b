"""Power analysis: simulation, analysis, summary, the workflow target, and SLURM = local."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from project_helpers import slurm_unavailable
from statsmodels.stats.proportion import proportion_confint

from balint_analysis.errors import InputError
from balint_analysis.power import (
    check_power_budget,
    dropout_probability,
    expand_grid,
    grid_cells,
    power_settings,
    run_chunk,
    simulate_complete,
    simulate_replicate,
    summarise,
    wilson_interval,
)
from balint_analysis.power.page import mechanism_sentences, render_power_page

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
TINY_POWER = {
    "replicates": 40,
    "chunk_size": 10,
    "seed": 7,
    "grid": {"n_per_arm": [40], "group_size": [10], "effect_d": [0.0, 1.2], "icc": [0.05],
             "attrition": [0.1], "timepoints": [3], "prepost_r": [0.6]},
    # One MNAR cell beside the grid's MCAR cell (same design): the page's mechanism panel.
    "mechanism_panel": {"mechanisms": ["MCAR", "MNAR"], "n_per_arm": 40, "effect_d": 1.2},
}  # fmt: skip


def test_grid_and_settings():
    cells = expand_grid({"n_per_arm": [10, 20], "effect_d": [0, 0.5], "icc": [0.05]})
    assert len(cells) == 4 and list(cells["cell"]) == [0, 1, 2, 3]
    assert len(expand_grid()) == 4 * 4 * 3  # the default grid: n x d x ICC
    with pytest.raises(ValueError, match="unknown power grid key"):
        expand_grid({"n": [1]})
    s = power_settings({"power": {"replicates": 101, "chunk_size": 50}, "analysis": {"alpha": 0.1}})
    assert (s["n_chunks"], s["alpha"], s["seed"]) == (3, 0.1, 1)


def test_wilson_matches_statsmodels():
    for hits, n in ((0, 40), (3, 40), (38, 40), (100, 200)):
        lo, hi = wilson_interval(hits, n)
        ref = proportion_confint(hits, n, alpha=0.05, method="wilson")
        assert (lo, hi) == pytest.approx(ref, abs=1e-12)


def test_replicate_follows_the_design():
    cell = expand_grid({"n_per_arm": [30], "group_size": [10], "attrition": [0.0],
                        "timepoints": [2]}).iloc[0]  # fmt: skip
    frame = simulate_replicate(cell, np.random.default_rng(1))
    assert len(frame) == 60 * 2
    treated = frame[frame["group"] == "balint"]
    assert sorted(treated["cluster"].unique()) == ["G0", "G1", "G2"]
    assert (frame.loc[frame["group"] == "control", "cluster"] == "").all()
    cell = expand_grid({"n_per_arm": [2000], "attrition": [0.3], "timepoints": [3]}).iloc[0]
    frame = simulate_replicate(cell, np.random.default_rng(2))
    share = frame.groupby("timepoint")["participant"].nunique() / 4000
    assert share["t0"] == 1.0
    assert share["t1"] == pytest.approx(0.7, abs=0.03)
    assert share["t2"] == pytest.approx(0.49, abs=0.03)  # cumulative drop-out


def test_mechanism_panel_cells_and_budget():
    settings = power_settings({})
    cells = grid_cells(settings)
    assert len(cells) == 50 and cells["mechanism_panel"].sum() == 2  # MCAR cell is in the grid
    panel = cells[cells["mechanism_panel"]]
    assert panel["attrition_mechanism"].tolist() == ["MAR", "MNAR"]
    assert (panel[["n_per_arm", "effect_d", "icc"]].to_numpy() == [[60, 0.3, 0.05]] * 2).all()
    # MNAR estimand: d - delta x share missing at the last wave = 0.3 - 0.5 x (1 - 0.85^2).
    assert panel["true_effect"].tolist() == pytest.approx([0.3, 0.3 - 0.5 * 0.2775])
    # Without a panel the grid's cells keep their numbers (and seeds).
    assert grid_cells({**settings, "mechanism_panel": {"mechanisms": []}}).equals(
        cells[~cells["mechanism_panel"]])
    # The budget counts the panel's cells: 20,001 x 48 grid cells alone would pass.
    with pytest.raises(InputError, match="20,001 replicates x 50 grid cells are 1,000,050"):
        check_power_budget({**settings, "replicates": 20_001, "n_chunks": 1})
    check_power_budget({**settings, "replicates": 20_001, "n_chunks": 1,
                        "mechanism_panel": {"mechanisms": []}})  # fmt: skip
    with pytest.raises(ValueError, match="unknown attrition mechanism"):
        expand_grid({"attrition_mechanism": ["MNRA"]})


@pytest.mark.parametrize("mechanism", ["MCAR", "MAR", "MNAR"])
def test_every_mechanism_loses_the_target_share(mechanism):
    cell = expand_grid({"n_per_arm": [5000], "attrition": [0.3], "timepoints": [3],
                        "attrition_mechanism": [mechanism]}).iloc[0]  # fmt: skip
    _, observed, _, _ = simulate_complete(cell, np.random.default_rng(3))
    # 10,000 participants: the MC SD of a share is at most 0.005.
    assert observed.mean(axis=0) == pytest.approx([1.0, 0.7, 0.49], abs=0.015)
    baseline = np.random.default_rng(4).normal(size=500)
    assert dropout_probability(baseline, 0.3, mechanism).mean() == pytest.approx(0.3, abs=1e-9)


def test_mar_follows_baseline_and_mnar_the_unobserved_score():
    import statsmodels.api as sm

    def draw(mechanism):
        grid = {"n_per_arm": [5000], "attrition": [0.3], "timepoints": [2],
                "attrition_mechanism": [mechanism]}  # fmt: skip
        cell = expand_grid(grid, mnar_delta=0.8).iloc[0]
        return simulate_complete(cell, np.random.default_rng(5))

    # MAR: logit P(leave) = a - log(2) x baseline (SE of the slope ~0.02 with 10,000 people).
    y, observed, _, _ = draw("MAR")
    logit = sm.Logit((~observed[:, 1]).astype(float), sm.add_constant(y[:, 0])).fit(disp=0)
    assert logit.params[1] == pytest.approx(-np.log(2), abs=0.08)
    # MNAR: leaving is unrelated to baseline, but those who left the Balint arm have unobserved
    # scores 0.8 SD lower than stayers with the same baseline; controls are not shifted.
    y, observed, treated, _ = draw("MNAR")
    logit = sm.Logit((~observed[:, 1]).astype(float), sm.add_constant(y[:, 0])).fit(disp=0)
    assert abs(logit.params[1]) < 0.08
    for arm, shift in ((1, -0.8), (0, 0.0)):
        rows = treated == arm
        design = sm.add_constant(np.column_stack([y[rows, 0], ~observed[rows, 1]]).astype(float))
        fit = sm.OLS(y[rows, 1], design).fit()
        assert fit.params[2] == pytest.approx(shift, abs=4 * fit.bse[2])


def test_bias_is_zero_under_mcar_and_mar_and_follows_delta_under_mnar():
    cells = expand_grid({"n_per_arm": [30], "effect_d": [0.5], "icc": [0.05], "attrition": [0.3],
                         "timepoints": [3], "attrition_mechanism": ["MCAR", "MAR", "MNAR"]},
                        mnar_delta=1.0)  # fmt: skip
    summary = summarise(cells, run_chunk(cells, replicates=range(25), seed=5)).set_index(
        "attrition_mechanism")
    assert summary.loc["MNAR", "true_effect"] == pytest.approx(0.5 - 1.0 * 0.51)
    for mechanism in ("MCAR", "MAR"):
        row = summary.loc[mechanism]
        assert abs(row["bias"]) < 3 * row["bias_mc_se"]
    # The MAR analysis estimates d, so it overstates the MNAR estimand by delta x 0.51.
    mnar = summary.loc["MNAR"]
    assert mnar["bias"] == pytest.approx(0.51, abs=3 * mnar["bias_mc_se"])
    assert mnar["coverage"] < summary.loc["MCAR", "coverage"]
    lines = mechanism_sentences(summary.reset_index())
    assert "30 participants per arm, true effect d = 0.5, 30% drop-out" in lines[0]
    assert lines[3].startswith("If those who leave the Balint groups would have scored 1 SD "
                               "worse than similar participants who stayed (MNAR)")  # fmt: skip
    assert "overstates the true effect in everyone who started (-0.01)" in lines[3]
    page = render_power_page(summary.reset_index(), title="t", alpha=0.05, replicates=25, seed=5,
                             sources=[])  # fmt: skip
    assert "Who drops out: how drop-out erodes power and accuracy" in page
    assert page.count("If leaving is unrelated to anything (MCAR)") == 1


def test_chunking_does_not_change_results():
    cells = expand_grid({"n_per_arm": [12], "effect_d": [0.5], "timepoints": [2],
                         "icc": [0.02, 0.12]})  # fmt: skip
    whole = run_chunk(cells, replicates=range(6), seed=3)
    parts = pd.concat([run_chunk(cells, replicates=range(0, 4), seed=3),
                       run_chunk(cells, replicates=range(4, 6), seed=3)], ignore_index=True)
    key = ["cell", "replicate"]
    pd.testing.assert_frame_equal(whole.sort_values(key).reset_index(drop=True),
                                  parts.sort_values(key).reset_index(drop=True))  # fmt: skip


def test_summary_counts_failures_as_non_rejections():
    cells = expand_grid({"n_per_arm": [10], "effect_d": [0.5]})
    results = pd.DataFrame({"cell": [0] * 4, "replicate": range(4),
                            "estimate": [0.4, 0.6, np.nan, 0.5], "se": [0.1] * 4,
                            "df": [20.0] * 4, "ci_low": [0.2, 0.55, np.nan, 0.3],
                            "ci_high": [0.6, 0.8, np.nan, 0.7],
                            "p_value": [0.01, 0.001, np.nan, 0.2],
                            "converged": [True, True, False, True], "n_obs": [60] * 4})  # fmt: skip
    row = summarise(cells, results).iloc[0]
    assert row["power"] == 0.5 and row["n_failed"] == 1
    assert row["bias"] == pytest.approx(0.0) and row["coverage"] == pytest.approx(2 / 3)


def _workdir(tmp: Path) -> Path:
    subprocess.run([sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", "small",
                    "--seed", "1", "--out", "data/raw/plan", "--config-out", "config/config.yaml",
                    "--cohort", "plan"], cwd=tmp, check=True, capture_output=True)  # fmt: skip
    cfg_path = tmp / "config" / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["power"] = TINY_POWER
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp


def _snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "power", "--snakefile",
                           str(SNAKEFILE), "--directory", str(workdir), *args],
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def local_power(tmp_path_factory):
    work = _workdir(tmp_path_factory.mktemp("power-local"))
    proc = _snakemake(work, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return work


@pytest.mark.e2e
def test_power_target_runs_locally(local_power):
    power = pd.read_csv(local_power / "data/processed/plan/power/power.csv")
    null, large = power.iloc[0], power.iloc[1]
    assert null["effect_d"] == 0.0 and large["effect_d"] == 1.2
    assert null["power"] <= 0.15  # alpha = 0.05 with 40 replicates (MC SE 0.034)
    assert large["power"] >= 0.95
    assert power["replicates"].tolist() == [40, 40, 40]
    assert power["coverage"].iloc[:2].between(0.8, 1.0).all()
    mnar = power.iloc[2]  # the mechanism panel's cell, after the grid's
    assert (mnar["attrition_mechanism"], mnar["mechanism_panel"]) == ("MNAR", True)
    assert mnar["true_effect"] == pytest.approx(1.2 - 0.5 * 0.19)
    html = (local_power / "reports/plan/power.html").read_text()
    assert "<svg" in html and "Power curves" in html and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "Who drops out" in html and "would have scored 0.5 SD worse" in html


@pytest.mark.e2e
def test_one_core_and_other_chunking_give_the_same_bytes(local_power, tmp_path):
    work = _workdir(tmp_path)
    config = yaml.safe_load((work / "config/config.yaml").read_text())
    config["power"]["chunk_size"] = 25  # 2 chunks instead of 4
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = _snakemake(work, "--cores", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    local = (local_power / "data/processed/plan/power/power.csv").read_bytes()
    assert (work / "data/processed/plan/power/power.csv").read_bytes() == local


@pytest.mark.e2e
def test_default_grid_power_is_one_for_large_effects_and_alpha_for_none(tmp_path):
    work = _workdir(tmp_path)
    config = yaml.safe_load((work / "config/config.yaml").read_text())
    # 12 of the documented default grid's 48 cells (the grid itself is checked in
    # test_grid_and_settings): the smallest and the largest design, d = 0, 0.3 and 0.8, the two
    # lower ICCs (few Balint groups and a small ICC give boundary fits); and the default
    # mechanism panel (n = 60, d = 0.3, ICC 0.05; its MCAR cell too, as 60 is not in this grid).
    # 100 instead of the default 200 replicates per cell: a third of the whole grid's CPU time.
    config["power"] = {"replicates": 100, "chunk_size": 50,
                       "grid": {"n_per_arm": [20, 100], "effect_d": [0.0, 0.3, 0.8],
                                "icc": [0.02, 0.05]}}  # fmt: skip
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = _snakemake(work, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    power = pd.read_csv(work / "data/processed/plan/power/power.csv")
    assert len(power) == 15 and (power["replicates"] == 100).all()
    panel = power[power["mechanism_panel"]].set_index("attrition_mechanism")
    power = power[~power["mechanism_panel"]]
    # MAR is ignorable for the primary model: unbiased; MNAR (delta 0.5, 27.75% missing at the
    # last wave) overstates the effect by ~0.14 SD (MC SE ~0.03 with 100 replicates).
    assert abs(panel.loc["MAR", "bias"]) < 3 * panel.loc["MAR", "bias_mc_se"]
    mnar = panel.loc["MNAR"]
    assert mnar["bias"] == pytest.approx(0.139, abs=3 * mnar["bias_mc_se"])
    large = power[(power["n_per_arm"] == 100) & (power["effect_d"] == 0.8)]
    assert (large["power"] >= 0.97).all()  # at every ICC
    null = power[power["effect_d"] == 0.0]
    # 100 replicates per cell: a single cell at alpha = .05 lies in 0-.12 with ~99% chance;
    # small designs with few Balint groups run slightly above alpha (boundary fits).
    assert null["power"].between(0.0, 0.13).all()
    assert null["power"].mean() == pytest.approx(0.05, abs=0.025)
    assert power["coverage"].between(0.85, 1.0).all()
    assert power["coverage"].mean() == pytest.approx(0.95, abs=0.015)
    # Power grows with the effect.
    for _, panel in power.groupby(["n_per_arm", "icc"]):
        assert panel.sort_values("effect_d")["power"].iloc[1:].is_monotonic_increasing


@pytest.mark.slurm
@pytest.mark.e2e
@pytest.mark.xdist_group("slurm")  # in the worker of tests/test_slurm.py, never beside it
def test_slurm_run_equals_local_run(local_power, tmp_path):
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    setup = subprocess.run(["bash", str(REPO / "tests/slurm/setup-local-slurm.sh")],
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    work = _workdir(tmp_path)
    # Two chunk jobs (the local run has four: chunking changes no byte, see above) and the gather.
    config = yaml.safe_load((work / "config/config.yaml").read_text())
    config["power"]["chunk_size"] = 20
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        proc = _snakemake(work, "--workflow-profile", str(REPO / "workflow/profiles/slurm"),
                          "--slurm-init-seconds-before-status-checks", "2", "--jobs", "4",
                          timeout=900)  # fmt: skip
    finally:
        subprocess.run(["bash", str(REPO / "tests/slurm/teardown-local-slurm.sh")],
                       capture_output=True, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "slurm" in (proc.stdout + proc.stderr).lower()
    local = (local_power / "data/processed/plan/power/power.csv").read_bytes()
    remote = (work / "data/processed/plan/power/power.csv").read_bytes()
    assert remote == local

