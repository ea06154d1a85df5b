"""Categorical covariates (``analysis.covariate_levels``): config, validation, processed data,
dummy coding and a whole run.

The model numbers themselves are checked against R (lme4/lmerTest/emmeans) in
``tests/test_models_reference.py`` (cases ``categorical_*``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import exports_factory as xf
import numpy as np
import pandas as pd
import pytest
import yaml
from project_helpers import DEMO_CONFIG, FEW_IMPUTATIONS, copy_repository

from balint_analysis.config import load_config
from balint_analysis.errors import InputError
from balint_analysis.models.design import dummy_code
from balint_analysis.models.inputs import prepare_inputs
from balint_analysis.pipeline import read_inputs
from balint_analysis.privacy import pseudonymise
from balint_analysis.validate import validate
from balint_analysis.validate.covariates import UNDECLARED_LEVEL

LEVELS = {"gender": ["female", "male", "diverse"]}
PEOPLE = ["P1", "P2", "P3", "P4", "P5", "P6"]


def _cohort(tmp_path, values: list[str], levels: dict | None = LEVELS) -> dict:
    """Two waves of PSS answers and a roster with a ``gender`` column holding ``values``."""
    csv = xf.table(["code", *xf.PSS], [{"code": c, **xf.items(2)} for c in PEOPLE])
    config = xf.cohort(tmp_path, [("pre.csv", csv, {"timepoint": "pre", "id": "code"}),
                                  ("post.csv", csv, {"timepoint": "post", "id": "code"})])
    roster = tmp_path / "raw" / "participants.csv"
    lines = roster.read_text().splitlines()
    lines[0] += ",gender"
    lines[1:] = [f"{line},{v}" for line, v in zip(lines[1:], values, strict=True)]
    roster.write_text("\n".join(lines) + "\n")
    config["analysis"]["covariates"] = ["gender"]
    if levels is not None:
        config["analysis"]["covariate_levels"] = levels
    return config


def test_levels_of_a_covariate_not_listed_are_refused_at_config_load(tmp_path):
    config = _cohort(tmp_path, ["female"] * 6)
    config["analysis"]["covariates"] = []
    with pytest.raises(InputError) as err:
        load_config(config)
    assert str(err.value) == (
        "config: analysis.covariate_levels declares levels of 'gender', which is not listed in "
        "analysis.covariates; add it there or remove its levels.")


def test_levels_equal_but_for_case_are_refused_at_config_load(tmp_path):
    config = _cohort(tmp_path, ["female"] * 6, levels={"gender": ["female", "Female"]})
    with pytest.raises(InputError, match=r"the levels of 'gender' must be distinct"):
        load_config(config)


def test_an_undeclared_text_covariate_stops_with_one_line_asking_for_its_levels(tmp_path):
    config = _cohort(tmp_path, ["female", "male", "female", "male", "female", "male"],
                     levels=None)
    cfg = load_config(config)
    responses, roster, info = read_inputs(cfg)
    with pytest.raises(InputError) as err:
        validate(responses, roster, cfg, info)
    message = str(err.value)
    assert "\n" not in message
    assert message.endswith(
        "participants.csv: covariate 'gender' holds text (6 of 6 values are not numbers) but has "
        "no declared levels. Declare them under analysis.covariate_levels (e.g. gender: "
        "[level1, level2], the first is the reference), recode it as numbers, or remove it "
        "from analysis.covariates.")
    assert "female" not in message and "male" not in message.replace("(e.g.", "")


def test_roster_values_become_declared_labels_and_others_missing_without_echo(tmp_path):
    values = ["Female", " male ", "diverse", "Anna Kowalska", "", "FEMALE"]
    config = _cohort(tmp_path, values)
    cfg = load_config(config)
    responses, roster, info = read_inputs(cfg)
    checked = validate(responses, roster, cfg, info)
    labels = checked.roster.set_index("participant_id")["gender"]
    assert labels.astype(object).where(labels.notna(), None).to_dict() == {
        "P1": "female", "P2": "male", "P3": "diverse", "P4": None, "P5": None, "P6": "female"}
    rejected = checked.rejected[checked.rejected["column"] == "gender"]
    assert rejected[["row", "reason", "value"]].values.tolist() == [[5, UNDECLARED_LEVEL, ""]]
    assert "Anna" not in checked.rejected.to_csv()
    # Nothing else of the roster row is lost: the participant stays, with the value missing.
    assert len(checked.roster) == 6


def test_processed_participants_hold_only_declared_labels():
    roster = pd.DataFrame({"participant_id": ["A", "B", "C"], "group": ["balint"] * 3,
                           "cluster": ["", "", ""], "sessions": ["1", "2", "3"],
                           "gender": ["male", "Kowalski", pd.NA], "age": ["40", "x", "50"]})
    valid = pd.DataFrame({"participant_id": ["A"], "timepoint": ["pre"], "group": ["balint"],
                          "source": ["f.csv"], "row": [2]})
    _, people = pseudonymise(valid, roster, key=b"k" * 32, covariates=["gender", "age"],
                             covariate_levels=LEVELS)
    assert sorted(people["gender"].dropna()) == ["male"]
    assert people["gender"].isna().sum() == 2
    assert sorted(people["age"].dropna()) == [40.0, 50.0]


def test_dummy_coding_uses_the_first_observed_declared_level_as_reference():
    frame = pd.DataFrame({"gender": ["male", "diverse", "male", "diverse"], "age": [1, 2, 3, 4]})
    coded, terms, formula = dummy_code(frame, ["age", "gender"], LEVELS)
    # "female" is declared first but not observed: R drops unused levels, so "male" is the
    # reference and only "diverse" gets a column.
    assert terms == ("age", "gender[diverse]")
    assert formula == ("age", "C(gender, Treatment('male'))")
    assert coded["gender[diverse]"].tolist() == [0.0, 1.0, 0.0, 1.0]
    coded, terms, _ = dummy_code(frame.assign(gender=["female", "male", "diverse", "male"]),
                                 ["gender"], LEVELS)
    assert terms == ("gender[male]", "gender[diverse]")
    assert coded[list(terms)].to_numpy().tolist() == [[0, 0], [1, 0], [0, 1], [1, 0]]


def test_model_inputs_refuse_an_undeclared_label_without_naming_it():
    scores = pd.DataFrame({"participant": ["a", "b"], "group": ["balint", "control"],
                           "timepoint": ["pre", "pre"], "instrument": ["x", "x"],
                           "scale": ["s", "s"], "score": [1.0, 2.0]})
    people = pd.DataFrame({"participant": ["a", "b"], "gender": ["female", "Nowak"]})
    with pytest.raises(ValueError) as err:
        prepare_inputs(scores, people, ["pre", "post"], "balint", "control", ["gender"],
                       LEVELS)
    assert str(err.value) == ("covariate 'gender' has 1 values that are not among its declared "
                              "levels")


@pytest.mark.e2e
def test_a_cohort_with_a_categorical_covariate_runs_through(tmp_path):
    """The demo cohort with gender (female/male/diverse in its roster) as a covariate."""
    work = copy_repository(tmp_path)
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["analysis"]["covariates"] = ["age", "gender"]
    config["analysis"]["covariate_levels"] = {"gender": ["female", "male", "diverse"]}
    config["missing_data"] = FEW_IMPUTATIONS
    path = work / "config" / "categorical.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile",
                           str(path)], cwd=work, capture_output=True, text=True, env=env,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    processed = work / "data" / "processed" / "demo"
    people = pd.read_csv(processed / "participants.csv")
    assert set(people["gender"].dropna()) == {"female", "male", "diverse"}
    effects = pd.read_csv(processed / "effects.csv")
    primary = effects[effects["role"] == "primary"]
    assert len(primary) == 2 and np.isfinite(primary["estimate"]).all()
    assert primary["converged"].all()
    models = json.loads((processed / "models.json").read_text())
    (outcome,) = [o for o in models["outcomes"]
                  if f"{o['instrument']}.{o['scale']}" == config["analysis"]["primary"]]
    assert "+ age + C(gender, Treatment('female')) +" in outcome["formula"]
    terms = {fe["term"] for fe in outcome["fixed_effects"]}
    assert {"gender[male]", "gender[diverse]"} <= terms
    assert models["settings"]["covariate_levels"] == {"gender": ["female", "male", "diverse"]}
    report = (work / "reports" / "demo" / "report.html").read_text(encoding="utf-8")
    assert ("at its average and every categorical covariate in its observed proportions."
            in report)


def test_levels_written_as_numbers_match_beside_a_blank_cell(tmp_path):
    """Declared levels "1", "2" and a participant without a value: read as text, they match
    (read as numbers they became "1.0", "2.0" and the model stage stopped)."""
    from balint_analysis.models.inputs import prepare_inputs
    from balint_analysis.pipeline import read_participants

    path = tmp_path / "participants.csv"
    path.write_text("participant,group,cluster,sessions,site\np1,balint,G1,,1\n"
                    "p2,control,,,2\np3,balint,G1,,\n")  # fmt: skip
    people = read_participants(path, {"site": ("1", "2")})
    assert people["site"].tolist()[:2] == ["1", "2"] and people["site"].isna().tolist()[2]
    scores = pd.DataFrame({"participant": ["p1", "p2", "p3"], "group": ["balint", "control",
                           "balint"], "timepoint": "pre", "score": [1.0, 2.0, 3.0],
                           "instrument": "m", "scale": "e"})  # fmt: skip
    prepare_inputs(scores, people, ["pre", "post"], "balint", "control", ["site"],
                   {"site": ("1", "2")})  # fmt: skip
