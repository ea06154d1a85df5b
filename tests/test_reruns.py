"""A config change re-runs exactly what reads it: every documented key, checked by dry run.

After one real run of the demo in a copy of the repository, each key documented in
``config/README.md`` is changed (a valid change; the data need not fit it, since a dry run
only plans) in a copy of the config given with ``--configfile``, and Snakemake's dry run must
plan exactly the jobs :func:`balint_analysis.stages.jobs_for_key` declares.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from project_helpers import REPO, copy_repository, documented_keys, use_few_imputations

from balint_analysis.config_schema import apply_defaults, check_schema, load_schema
from balint_analysis.stages import (
    STAGE_KEYS,
    first_stages,
    jobs_for_key,
    stage_config,
    with_downstream,
)

pytestmark = pytest.mark.e2e

def snakemake(workdir: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "BALINT_ID_KEY"}
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=workdir,
                          capture_output=True, text=True, check=False,
                          env={**base, **(env or {})})  # fmt: skip


def planned_jobs(output: str) -> set[str]:
    """Rule names of the ``Job stats`` table of a dry run (``all`` and ``power`` left out)."""
    if "Nothing to be done" in output:
        return set()
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    rules = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    return rules - {"all", "power"}


def _export(cfg: dict, fmt: str) -> dict:
    return next(e for e in cfg["exports"] if e.get("format") == fmt)


def _drop_instrument(cfg: dict, instrument: str) -> None:
    cfg["instruments"].pop(instrument)
    for export in cfg["exports"]:
        export.get("instruments", {}).pop(instrument, None)


# key -> a valid change of the demo config (the data need not fit it: a dry run only plans).
MUTATIONS: dict[str, Callable[[dict], None]] = {
    "cohort": lambda c: c.update(cohort="demo_renamed"),
    "title": lambda c: c.update(title=c["title"] + " (2)"),
    "synthetic": lambda c: c.pop("synthetic"),
    "design": lambda c: c["design"].update(randomised=True),
    "participants": lambda c: c["participants"].update(sessions="sessions_planned"),
    "exports": lambda c: _export(c, "qualtrics").update(test_ids=["TEST"]),
    "instruments": lambda c: _drop_instrument(c, "who5"),
    "instrument_definitions": lambda c: c.update(instrument_definitions=["config/extra.yaml"]),
    "analysis": lambda c: c["analysis"].update(alpha=0.1),
    "validation": lambda c: c.update(validation={"code_matching": {"method": "tolerant"}}),
    "privacy": lambda c: c["privacy"].update(key_env="BALINT_OTHER_KEY"),
    "design.timepoints": lambda c: c["design"].update(timepoints=["pre", "post", "followup",
                                                                  "followup2"]),
    "design.intervention": lambda c: c["design"].update(intervention="Balint"),
    "design.control": lambda c: c["design"].update(control="comparison"),
    "design.randomised": lambda c: c["design"].update(randomised=True),
    "participants.path": lambda c: c["participants"].update(path="data/raw/demo/roster2.csv"),
    "participants.id": lambda c: c["participants"].update(id="pid"),
    "participants.group": lambda c: c["participants"].update(group="arm"),
    "participants.cluster": lambda c: c["participants"].pop("cluster"),
    "participants.sessions": lambda c: c["participants"].update(sessions="n_sessions"),
    "participants.encoding": lambda c: c["participants"].update(encoding="utf-8"),
    "participants.delimiter": lambda c: c["participants"].update(delimiter=","),
    "participants.decimal": lambda c: c["participants"].update(decimal="."),
    "participants.sheet": lambda c: c["participants"].update(sheet=0),
    "exports[].path": lambda c: _export(c, "qualtrics").update(path="data/raw/demo/pre2.csv"),
    "exports[].id": lambda c: _export(c, "qualtrics").update(id="ResponseId"),
    "exports[].format": lambda c: _export(c, "qualtrics").update(format="auto"),
    "exports[].timepoint": lambda c: _export(c, "qualtrics").update(timepoint="post"),
    "exports[].timepoint_column": lambda c: _export(c, "redcap").update(
        timepoint_column="event"),
    "exports[].timepoint_values": lambda c: _export(c, "redcap")["timepoint_values"].update(
        screening_arm_1="pre"),
    "exports[].group_column": lambda c: _export(c, "qualtrics").update(group_column="Q9"),
    "exports[].encoding": lambda c: _export(c, "limesurvey").update(encoding="utf-8-sig"),
    "exports[].delimiter": lambda c: _export(c, "limesurvey").update(delimiter=","),
    "exports[].decimal": lambda c: _export(c, "limesurvey").update(decimal="."),
    "exports[].sheet": lambda c: _export(c, "limesurvey").update(sheet=0),
    "exports[].test_ids": lambda c: _export(c, "redcap").update(test_ids=[999]),
    "exports[].answer_codes": lambda c: _export(c, "limesurvey").update(answer_codes="position"),
    "exports[].dictionary": lambda c: _export(c, "redcap").update(
        dictionary="data/raw/demo/dictionary.csv"),
    "exports[].forms": lambda c: _export(c, "redcap").update(forms={"pss10": "burnout_survey"}),
    "exports[].instruments": lambda c: _export(c, "redcap")["instruments"].update(
        who5={str(i): f"who5_{i}" for i in range(1, 6)}),
    "analysis.primary": lambda c: c["analysis"].update(primary="mbi_hss.depersonalization"),
    "analysis.primary_timepoint": lambda c: c["analysis"].update(primary_timepoint="followup"),
    "analysis.covariates": lambda c: c["analysis"].update(covariates=["age"]),
    "analysis.covariate_levels": lambda c: c["analysis"].update(
        covariates=["age", "gender"], covariate_levels={"gender": ["female", "male", "diverse"]}),
    "analysis.alpha": lambda c: c["analysis"].update(alpha=0.1),
    "analysis.min_cell_size": lambda c: c["analysis"].update(min_cell_size=10),
    "analysis.strict": lambda c: c["analysis"].update(strict=True),
    "validation.code_matching.method": lambda c: c.update(
        validation={"code_matching": {"method": "tolerant"}}),
    "validation.code_matching.pattern": lambda c: c.update(
        validation={"code_matching": {"pattern": "^P[0-9]+$"}}),
    "validation.code_matching.max_distance": lambda c: c.update(
        validation={"code_matching": {"max_distance": 2}}),
    "validation.careless.longstring_share": lambda c: c.update(
        validation={"careless": {"longstring_share": 0.8}}),
    "validation.careless.min_seconds_per_item": lambda c: c.update(
        validation={"careless": {"min_seconds_per_item": 1}}),
    "privacy.key_env": lambda c: c["privacy"].update(key_env="BALINT_OTHER_KEY"),
    "privacy.allow_demo_key": lambda c: c["privacy"].update(allow_demo_key=False),
    "privacy.rotated_key_fingerprint": lambda c: c["privacy"].update(
        rotated_key_fingerprint="0123456789abcdef"),
    "missing_data.imputations": lambda c: c.setdefault("missing_data", {}).update(imputations=20),
    "missing_data.chunk_size": lambda c: c.setdefault("missing_data", {}).update(chunk_size=7),
    "missing_data.seed": lambda c: c.setdefault("missing_data", {}).update(seed=2),
    "missing_data.max_delta_sd": lambda c: c.setdefault("missing_data", {}).update(
        max_delta_sd=0.8),
    "missing_data.n_deltas": lambda c: c.setdefault("missing_data", {}).update(n_deltas=11),
    "missing_data.plausible_delta_sd": lambda c: c.setdefault("missing_data", {}).update(
        plausible_delta_sd=0.3),
    "missing_data.refit_outcomes": lambda c: c.setdefault("missing_data", {}).update(
        refit_outcomes="all"),
    "power.replicates": lambda c: c["power"].update(replicates=3),
    "power.chunk_size": lambda c: c["power"].update(chunk_size=1),
    "power.seed": lambda c: c["power"].update(seed=2),
    "power.alpha": lambda c: c["power"].update(alpha=0.1),
    "power.grid.n_per_arm": lambda c: c["power"]["grid"].update(n_per_arm=[21]),
    "power.grid.group_size": lambda c: c["power"]["grid"].update(group_size=[9]),
    "power.grid.effect_d": lambda c: c["power"]["grid"].update(effect_d=[0.4]),
    "power.grid.icc": lambda c: c["power"]["grid"].update(icc=[0.06]),
    "power.grid.attrition": lambda c: c["power"]["grid"].update(attrition=[0.2]),
    "power.grid.timepoints": lambda c: c["power"]["grid"].update(timepoints=[3]),
    "power.grid.prepost_r": lambda c: c["power"]["grid"].update(prepost_r=[0.5]),
    "power.grid.attrition_mechanism": lambda c: c["power"]["grid"].update(
        attrition_mechanism=["MCAR", "MNAR"]),
    "power.mar_odds_ratio": lambda c: c["power"].update(mar_odds_ratio=3.0),
    "power.mnar_delta": lambda c: c["power"].update(mnar_delta=0.25),
    "power.mechanism_panel.mechanisms": lambda c: c["power"].update(
        mechanism_panel={"mechanisms": ["MCAR", "MAR"]}),
    "power.mechanism_panel.n_per_arm": lambda c: c["power"].update(
        mechanism_panel={"n_per_arm": 30}),
    "power.mechanism_panel.effect_d": lambda c: c["power"].update(
        mechanism_panel={"effect_d": 0.5}),
}  # fmt: skip
# Whole-section keys of the top-level table: their example change reads a key of this stage.
SECTION_EXAMPLE = {"design": "design.randomised", "participants": "participants.sessions",
                   "exports": "exports[].test_ids", "instruments": "instruments",
                   "analysis": "analysis.alpha", "validation": "validation.code_matching.method",
                   "privacy": "privacy.key_env"}  # fmt: skip
TINY_POWER = {"replicates": 2, "chunk_size": 2, "seed": 1,
              "grid": {"n_per_arm": [20], "group_size": [10], "effect_d": [0.3], "icc": [0.05],
                       "attrition": [0.15], "timepoints": [2], "prepost_r": [0.6]}}  # fmt: skip
# Few imputations in two chunk jobs: what reruns does not depend on M (50 would cost ~10 s CPU).
TWO_IMPUTATION_CHUNKS = {"imputations": 4, "chunk_size": 2}
# Keys whose change Snakemake itself plans (a dry run each): every distinct set of re-run jobs,
# and every way a key reaches a job besides its params: input files (roster, exports, custom
# instrument definitions), output paths (cohort), the number of chunk jobs, the power target.
DRY_RUN_KEYS = ("title", "synthetic", "cohort", "instrument_definitions", "participants.path",
                "exports[].path", "privacy.key_env", "analysis.primary",
                "analysis.primary_timepoint", "analysis.alpha", "missing_data.chunk_size",
                "power.chunk_size", "power.seed")  # fmt: skip
STAGE_RULES = Path("workflow/rules")


def base_config() -> dict:
    """The demo's config with a tiny power grid and few imputations (the runs' config)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    return config | {"power": TINY_POWER, "missing_data": TWO_IMPUTATION_CHUNKS}


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Path, dict]:
    work = copy_repository(tmp_path_factory.mktemp("reruns"))
    config = base_config()
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    for src, dst in (("pre_qualtrics.csv", "pre2.csv"), ("participants.csv", "roster2.csv"),
                     ("post_redcap.csv", "dictionary.csv")):
        shutil.copy(work / "data/raw/demo" / src, work / "data/raw/demo" / dst)
    shutil.copy(REPO / "src/balint_analysis/instruments/pss4.yaml", work / "config/extra.yaml")
    for target in ("all", "power"):
        proc = snakemake(work, target, "--cores", "2")
        assert proc.returncode == 0, proc.stderr[-3000:]
    return work, config


