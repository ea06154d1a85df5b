"""Nothing personal leaves ingest: a corpus seeded with personal data, and a scan of every output.

Exports of three platforms (Qualtrics CSV, REDCap with events, an Excel workbook) and a roster
carry names, initials, phone numbers, e-mails and dates of birth in every kind of column: item
cells, the timepoint (event) column, the group and cluster columns, a covariate, free-text
comments, identifier columns and the participant-code column itself. ``balint-analysis check``
and the whole workflow (``snakemake``, as the README documents) run on it in a copy of the
repository; no seeded value and no raw participant code may appear in ``data/processed/``,
``data/interim/``, ``reports/``, ``logs/``, ``.snakemake/`` or the terminal output. The rule
itself (:func:`balint_analysis.privacy.shown_value`) and the messages that used to print file
content are tested on their own first.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import subprocess
from pathlib import Path

import exports_factory as xf
import pandas as pd
import pytest
import yaml
from project_helpers import DEMO_CONFIG, FEW_IMPUTATIONS, copy_repository

from balint_analysis.config_schema import check_schema, read_yaml
from balint_analysis.errors import InputError
from balint_analysis.instruments import load_file
from balint_analysis.privacy import WITHHELD, shown_value

#: What a participant or a coordinator may type where it does not belong.
SEEDS = {
    "name": "Anna",
    "short name": "Ewa",
    "initials": "ZK",
    "phone": "48600100200",
    "e-mail": "zofia.kwiatkowska@example.pl",
    "date of birth": "1987-03-14",
    "dotted date of birth": "14.03.1987",
    "numeric date of birth": "19870314",
    "surname": "Kwiatkowska",
    "full name": "Zofia Kwiatkowska",
    "leader": "Zawadzka",
}
CODES = [f"KQ-{1000 + i}" for i in range(1, 25)]  # the raw participant codes
#: Codes that are themselves personal data (a name, initials with a birth date).
CODE_SEEDS = ["ZK-14.03.1987", "Anna Kwiatkowska"]


# ----------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("value", "options", "shown"),
    [
        ("3", {"answer_range": (0, 4)}, "3"),
        ("5", {"answer_range": (0, 4)}, "5"),  # just outside: a slip, shown
        (8.0, {"answer_range": (0, 4)}, "8"),  # the range's width beyond its top
        ("13", {"answer_range": (0, 4)}, f"{WITHHELD}number, 2 digits)"),
        ("9", {"answer_range": (0, 4)}, "9"),  # one character identifies nobody
        ("-99", {"answer_range": (0, 4)}, f"{WITHHELD}negative number, 2 digits)"),
        ("48600100200", {"answer_range": (0, 4)}, f"{WITHHELD}number, 11 digits)"),
        (48600100200.0, {"answer_range": (0, 4)}, f"{WITHHELD}number, 11 digits)"),
        ("1987", {"answer_range": (0, 2000)}, f"{WITHHELD}number, 4 digits)"),  # > 3 digits
        ("33", {}, f"{WITHHELD}number, 2 digits)"),  # no range: a number is not an answer
        ("Anna", {}, f"{WITHHELD}text, 4 characters)"),
        ("Ewa", {"answer_range": (0, 4)}, f"{WITHHELD}text, 3 characters)"),
        ("ZK", {}, f"{WITHHELD}text, 2 characters)"),
        ("zofia.kwiatkowska@example.pl", {}, f"{WITHHELD}e-mail-like text, 28 characters)"),
        ("1987-03-14", {}, f"{WITHHELD}date-like text, 10 characters)"),
        ("14.03.1987", {}, f"{WITHHELD}date-like text, 10 characters)"),
        ("Kowalski", {"codes": ("balint", "control")}, f"{WITHHELD}text, 8 characters)"),
        ("Balint ", {"codes": ("balint", "control")}, "Balint"),  # a declared label, miscased
        ("Every day", {"codes": ("Never", "Every day")}, "Every day"),  # an answer label
        ("screening_arm_1", {}, "screening_arm_1"),  # REDCap generates event names
        ("kowalski_arm_1x", {}, f"{WITHHELD}text, 15 characters)"),
        ("AO07", {}, "AO07"),  # a LimeSurvey answer code
        ("n/a", {}, "n/a"),
        ("A", {}, "A"),  # one character identifies nobody
        ("", {}, ""),
        (float("nan"), {}, ""),
    ],
)  # fmt: skip
def test_shown_value_echoes_only_what_cannot_identify_anyone(value, options, shown):
    assert shown_value(value, **options) == shown


def test_a_roster_listed_as_an_instrument_definition_is_not_printed(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("participant_id,group,email\n" + "".join(
        f"{code},balint,{code.lower()}@example.pl\n" for code in CODES), encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"a: [{SEEDS['e-mail']}\nb: '{SEEDS['name']}\n", encoding="utf-8")
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(f"id: {SEEDS['e-mail']}\nname: {SEEDS['full name']}\nitems: x\n",
                       encoding="utf-8")  # fmt: skip
    for path, expected in [
        (roster, "instrument definition key '(top level)': must be of type object, but is "
                 "text of "),
        (broken, "not valid YAML at line 2, column 2 (did not find expected ',' or ']')"),
        (mapping, "instrument definition key"),
    ]:  # fmt: skip
        with pytest.raises(InputError) as err:
            load_file(path)
        message = str(err.value)
        assert message.startswith(f"{path}: ") and expected in message and "\n" not in message
        assert "@" not in message and not any(c in message for c in CODES)
        assert SEEDS["name"] not in message and SEEDS["surname"] not in message


@pytest.mark.parametrize(
    ("change", "key", "what"),
    [
        (lambda raw: raw["design"].update(intervention='=HYPERLINK("x","y")'),
         "design.intervention", "a group label"),
        (lambda raw: raw["design"].update(control="-control"), "design.control", "a group label"),
        (lambda raw: raw["analysis"].update(covariates=["gender"],
                                            covariate_levels={"gender": ["female", "+other"]}),
         "analysis.covariate_levels.gender[1]", "a label"),
    ],
)  # fmt: skip
def test_a_label_a_spreadsheet_would_run_is_refused_in_one_line(change, key, what):
    """Neutralised in processed files (``'=…``), such a label would no longer match the
    config in the model stage (it stopped with a traceback); the config refuses it instead."""
    raw = read_yaml(DEMO_CONFIG)
    change(raw)
    with pytest.raises(InputError) as err:
        check_schema(raw)
    assert str(err.value) == (
        f"config key '{key}': {what} may not start with =, +, - or @ (a spreadsheet would run "
        "it as a formula); rename it in the config and the data.")


# ----------------------------------------------------------------------------- the corpus


def _answers(rng: random.Random, arm: str, wave: int) -> list[int]:
    shift = 1 if arm == "balint" and wave > 0 else 0
    return [max(0, min(4, rng.choice([1, 2, 2, 3]) - shift)) for _ in range(10)]


def _write_corpus(raw: Path) -> None:
    """Qualtrics (pre), REDCap with events (post), Excel and SPSS (follow-up) and a roster."""
    rng = random.Random(14)
    people = [*CODES[:4], CODE_SEEDS[0], *CODES[5:]]  # one code is initials + birth date
    arms = {code: ("balint" if i < 12 else "control") for i, code in enumerate(people)}
    raw.mkdir(parents=True)
    roster = [{"participant_id": c, "group": g, "balint_group": "Dr Zawadzka" if g == "balint"
               else "", "age": str(30 + i), "email": f"{c.lower()}@example.pl",
               "notes": ""} for i, (c, g) in enumerate(arms.items())]  # fmt: skip
    roster[0] |= {"age": SEEDS["name"], "notes": SEEDS["full name"], "email": SEEDS["e-mail"]}
    roster[1]["age"] = SEEDS["date of birth"]
    roster[2]["age"] = SEEDS["initials"]
    roster[3]["balint_group"] = SEEDS["full name"]
    roster += [
        {"participant_id": "KQ-2001", "group": SEEDS["surname"]},  # a surname as the group
        {"participant_id": "KQ-2002", "group": '=HYPERLINK("x","y")'},
        {"participant_id": "KQ-2003", "group": SEEDS["phone"]},
        {"participant_id": CODE_SEEDS[1], "group": "control", "age": SEEDS["dotted date of birth"]},
    ]
    header = ["participant_id", "group", "balint_group", "age", "email", "notes"]
    (raw / "participants.csv").write_text(xf.table(header, roster), encoding="utf-8")

    pre = []
    for code, arm in arms.items():
        pre.append({"ExternalReference": code, "RecipientEmail": f"{code.lower()}@example.pl",
                    "RecipientFirstName": SEEDS["short name"], "Q5_TEXT": "",
                    **xf.items(_answers(rng, arm, 0))})  # fmt: skip
    pre[0] |= {"PSS_1": SEEDS["name"], "PSS_2": SEEDS["initials"], "PSS_3": SEEDS["phone"],
               "PSS_4": SEEDS["date of birth"], "PSS_5": SEEDS["e-mail"],
               "Q5_TEXT": f"{SEEDS['full name']}, tel. {SEEDS['phone']}"}  # fmt: skip
    pre[1] |= {"PSS_6": SEEDS["short name"], "Status": SEEDS["surname"]}
    pre.append({"ExternalReference": SEEDS["phone"], **xf.items(2)})  # a phone as the code
    pre.append({"ExternalReference": CODE_SEEDS[1], **xf.items(2)})
    (raw / "pre_qualtrics.csv").write_text(xf.qualtrics(pre), encoding="utf-8")

    post = []
    for code, arm in arms.items():
        post.append({"record_id": code, "redcap_event_name": "post_arm_1",
                     "redcap_survey_identifier": "", "pss_timestamp": "2026-05-04 10:00:00",
                     **xf.items(_answers(rng, arm, 1), "pss_{i:02d}"), "comments": "",
                     "pss_complete": "2"})  # fmt: skip
    post[2] |= {"pss_01": SEEDS["short name"], "pss_02": SEEDS["phone"],
                "comments": f"{SEEDS['e-mail']} {SEEDS['date of birth']}",
                "redcap_survey_identifier": SEEDS["e-mail"]}  # fmt: skip
    post.append({**post[3], "redcap_event_name": SEEDS["surname"]})
    post.append({**post[4], "redcap_event_name": SEEDS["dotted date of birth"]})
    post.append({**post[5], "record_id": SEEDS["e-mail"]})
    (raw / "post_redcap.csv").write_text(xf.redcap(post), encoding="utf-8")

    header = ["code", "submitted", *xf.PSS, "comment"]
    follow = [[code, "2026-09-01", *_answers(rng, arm, 2), ""] for code, arm in arms.items()]
    follow[5][2:5] = [SEEDS["initials"], SEEDS["name"], SEEDS["date of birth"]]
    follow[5][-1] = f"{SEEDS['full name']} {SEEDS['dotted date of birth']}"
    follow.append([SEEDS["full name"], "2026-09-01", *[2] * 10, SEEDS["phone"]])
    xf.xlsx(raw / "followup.xlsx", header, follow[:18] + follow[24:])
    # SPSS numeric items cannot hold text, but a phone number or a birth date as a number.
    spss = [row for row in follow[18:24]] + [[SEEDS["e-mail"], "", *[2] * 10, ""]]
    spss[0][2:4] = [int(SEEDS["phone"]), int(SEEDS["numeric date of birth"])]
    spss[1][-1] = f"{SEEDS['full name']}, {SEEDS['e-mail']}"
    columns = {"code": [r[0] for r in spss], "comment": [r[-1] for r in spss]}
    columns |= {item: [float(r[2 + i]) for r in spss] for i, item in enumerate(xf.PSS)}
    xf.sav(raw / "followup_spss.sav", columns)


CONFIG = {
    "cohort": "pii",
    "title": "PII corpus",
    "design": {"timepoints": ["pre", "post", "followup"], "intervention": "balint",
               "control": "control"},
    "participants": {"path": "data/raw/pii/participants.csv", "id": "participant_id",
                     "group": "group", "cluster": "balint_group"},
    "exports": [
        {"path": "data/raw/pii/pre_qualtrics.csv", "id": "ExternalReference", "timepoint": "pre"},
        {"path": "data/raw/pii/post_redcap.csv", "id": "record_id",
         "timepoint_column": "redcap_event_name", "timepoint_values": {"post_arm_1": "post"},
         "instruments": {"pss10": "pss_{i:02d}"}},
        {"path": "data/raw/pii/followup.xlsx", "id": "code", "timepoint": "followup"},
        {"path": "data/raw/pii/followup_spss.sav", "id": "code", "timepoint": "followup"},
    ],
    "instruments": {"pss10": "PSS_{i}"},
    "analysis": {"primary": "pss10.total", "covariates": ["age"]},
    "missing_data": FEW_IMPUTATIONS,
}  # fmt: skip


def _leaks(text: str) -> list[str]:
    """Every seeded value or raw code found in ``text`` (as a whole token, case-sensitive)."""
    found = []
    for value in [*SEEDS.values(), *CODES, *CODE_SEEDS, "KQ-2001", "KQ-2002", "KQ-2003"]:
        if re.search(rf"(?<![\w.@-]){re.escape(value)}(?![\w@-])", text):
            found.append(value)
    return found


@pytest.mark.e2e
def test_no_seeded_personal_value_reaches_any_output_or_the_terminal(tmp_path):
    work = copy_repository(tmp_path / "repo", link_venv=True)
    _write_corpus(work / "data/raw/pii")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["BALINT_ID_KEY"] = secrets.token_hex(32)
    terminal = []
    for command in (".venv/bin/balint-analysis init data/raw/pii/",
                    ".venv/bin/balint-analysis check --config config/pii.yaml",
                    ".venv/bin/snakemake --cores 2 --configfile config/pii.yaml"):  # fmt: skip
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        terminal.append((command, proc.stdout + proc.stderr))
        if "init" in command:  # what init wrote (its evidence comments), then the checked config
            config = work / "config/pii.yaml"
            terminal.append(("config/pii.yaml as init wrote it", config.read_text("utf-8")))
            config.write_text(yaml.safe_dump(CONFIG, sort_keys=False), "utf-8")
    scanned, leaks = 0, {}
    for folder in ("data/processed", "data/interim", "reports", "logs", ".snakemake"):
        for path in sorted((work / folder).rglob("*")) if (work / folder).exists() else []:
            if path.is_file():
                scanned += 1
                found = _leaks(path.read_bytes().decode("utf-8", errors="replace"))
                if found:
                    leaks[str(path.relative_to(work))] = found
    for command, output in terminal:
        if _leaks(output):
            leaks[command] = _leaks(output)
    assert scanned > 20 and not leaks
    rejected = (work / "data/processed/pii/rejected.csv").read_text(encoding="utf-8")
    assert f"{WITHHELD}e-mail-like text, 28 characters)" in rejected
    assert f"{WITHHELD}number, 11 digits)" in rejected
    # A group cell a spreadsheet would run is one quarantined roster row, not a model failure.
    table = pd.read_csv(work / "data/processed/pii/rejected.csv", dtype=str).set_index("row")
    hyperlink = table[table["source"] == "data/raw/pii/participants.csv"].loc["27"]
    assert hyperlink.tolist() == ["data/raw/pii/participants.csv", "group", "group is neither "
                                  "the intervention nor the control label", "row excluded",
                                  f"{WITHHELD}text, 19 characters)"]  # fmt: skip
    assert (work / "reports/pii/report.html").exists()
