"""End-to-end: the Snakemake workflow on a freshly generated cohort, run by subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from project_helpers import FEW_IMPUTATIONS, use_few_imputations

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "workflow" / "Snakefile"
pytestmark = pytest.mark.e2e


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--directory",
         str(workdir), *args],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip


def simulate(workdir: Path, preset: str, seed: int, cohort: str) -> dict:
    subprocess.run(
        [sys.executable, "-m", "balint_analysis.cli", "simulate", "--preset", preset,
         "--seed", str(seed), "--out", f"data/raw/{cohort}", "--config-out",
         "config/config.yaml", "--cohort", cohort],
        cwd=workdir, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return yaml.safe_load((workdir / "config" / "config.yaml").read_text())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    simulate(workdir, "small", 11, "small")
    config = use_few_imputations(workdir / "config" / "config.yaml")
    proc = snakemake(workdir, "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"dir": workdir, "config": config, "proc": proc}


def processed(run, name: str) -> Path:
    return run["dir"] / "data" / "processed" / "small" / name


def test_every_spec_output_has_its_columns(run):
    spec = {
        "scores.csv": ["participant", "group", "timepoint", "instrument", "scale", "score",
                       "n_items", "n_answered", "category"],
        "reliability.csv": ["instrument", "scale", "timepoint", "n", "alpha", "ci_low",
                            "ci_high"],
        "emmeans.csv": ["instrument", "scale", "group", "timepoint", "mean", "se", "ci_low",
                        "ci_high", "n"],
        "effects.csv": ["instrument", "scale", "timepoint", "estimate", "se", "df", "ci_low",
                        "ci_high", "p_value", "p_adjusted", "d_ppc2", "d_ci_low", "d_ci_high",
                        "n_intervention", "n_control", "converged"],
        "rejected.csv": ["source", "row", "column", "reason", "action"],
        "missing_data.csv": ["instrument", "scale", "timepoint", "scenario", "delta", "delta_sd",
                             "estimate", "se", "df", "ci_low", "ci_high", "p_value", "fmi", "m",
                             "reason"],
        "tipping.csv": ["instrument", "scale", "timepoint", "scenario", "tipping_delta",
                        "tipping_delta_sd", "direction", "baseline_sd", "reason"],
        "missing_emmeans.csv": ["instrument", "scale", "scenario", "group", "timepoint", "mean",
                                "se", "df", "ci_low", "ci_high", "fmi", "m", "reason"],
    }  # fmt: skip
    for name, columns in spec.items():
        df = pd.read_csv(processed(run, name))
        assert list(df.columns[: len(columns)]) == columns, name
        assert len(df) > 0, name


def test_scores_and_effects_content(run):
    scores = pd.read_csv(processed(run, "scores.csv"))
    scales = {("mbi_hss", "emotional_exhaustion"), ("mbi_hss", "depersonalization"),
              ("mbi_hss", "personal_accomplishment"), ("pss10", "total"),
              ("cbi", "personal"), ("cbi", "work"), ("cbi", "client"),
              ("who5", "total"), ("who5", "percentage")}  # fmt: skip
    assert set(zip(scores["instrument"], scores["scale"], strict=True)) == scales
    ee = scores[scores["scale"] == "emotional_exhaustion"]["score"].dropna()
    assert ee.between(0, 54).all()
    effects = pd.read_csv(processed(run, "effects.csv"))
    # Nine scales are scored; eight are modelled: WHO-5 percentage is a rescaling of the total.
    assert len(effects) == 8 * 2  # modelled scales x two post-baseline timepoints
    assert not ((effects["instrument"] == "who5") & (effects["scale"] == "percentage")).any()
    assert set(effects["timepoint"]) == {"post", "followup"}
    assert (effects["ci_low"] < effects["estimate"]).all()
    assert (effects["estimate"] < effects["ci_high"]).all()
    assert (effects["df"] > 1).all() and effects["p_value"].between(0, 1).all()
    emm = pd.read_csv(processed(run, "emmeans.csv"))
    assert len(emm) == 8 * 2 * 3  # modelled scales x groups x timepoints


def test_effect_recovers_the_simulated_truth(run):
    truth = json.loads((run["dir"] / "data" / "raw" / "small" / "truth.json").read_text())
    effects = pd.read_csv(processed(run, "effects.csv")).set_index(["scale", "timepoint"])
    row = effects.loc[("emotional_exhaustion", "post")]
    true_effect = _true_effect(truth, "mbi_hss", "emotional_exhaustion", "post")
    assert row["ci_low"] <= true_effect <= row["ci_high"]


def _true_effect(truth: dict, instrument: str, scale: str, timepoint: str) -> float:
    effects = truth["true_effects"]
    value = effects.get(f"{instrument}.{scale}", effects.get(scale))
    return float(value[timepoint] if isinstance(value, dict) else value)


def test_flow_accounts_for_every_row(run):
    flow = json.loads(processed(run, "flow.json").read_text())
    rejected = pd.read_csv(processed(run, "rejected.csv"))
    for f in flow["files"]:
        assert f["rows_in"] == f["rows_accepted"] + f["rows_rejected"]
        excluded = rejected[(rejected["source"] == f["source"])
                            & (rejected["action"] == "row excluded")]  # fmt: skip
        assert excluded["row"].nunique() == f["rows_rejected"]
    # The generator knows which problems it injected: the flow must match them exactly.
    truth = json.loads((run["dir"] / "data" / "raw" / "small" / "truth.json").read_text())
    expected = truth["expected_flow"]
    kinds = {"preview": "preview, test or spam response",
             "unfinished": "incomplete response (not finished / form not complete)",
             "incomplete_form": "incomplete response (not finished / form not complete)",
             "not_submitted": "incomplete response (not finished / form not complete)",
             "duplicate_submission": "duplicate submission",
             "unmapped_event": "timepoint not in design.timepoints",
             "unknown_participant": "participant not in the roster"}  # fmt: skip
    assert len(flow["files"]) == len(expected["files"])
    assert {f["format"] for f in flow["files"]} == {"qualtrics", "redcap", "limesurvey"}
    for f in flow["files"]:
        want = expected["files"][Path(f["source"]).name]
        for key in ("rows_in", "rows_accepted", "rows_rejected", "items_invalidated"):
            assert f[key] == want[key], (f["source"], key)
        by_reason: dict[str, int] = {}
        for kind, n in want["rejected_by_kind"].items():
            by_reason[kinds[kind]] = by_reason.get(kinds[kind], 0) + n
        assert f["rejected_by_reason"] == by_reason
    assert flow["participants"]["observed"] == expected["observed"]


def test_no_identifier_reaches_processed_or_reports(run):
    roster = pd.read_csv(run["dir"] / run["config"]["participants"]["path"], dtype=str)
    raw_ids = set(roster[run["config"]["participants"]["id"]])
    emails = set(roster["email"]) if "email" in roster else set()
    for folder in ("data/processed", "reports"):
        for path in (run["dir"] / folder).rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                tokens = set(text.replace(",", " ").replace('"', " ").split())
                assert not (tokens & raw_ids), path
                assert not any(e in text for e in emails), path


def test_report_is_written_and_self_contained(run):
    html = (run["dir"] / "reports" / "small" / "report.html").read_text(encoding="utf-8")
    assert run["config"]["title"] in html or "Balint" in html
    assert "<svg" in html
    assert 'src="http' not in html and "href=\"http" not in html
    # Multiple imputation ran (few imputations here; test_docs runs the demo's default M = 50)
    # and the report words its tipping point.
    pooled = pd.read_csv(processed(run, "missing_data.csv"))
    mar = pooled[pooled["scenario"] == "mar"]
    assert len(mar) and (mar["m"] == FEW_IMPUTATIONS["imputations"]).all()
    assert mar["estimate"].notna().all()
    assert set(pooled["scenario"]) >= {"mar", "delta_balint", "delta_both"}
    assert len(pd.read_csv(processed(run, "tipping.csv")))
    section = html.split('id="dropout-h"', 1)[1].split("</section>", 1)[0]
    assert "participants who left the balint groups" in section.lower()


def test_noop_rerun_and_targeted_rerun(run):
    proc = snakemake(run["dir"], "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr
    cfg_path = run["dir"] / "config" / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["analysis"]["alpha"] = 0.10
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        dry = snakemake(run["dir"], "-n", "--quiet", "rules")
        out = dry.stdout + dry.stderr
        jobs = {m.group(1) for m in re.finditer(r"^(\w+)\s+\d+\s*$", out, flags=re.M)}
        assert jobs - {"total"} == {"all", "model", "missing_chunk", "missing_gather",
                                    "report"}, out  # fmt: skip
    finally:
        cfg_path.write_text(yaml.safe_dump(run["config"], sort_keys=False))


def test_same_inputs_give_byte_identical_outputs(run, tmp_path):
    before = {p.name: p.read_bytes() for p in processed(run, "").iterdir() if p.is_file()}
    proc = snakemake(run["dir"], "--cores", "2", "--forceall")
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = {p.name: p.read_bytes() for p in processed(run, "").iterdir() if p.is_file()}
    assert before.keys() == after.keys()
    for name in before:
        assert before[name] == after[name], name


def test_unusable_input_gives_one_clear_line(tmp_path):
    simulate(tmp_path, "small", 5, "broken")
    cfg_path = tmp_path / "config" / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["exports"][0]["id"] = "NoSuchColumn"
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(tmp_path, "--cores", "1")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "no column 'NoSuchColumn'" in proc.stderr
    assert config["exports"][0]["path"] in proc.stderr


def test_invalid_config_names_the_key(tmp_path):
    simulate(tmp_path, "small", 5, "badcfg")
    cfg_path = tmp_path / "config" / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text())
    config["analysis"]["alpha"] = 2
    cfg_path.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = snakemake(tmp_path, "--cores", "1", "-n")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert ("config key 'analysis.alpha': 2 is outside the allowed range: give a number >= "
            "1e-06 and <= 0.5") in out
    assert "Traceback" not in out


def test_lint_and_format_pass():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO,
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = subprocess.run([str(Path(sys.executable).parent / "snakefmt"), "--check", "workflow"],
                         cwd=REPO, capture_output=True, text=True, check=False)  # fmt: skip
    assert fmt.returncode == 0, fmt.stderr


def test_model_stage_reads_fuzzy_links_from_flow_and_responses(run, tmp_path):
    """Tolerant code matching in flow.json: the model stage refits without the linked answers."""
    from balint_analysis.config import load_config
    from balint_analysis.pipeline import model_stage

    src = processed(run, "")
    flow = json.loads((src / "flow.json").read_text())
    responses = pd.read_csv(src / "responses.csv", usecols=["participant", "timepoint", "source",
                                                             "row"])  # fmt: skip
    later = responses[responses["timepoint"] != "pre"].head(3)
    flow["code_matching"] = {"method": "tolerant", "fuzzy_matches": [
        {"source": s, "row": int(r), "timepoint": t, "distance": 1, "edit": "substitution"}
        for s, r, t in zip(later["source"], later["row"], later["timepoint"], strict=True)]}
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    inp = {name: str(src / f"{name}.csv") for name in ("scores", "participants", "reliability",
                                                        "responses")}  # fmt: skip
    inp["flow"] = str(tmp_path / "flow.json")
    out = {name: str(tmp_path / f"{name}.csv") for name in (
        "effects", "emmeans", "sensitivity", "clinical", "cutoffs", "dose")}
    out["models"] = str(tmp_path / "models.json")
    model_stage(load_config(run["config"]), inp, out)
    sens = pd.read_csv(out["sensitivity"])
    linked = sens[sens["analysis"] == "lmm_without_fuzzy_links"]
    assert len(linked) == len(sens[sens["analysis"] == "primary_lmm"])
    assert set(linked["note"]) <= {f"{k} fuzzily linked answers left out" for k in (1, 2, 3)}
    assert linked["converged"].all()