def dry_run(work: Path, config: dict, name: str, target: str, env=None) -> set[str]:
    path = work / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = snakemake(work, target, "-n", "--cores", "2", "--configfile", str(path), env=env)
    assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
    return planned_jobs(proc.stdout + proc.stderr)


def changed(config: dict, key: str) -> dict:
    out = copy.deepcopy(config)
    MUTATIONS[key](out)
    return out


def test_every_documented_key_has_a_change():
    keys = documented_keys()
    assert len(keys) >= 50  # the README's tables were parsed
    assert sorted(set(keys) - set(MUTATIONS)) == []
    assert set(DRY_RUN_KEYS) <= set(keys)


def test_every_rule_gets_exactly_its_stage_keys_as_params():
    """The mechanism the in-process check below relies on: each stage's rule has the stage's
    own keys (and nothing else of the config) as its one ``config`` param."""
    wired = {}
    for smk in ("prepare", "model", "report", "missing", "power"):
        text = (REPO / STAGE_RULES / f"{smk}.smk").read_text(encoding="utf-8")
        for rule, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", text, re.S | re.M):
            wired[rule] = re.findall(r"stage_config\(config, \"(\w+)\"\)", body)
            assert "config[" not in body and "config.get" not in body, rule
    wired.pop("power")  # the target only collects power_gather's outputs
    assert wired == {stage: [stage] for stage in STAGE_KEYS}


