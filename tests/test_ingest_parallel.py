"""Reading the exports in worker processes (``prepare`` with two cores) gives what reading them
one after another gives: the same tables and notes, the same one-line error, and one line
when a worker dies."""

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from balint_analysis.errors import InputError
from balint_analysis.ingest import read as ingest_read
from balint_analysis.pipeline import read_inputs


@pytest.fixture(autouse=True)
def _workers_even_for_small_files(monkeypatch):
    monkeypatch.setattr(ingest_read, "PARALLEL_MIN_BYTES", 0)


def _assert_same_tables(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a.dtypes) == list(b.dtypes)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_reading_in_two_processes_gives_the_tables_and_notes_of_reading_in_turn(tiny_cohort):
    cfg = tiny_cohort["config"]
    one = read_inputs(cfg, n_jobs=1)
    two = read_inputs(cfg, n_jobs=2)
    _assert_same_tables(one[0], two[0])
    _assert_same_tables(one[1], two[1])
    assert one[2] == two[2]
    assert [f["source"] for f in two[2]["files"]] == [e.path for e in cfg.exports]
    assert len(two[0]) == 12 and list(two[0]["row"][:3]) == [4, 5, 6]


def _break(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_two_broken_files_give_the_error_of_the_first_in_config_order(tiny_cohort):
    raw, cfg = tiny_cohort["raw"], tiny_cohort["config"]
    pre, post = raw / "pre_qualtrics.csv", raw / "post_redcap.csv"
    # The second export is the larger one, so a worker reads it first.
    _break(pre, "a,b\n1,2,3\n")
    _break(post, "a,b\n" + "1,2\n" * 500 + '"unclosed,2\n')
    messages = []
    for n_jobs in (1, 2):
        with pytest.raises(InputError) as caught:
            read_inputs(cfg, n_jobs=n_jobs)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[1] == (f"{pre}: row 2 has 3 fields but the header has 2. The file is "
                           "damaged (a stray delimiter or quote); export it again or fix that "
                           "row.")  # fmt: skip
    assert "Traceback" not in messages[1]


def test_a_broken_roster_gives_its_line_only_when_every_export_reads(tiny_cohort):
    raw, cfg = tiny_cohort["raw"], tiny_cohort["config"]
    _break(raw / "participants.csv", "participant_id,group\nP1\n")
    with pytest.raises(InputError, match=r"participants.csv: the last row \(2\) stops after 1 "):
        read_inputs(cfg, n_jobs=2)


def _killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer ends a worker


def test_a_worker_that_dies_gives_one_line(tiny_cohort, monkeypatch):
    monkeypatch.setattr(ingest_read, "read_export", _killed)
    with pytest.raises(InputError) as caught:
        read_inputs(tiny_cohort["config"], n_jobs=2)
    assert str(caught.value) == (
        "a process reading the exports ended unexpectedly (out of memory?): free memory, or "
        "run the workflow with `--cores 1` to read the files one at a time."
    )
