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

from balint_analysis.power import (
    expand_grid,
    power_settings,
    run_chunk,
    simulate_replicate,
    summarise,
    wilson_interval,
)

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
TINY_POWER = {
    "replicates": 40,
    "chunk_size": 10,
    "seed": 7,
    "grid": {"n_per_arm": [40], "group_size": [10], "effect_d": [0.0, 1.2], "icc": [0.05],
             "attrition": [0.1], "timepoints": [3], "prepost_r": [0.6]},
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
    assert power["replicates"].tolist() == [40, 40]
    assert power["coverage"].between(0.8, 1.0).all()
    html = (local_power / "reports/plan/power.html").read_text()
    assert "<svg" in html and "Power curves" in html and "http" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


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
    # The documented default grid (DEFAULT_GRID: 48 cells); 100 instead of the default 200
    # replicates per cell keeps this test near a minute on two cores.
    config["power"] = {"replicates": 100, "chunk_size": 50}
    (work / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    proc = _snakemake(work, "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    power = pd.read_csv(work / "data/processed/plan/power/power.csv")
    assert len(power) == 48 and (power["replicates"] == 100).all()
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
def test_slurm_run_equals_local_run(local_power, tmp_path):
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)
    setup = subprocess.run(["bash", str(REPO / "tests/slurm/setup-local-slurm.sh")],
                           capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    work = _workdir(tmp_path)
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