def test_unchanged_config_plans_nothing(ran):
    work, config = ran
    assert dry_run(work, config, "same", "all") == set()
    assert dry_run(work, config, "same_power", "power") == set()


def test_each_key_change_changes_exactly_the_params_of_its_stages():
    """Every documented key, in process: its change is a valid config that alters the params
    (:func:`stage_config`) of exactly the stages :func:`jobs_for_key` names first."""
    schema = load_schema()
    before = apply_defaults(base_config(), schema)
    wrong = {}
    for key in documented_keys():
        after_raw = changed(base_config(), key)
        check_schema(after_raw)
        after = apply_defaults(after_raw, schema)
        differ = {s for s in STAGE_KEYS if stage_config(before, s) != stage_config(after, s)}
        want = jobs_for_key(SECTION_EXAMPLE.get(key, key))
        if with_downstream(differ) != want:
            wrong[key] = (sorted(with_downstream(differ)), sorted(want))
    assert wrong == {}


def test_each_kind_of_key_change_reruns_exactly_its_stages(ran):
    """Snakemake's own plan for representative keys (DRY_RUN_KEYS): all stages and all ways a
    key reaches a job. The test above covers every other key through the same params."""
    work, config = ran
    assert set().union(*(first_stages(SECTION_EXAMPLE.get(k, k)) for k in DRY_RUN_KEYS)) == set(
        STAGE_KEYS)  # every stage's rule is planned by a key it reads itself

    def plan(key: str) -> tuple[str, set[str], set[str]]:
        name = re.sub(r"\W+", "_", key)
        example = SECTION_EXAMPLE.get(key, key)
        planned = dry_run(work, changed(config, key), name, "all")
        if example.startswith("power") or example in ("analysis.alpha", "title"):
            planned |= dry_run(work, changed(config, key), name + "_power", "power")
        return key, planned, jobs_for_key(example)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(plan, DRY_RUN_KEYS))
    wrong = {key: (sorted(got), sorted(want)) for key, got, want in results if got != want}
    assert wrong == {}


