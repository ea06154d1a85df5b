"""Shared fixtures: a tiny two-export cohort written by hand in real platform layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from balint_analysis.config import load_config

QUALTRICS_META = [
    ("StartDate", "Start Date", "startDate"),
    ("EndDate", "End Date", "endDate"),
    ("Status", "Response Type", "status"),
    ("IPAddress", "IP Address", "ipAddress"),
    ("Progress", "Progress", "progress"),
    ("Duration (in seconds)", "Duration (in seconds)", "duration"),
    ("Finished", "Finished", "finished"),
    ("RecordedDate", "Recorded Date", "recordedDate"),
    ("ResponseId", "Response ID", "_recordId"),
    ("RecipientLastName", "Recipient Last Name", "recipientLastName"),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName"),
    ("RecipientEmail", "Recipient Email", "recipientEmail"),
    ("ExternalReference", "External Data Reference", "externalDataReference"),
    ("LocationLatitude", "Location Latitude", "locationLatitude"),
    ("LocationLongitude", "Location Longitude", "locationLongitude"),
    ("DistributionChannel", "Distribution Channel", "distributionChannel"),
    ("UserLanguage", "User Language", "userLanguage"),
]



#: The slowest test files (end-to-end runs; tens of seconds each), slowest first. They are
#: collected first, so `make test`'s pytest-xdist workers (--no-loadscope-reorder) start with
#: them and no worker is left alone with one of them at the end.
SLOWEST_FILES = ("test_docs.py", "test_power.py", "test_reruns.py", "test_slurm.py",
                 "test_programme_workflow.py", "test_pii_corpus.py", "test_layouts_e2e.py",
                 "test_processes.py", "test_workflow.py", "test_report_browser.py",
                 "test_programme_browser.py", "test_report_e2e.py", "test_scaffold.py",
                 "test_models_recovery.py")  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: others keep order


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist (test extra)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup`` as `make test` uses it: a test marked ``xdist_group`` runs in its
    group's worker, any other test in its file's (xdist's own loadgroup sends unmarked tests
    one by one, so a module fixture such as one end-to-end run would be made in each worker)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileOrGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.rfind("@") > nodeid.rfind("]"):  # xdist appends "@<group>"
                return nodeid.rsplit("@", 1)[-1]
            return nodeid.split("::", 1)[0]

    return FileOrGroupScheduling(config, log)


@pytest.fixture(autouse=True)
def _restore_working_directory(monkeypatch):
    """Every test starts and ends in the directory pytest started in: the CLI's ``main``
    changes into the project directory, and a test calling it in process must not move the
    tests after it (several read ``tests/reference/...`` relative to the repository)."""
    monkeypatch.chdir(Path.cwd())

def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def qualtrics_csv(rows: list[dict[str, str]], n_mbi: int = 22, n_pss: int = 10) -> str:
    """A current-format Qualtrics export with MBI_1..22, PSS_1..10 and a comment column."""
    items = [f"MBI_{i}" for i in range(1, n_mbi + 1)] + [f"PSS_{i}" for i in range(1, n_pss + 1)]
    names = [m[0] for m in QUALTRICS_META] + items + ["Q5_TEXT"]
    texts = [m[1] for m in QUALTRICS_META] + [f"Item {c}" for c in items] + ["Comments"]
    ids = [m[2] for m in QUALTRICS_META] + [f"QID1_{i}" for i in range(len(items))] + ["QID5_TEXT"]
    lines = [
        ",".join(names),
        ",".join(_csv_cell(t) for t in texts),
        ",".join(_csv_cell(json.dumps({"ImportId": i}, separators=(",", ":"))) for i in ids),
    ]
    for row in rows:
        lines.append(",".join(_csv_cell(str(row.get(n, ""))) for n in names))
    return "\n".join(lines) + "\n"


def redcap_csv(rows: list[dict[str, str]]) -> str:
    names = ["record_id", "redcap_event_name", "redcap_survey_identifier",
             "burnout_survey_timestamp"]  # fmt: skip
    names += [f"mbi_{i}" for i in range(1, 23)] + [f"pss_{i:02d}" for i in range(1, 11)]
    names += ["comments", "burnout_survey_complete"]
    lines = [",".join(names)]
    for row in rows:
        lines.append(",".join(_csv_cell(str(row.get(n, ""))) for n in names))
    return "\n".join(lines) + "\n"


def answers(prefix: str, mbi: int, pss: int, *, pss_fmt: str = "{i}") -> dict[str, str]:
    """Every MBI item answered ``mbi`` and every PSS item ``pss``."""
    out = {f"{prefix[0]}_{i}": str(mbi) for i in range(1, 23)}
    out.update({f"{prefix[1]}_{pss_fmt.format(i=i)}": str(pss) for i in range(1, 11)})
    return out


@pytest.fixture
def tiny_cohort(tmp_path: Path) -> dict:
    """Four participants, a Qualtrics pre export and a REDCap post export, with problems."""
    raw = tmp_path / "data" / "raw" / "tiny"
    raw.mkdir(parents=True)
    (raw / "participants.csv").write_text(
        "participant_id,group,balint_group,sessions_attended,age,years_in_practice,email\n"
        "P1,balint,Dr Smith's group,8,40,10,a@x.org\n"
        "P2,balint,Dr Smith's group,6,35,5,b@x.org\n"
        "P3,control,,,50,20,c@x.org\n"
        "P4,control,,,45,15,d@x.org\n",
        encoding="utf-8",
    )
    base = {"Status": "0", "Finished": "1", "Progress": "100", "IPAddress": "10.0.0.1",
            "RecipientEmail": "someone@example.org", "Q5_TEXT": "I feel =tired"}  # fmt: skip
    pre = [
        {**base, "ExternalReference": "P1", "RecordedDate": "2024-03-04 08:00:00",
         **answers(("MBI", "PSS"), 3, 2)},
        {**base, "ExternalReference": "P2", "RecordedDate": "2024-03-04 09:00:00",
         **answers(("MBI", "PSS"), 4, 1)},
        {**base, "ExternalReference": "P3", "RecordedDate": "2024-03-04 10:00:00",
         **answers(("MBI", "PSS"), 2, 3), "MBI_5": "7"},
        {**base, "ExternalReference": "P4", "RecordedDate": "2024-03-04 11:00:00",
         **answers(("MBI", "PSS"), 1, 2), "PSS_3": "N/A"},
        {**base, "ExternalReference": "P4", "RecordedDate": "2024-03-03 11:00:00",
         **answers(("MBI", "PSS"), 6, 4)},
        {**base, "ExternalReference": "TEST", "Status": "1", "DistributionChannel": "preview",
         **answers(("MBI", "PSS"), 0, 0)},
        {**base, "ExternalReference": "P2", "Finished": "0", "Progress": "40",
         "RecordedDate": "2024-03-05 09:00:00"},
    ]  # fmt: skip
    (raw / "pre_qualtrics.csv").write_text(qualtrics_csv(pre), encoding="utf-8")
    post = [
        {"record_id": "P1", "redcap_event_name": "post_arm_1",
         "burnout_survey_timestamp": "2024-06-01 10:00:00", "burnout_survey_complete": "2",
         **answers(("mbi", "pss"), 2, 1, pss_fmt="{i:02d}")},
        {"record_id": "P3", "redcap_event_name": "post_arm_1",
         "burnout_survey_timestamp": "2024-06-01 11:00:00", "burnout_survey_complete": "2",
         **answers(("mbi", "pss"), 2, 3, pss_fmt="{i:02d}")},
        {"record_id": "P2", "redcap_event_name": "post_arm_1",
         "burnout_survey_timestamp": "[not completed]", "burnout_survey_complete": "0"},
        {"record_id": "P9", "redcap_event_name": "post_arm_1",
         "burnout_survey_timestamp": "2024-06-02 11:00:00", "burnout_survey_complete": "2",
         **answers(("mbi", "pss"), 2, 3, pss_fmt="{i:02d}")},
        {"record_id": "P4", "redcap_event_name": "screening_arm_1",
         "burnout_survey_timestamp": "2024-06-02 11:00:00", "burnout_survey_complete": "2",
         **answers(("mbi", "pss"), 2, 3, pss_fmt="{i:02d}")},
    ]  # fmt: skip
    (raw / "post_redcap.csv").write_text(redcap_csv(post), encoding="utf-8")
    raw_config = {
        "cohort": "tiny",
        "title": "Tiny test cohort",
        "design": {"timepoints": ["pre", "post"], "intervention": "balint", "control": "control"},
        "participants": {"path": str(raw / "participants.csv"), "id": "participant_id",
                         "group": "group", "cluster": "balint_group",
                         "sessions": "sessions_attended"},
        "exports": [
            {"path": str(raw / "pre_qualtrics.csv"), "format": "qualtrics", "timepoint": "pre",
             "id": "ExternalReference"},
            {"path": str(raw / "post_redcap.csv"), "id": "record_id",
             "timepoint_column": "redcap_event_name", "timepoint_values": {"post_arm_1": "post"},
             "instruments": {"mbi_hss": "mbi_{i}", "pss10": "pss_{i:02d}"}},
        ],
        "instruments": {"mbi_hss": "MBI_{i}", "pss10": "PSS_{i}"},
        "analysis": {"primary": "mbi_hss.emotional_exhaustion",
                     "covariates": ["age", "years_in_practice"], "min_cell_size": 1},
        "privacy": {"key_env": "BALINT_TEST_KEY_UNSET", "allow_demo_key": True},
    }  # fmt: skip
    return {"raw": raw, "config": load_config(raw_config), "raw_config": raw_config}
