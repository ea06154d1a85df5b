"""Slips a first-time user makes, and what the tools answer: one line, the cause and the fix.

Found by trying the documented commands as a new user would (mixing real-layout exports,
mistyping keys, leaving the key unset, reusing a cohort name).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest
import yaml
from project_helpers import DEMO_CONFIG, FIXTURES, run_init

from balint_analysis.cli import main
from balint_analysis.config_schema import check_schema
from balint_analysis.errors import InputError


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BALINT_ID_KEY", raising=False)
    return tmp_path


def _folder(project: Path, name: str, files: dict[str, Path]) -> Path:
    folder = project / "data" / "raw" / name
    folder.mkdir(parents=True)
    for target, source in files.items():
        shutil.copy(source, folder / target)
    return folder


def test_init_orders_redcap_events_as_the_project_lists_them(project):
    _folder(project, "rc", {"export.csv": FIXTURES / "redcap" / "longitudinal_dag.csv"})
    config = run_init("rc")
    assert config["design"]["timepoints"] == ["baseline", "post", "followup_6m"]
    (export,) = config["exports"]
    # enrolment_arm_1 holds no questionnaire answers: left unmapped, its rows rejected.
    assert export["timepoint_values"] == {"baseline_arm_1": "baseline", "post_arm_1": "post",
                                          "followup_6m_arm_1": "followup_6m"}  # fmt: skip


def test_init_leaves_out_staff_test_questionnaires_and_skips_timestamps(project):
    _folder(project, "so", {"data.csv": FIXTURES / "sosci" / "data_balint_2024-06-12_09-14.csv",
                            "rdata.csv": FIXTURES / "sosci" / "rdata_balint_2024-06-12_09-14.csv"})
    config = run_init("so")
    assert config["design"]["timepoints"] == ["t1", "t2"]  # 'pilot' is not a wave
    assert len(config["exports"]) == 2
    for export in config["exports"]:
        assert export["id"] == "CD01_01"  # not STARTED or LASTDATA (timestamps)
        assert export["timepoint_values"] == {"t1": "t1", "t2": "t2"}
        assert export["answer_codes"] == "position"


def test_init_reads_a_forms_wave_question_as_the_wave_not_the_group(project):
    _folder(project, "forms", {"google.csv": FIXTURES / "forms" / "google_forms.csv"})
    config = run_init("forms")
    assert config["design"]["timepoints"] == ["pre", "post"]
    (export,) = config["exports"]
    assert export["timepoint_column"] == "Which questionnaire are you filling in?"
    assert export["timepoint_values"] == {"Before the first Balint session": "pre",
                                          "After the last Balint session": "post"}  # fmt: skip
    assert "group_column" not in export


def test_init_never_picks_one_of_two_blocks_of_the_same_shape(project):
    _folder(project, "ql", {"pre.csv": FIXTURES / "qualtrics" / "legacy.csv",
                            "post.csv": FIXTURES / "limesurvey" / "full_headings.csv"})
    config = run_init("ql")
    assert config["instruments"]["pss10"].startswith("TODO: 2 blocks fit pss10: 10 columns "
                                                     "Q2_1 … Q2_10")  # fmt: skip
    assert [e["answer_codes"] for e in config["exports"]] == ["position", "position"]


def test_run_stops_before_snakemake_on_a_todo_or_a_missing_key(project, capsys, monkeypatch):
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["privacy"] = {"key_env": "BALINT_ID_KEY"}
    config["title"] = "TODO: a title"
    Path("config").mkdir()
    Path("config/c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", "--config", "config/c.yaml"]) == 1
    assert capsys.readouterr().err.strip() == (
        "balint-analysis: config/c.yaml: config key 'title' is still TODO: a title.")
    config["title"] = "A title"
    Path("config/c.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    assert main(["run", "--config", "config/c.yaml"]) == 1
    assert "environment variable BALINT_ID_KEY is not set" in capsys.readouterr().err
    assert not Path(".snakemake").exists()  # Snakemake never started: no outputs removed
    monkeypatch.setenv("BALINT_ID_KEY", "a-long-test-key-0123456789abcdef")
    assert main(["run", "--config", "config/c.yaml", "--cores", "0"]) == 1
    assert capsys.readouterr().err.strip() == (
        "balint-analysis: --cores 0: give a number of cores (1 or more) or 'all'.")


def test_check_warns_when_two_configs_share_a_cohort(project, capsys):
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    Path("config").mkdir()
    for name in ("a", "b"):
        Path(f"config/{name}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    main(["check", "--config", "config/b.yaml"])
    assert "a.yaml also names cohort 'demo'" in capsys.readouterr().out


def test_simulate_never_overwrites_other_files(project, capsys):
    folder = project / "data" / "raw" / "w"
    folder.mkdir(parents=True)
    (folder / "baseline.xlsx").write_bytes(b"a researcher's real export")
    assert main(["simulate", "--layout", "tutorial", "--seed", "1", "--out", str(folder)]) == 1
    assert "exists with other content" in capsys.readouterr().err
    assert (folder / "baseline.xlsx").read_bytes() == b"a researcher's real export"


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["design"].update(randomized=True), "unknown key 'randomized' (did you mean "
                                                    "'randomised'?)"),
    (lambda c: c.update(cohort="Ward 7"), "'Ward 7' names folders: use letters, digits"),
    (lambda c: c["instruments"].update(mbi_hss="MBI{i:02}"), "neither a column template"),
    (lambda c: c["design"].update(timepoints=["pre"]), "list at least two timepoints"),
])  # fmt: skip
def test_schema_messages_say_what_to_do(change, message):
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    change(config)
    with pytest.raises(InputError, match=re.escape(message)):
        check_schema(config)


def test_file_names_that_lie_about_their_content(project):
    from balint_analysis.ingest import load_table

    Path("fake.sav").write_text("code,x\n1,2\n")
    with pytest.raises(InputError, match="named .sav but not an SPSS data file"):
        load_table("fake.sav", "test")
    Path("bom.csv").write_bytes(b"\xef\xbb\xbfcode,x\n1,2\n")
    with pytest.raises(InputError, match="UTF-8 byte-order mark.*Remove the `encoding:` key"):
        load_table("bom.csv", "test", encoding="latin-1")


def test_init_reads_the_real_surveymonkey_layouts(project):
    _folder(project, "sm", {"numbers.csv": FIXTURES / "surveymonkey" / "expanded_numeric.csv"})
    _folder(project, "smt", {"texts.csv": FIXTURES / "surveymonkey" / "expanded_text.csv"})
    numbers, texts = run_init("sm"), run_init("smt")
    assert numbers["instruments"] == texts["instruments"] == {"pss10": "Q2_{i}"}
    assert numbers["design"]["timepoints"] == ["pre", "post"]
    assert texts["design"]["timepoints"] == ["pre", "post", "followup"]
    (n,), (t,) = numbers["exports"], texts["exports"]
    assert n["id"] == t["id"] == "Q1"  # the typed code, not Respondent ID
    assert n["timepoint_column"] == t["timepoint_column"] == "Collector ID"
    assert n["timepoint_values"] == {"451234567": "pre", "451299901": "post"}  # by date
    assert n["answer_codes"] == "position"  # numerical values are option positions
    assert "answer_codes" not in t  # answer texts are mapped by their labels


def test_init_asks_for_the_waves_when_collectors_have_no_dates(project):
    rows = list(csv.reader(io.StringIO(
        (FIXTURES / "surveymonkey" / "expanded_numeric.csv").read_text(encoding="utf-8-sig"))))
    end = rows[0].index("End Date")
    for row in rows[2:]:
        row[end] = ""
    folder = project / "data" / "raw" / "nodates"
    folder.mkdir(parents=True)
    with open(folder / "export.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (export,) = run_init("nodates")["exports"]
    assert export["timepoint"].startswith("TODO: which timepoint are the responses of "
                                          "data/raw/nodates/export.csv? (it has several "
                                          "collectors, and some of them have no response dates)")


def test_init_never_takes_typed_comments_for_group_labels(project, capsys):
    """A comment that mentions the Balint group is a participant's own words: never a label,
    never in the config, never on the terminal."""
    items = [f"MBI_{i}" for i in range(1, 23)]
    folder = project / "data" / "raw" / "typed"
    folder.mkdir(parents=True)
    comments = {2: "Balint group with Dr Jan Kowalski helped me a lot", 5: "I am Anna Nowak"}
    for wave in ("pre", "post"):
        lines = [",".join(["code", "comments", "arm", *items])]
        for k in range(12):
            arm = "Balint group" if k % 2 else "Waiting list"
            lines.append(",".join([f"C{k:03d}", comments.get(k, "") if wave == "post" else "",
                                   arm, *[str((k + i) % 7) for i in range(22)]]))
        (folder / f"{wave}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    config = run_init("typed")
    assert config["design"]["intervention"] == "Balint group"
    assert config["design"]["control"] == "Waiting list"
    assert [e["group_column"] for e in config["exports"]] == ["arm", "arm"]
    written = Path("config/typed.yaml").read_text(encoding="utf-8") + capsys.readouterr().out
    assert "Kowalski" not in written and "Nowak" not in written