def test_a_new_pseudonymisation_key_reruns_prepare(ran):
    work, config = ran
    env = {"BALINT_ID_KEY": "a-new-and-long-secret-key-for-this-test"}
    path = work / "config" / "config.yaml"
    proc = snakemake(work, "-n", "--cores", "2", "--configfile", str(path), env=env)
    assert planned_jobs(proc.stdout + proc.stderr) == {"prepare", "model", "missing_chunk",
                                                       "missing_gather", "report"}  # fmt: skip
    # The key itself never appears in what Snakemake stores or prints.
    assert env["BALINT_ID_KEY"] not in proc.stdout + proc.stderr


def test_the_report_says_when_the_pseudonyms_changed(tmp_path):
    """Real runs with two keys: the second key stops the run until the config declares it,
    then the cohort is pseudonymised again and the report says so."""
    import json

    from balint_analysis.identifiers import key_fingerprint

    work = copy_repository(tmp_path)
    use_few_imputations(work / "config" / "config.yaml")
    first = {"BALINT_ID_KEY": "the-first-long-secret-key-0123456789"}
    second = {"BALINT_ID_KEY": "the-second-long-secret-key-9876543210"}
    assert snakemake(work, "--cores", "2", env=first).returncode == 0
    pseudo = work / "data/processed/demo/pseudonymisation.json"
    before = json.loads(pseudo.read_text())
    assert before["pseudonyms_changed"] is False
    assert before["key_fingerprint"] == key_fingerprint(first["BALINT_ID_KEY"].encode())
    scores_before = (work / "data/processed/demo/scores.csv").read_text()
    report = work / "reports/demo/report.html"
    assert "pseudonyms changed" not in report.read_text(encoding="utf-8")
    # A weak key stops the workflow itself (not only `balint-analysis run`) with one line.
    proc = snakemake(work, "--cores", "2", env={"BALINT_ID_KEY": "x"})
    assert proc.returncode != 0
    assert ("privacy: the key in environment variable BALINT_ID_KEY is shorter than 32 bytes"
            in proc.stderr and "Traceback" not in proc.stderr)  # fmt: skip
    new_fingerprint = key_fingerprint(second["BALINT_ID_KEY"].encode())
    proc = snakemake(work, "--cores", "2", env=second)
    assert proc.returncode != 0
    assert (f"privacy: the key in BALINT_ID_KEY (fingerprint {new_fingerprint}) is not the key "
            "this cohort was pseudonymised with") in proc.stderr  # fmt: skip
    assert "Traceback" not in proc.stderr
    history = work / "data/interim/demo/key_history.json"
    assert json.loads(history.read_text()) == {"fingerprints": [before["key_fingerprint"]]}
    path = work / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["privacy"]["rotated_key_fingerprint"] = new_fingerprint
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    proc = snakemake(work, "--cores", "2", env=second)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(history.read_text()) == {
        "fingerprints": [before["key_fingerprint"], new_fingerprint]}
    after = json.loads(pseudo.read_text())
    assert after["pseudonyms_changed"] is True
    assert after["previous_key_fingerprint"] == before["key_fingerprint"]
    assert (work / "data/processed/demo/scores.csv").read_text() != scores_before
    html = (work / "reports/demo/report.html").read_text(encoding="utf-8")
    assert "The pseudonyms changed:" in html and before["key_fingerprint"] in html
    for key in (first, second):  # no key in any output, log or Snakemake's metadata
        for path in work.rglob("*"):
            if path.is_file() and ".venv" not in path.parts and path.suffix != ".py":
                assert key["BALINT_ID_KEY"].encode() not in path.read_bytes(), path
