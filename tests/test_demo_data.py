"""The committed demo cohort is exactly what the generator writes for the documented seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from balint_analysis.simulate import SimulatedCohort, simulate_cohort, write_cohort, write_config

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "raw" / "demo"
CONFIG = REPO / "config" / "config.yaml"
REGENERATE = (
    ".venv/bin/python -m balint_analysis.cli simulate --preset demo --seed 20261125 "
    "--out data/raw/demo"
)


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def regenerated(config, tmp_path_factory) -> tuple[Path, SimulatedCohort]:
    synthetic = config["synthetic"]
    cohort = simulate_cohort(preset=synthetic["preset"], seed=synthetic["seed"])
    out = tmp_path_factory.mktemp("demo")
    write_cohort(cohort, out)
    return out, cohort


def test_config_documents_the_demo_seed(config):
    assert config["synthetic"] == {"seed": 20261125, "preset": "demo"}


def test_committed_demo_files_are_byte_identical_to_a_regeneration(regenerated):
    out, _ = regenerated
    committed = sorted(p.name for p in DEMO.iterdir() if p.is_file())
    fresh = sorted(p.name for p in out.iterdir())
    assert (
        committed
        == fresh
        == sorted(
            [
                "participants.csv",
                "pre_qualtrics.csv",
                "post_redcap.csv",
                "followup_limesurvey.csv",
                "truth.json",
                "truth_scores.csv",
            ]
        )
    )
    for name in committed:
        assert (DEMO / name).read_bytes() == (out / name).read_bytes(), (
            f"data/raw/demo/{name} differs from the generator's output; regenerate with "
            f"`{REGENERATE}`"
        )


def test_config_yaml_analyses_the_committed_files(config, regenerated, tmp_path):
    _, cohort = regenerated
    path = write_config(cohort, "data/raw/demo", tmp_path / "demo.yaml",
                        cohort_name=config["cohort"], title=config["title"])  # fmt: skip
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key in ("cohort", "title", "synthetic", "design", "participants", "exports",
                "instruments"):  # fmt: skip
        assert written[key] == config[key], key
    assert written["analysis"]["primary"] == config["analysis"]["primary"]
    for entry in [config["participants"], *config["exports"]]:
        assert (REPO / entry["path"]).is_file()


def test_demo_exercises_three_platforms_one_per_wave(config):
    """Issue 4 acceptance: the demo cohort exercises at least three export formats."""
    waves = {e["format"]: e.get("timepoint") or sorted(set(e["timepoint_values"].values()))
             for e in config["exports"]}  # fmt: skip
    assert waves == {"qualtrics": "pre", "redcap": ["post"], "limesurvey": "followup"}
    lime = next(e for e in config["exports"] if e["format"] == "limesurvey")
    assert lime["id"] == "PCODE" and lime["instruments"]["mbi_hss"] == "MBI[SQ{i:03d}]"


def test_committed_truth_describes_the_committed_exports():
    truth = json.loads((DEMO / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 20261125 and truth["preset"] == "demo"
    assert truth["design"]["n_per_arm"] == {"balint": 60, "control": 60}
    assert len(truth["design"]["balint_groups"]) == 6
    kinds = sorted(p["kind"] for p in truth["problems"])
    assert kinds == sorted(
        [
            "preview",
            "preview",
            "unfinished",
            "duplicate_submission",
            "out_of_range",
            "text_in_numeric",
            "incomplete_form",
            "unknown_participant",
            "unmapped_event",
            "out_of_range",
            "not_submitted",
            "out_of_range",
        ]
    )
    lines = {name: (DEMO / name).read_text(encoding="utf-8-sig") for name in truth["files"]}
    for p in truth["problems"]:
        # the row numbers count records, not physical lines: still, the value is in the file
        assert p["value"] in lines[p["file"]]
