"""Processes: workers die with their parent, and a second run of a cohort gets one line."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from project_helpers import REPO

from balint_analysis.workers import die_with_parent, map_in_processes

REFERENCE = REPO / "tests" / "reference"


def _marked_processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if marker.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# The model stage on a cohort of six outcomes with two workers; each outcome first waits, so
# the workers are certainly busy when the stage's main process is killed.
MODEL_STAGE = textwrap.dedent("""
    import sys, time
    import pandas as pd
    import balint_analysis.models as models

    fit_outcome = models.outcome_results
    def slow_outcome(*args, **kwargs):
        time.sleep(300)
        return fit_outcome(*args, **kwargs)
    models.outcome_results = slow_outcome
    ref = sys.argv[1]
    models.analyse_outcomes(
        pd.read_csv(f"{ref}/twoarm_scores.csv"), pd.read_csv(f"{ref}/twoarm_participants.csv"),
        timepoints=["pre", "post", "followup"], intervention="balint", control="control",
        primary="mbi_hss.emotional_exhaustion", n_jobs=2)
""")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_killed_model_stage_leaves_no_worker_behind():
    marker = f"BALINT_TEST_MARKER={uuid.uuid4().hex}"
    env = {**os.environ, "BALINT_TEST_MARKER": marker.split("=", 1)[1]}
    main = subprocess.Popen([sys.executable, "-c", MODEL_STAGE, str(REFERENCE)], env=env)
    try:
        # the main process and both workers
        assert _wait_for(lambda: len(_marked_processes(marker)) >= 3, 60), "no workers started"
        workers = [pid for pid in _marked_processes(marker) if pid != main.pid]
        assert len(workers) == 2
        main.send_signal(signal.SIGKILL)
        main.wait()
        assert _wait_for(lambda: not _marked_processes(marker), 5), (
            f"left behind: {_marked_processes(marker)}")
    finally:
        _kill_all(_marked_processes(marker))
        if main.poll() is None:
            main.kill()


WATCHED_CHILD = textwrap.dedent("""
    import os, sys, time
    from balint_analysis.workers import die_with_parent

    parent = os.getpid()
    child = os.fork()
    if child == 0:
        print(die_with_parent(parent, use_prctl=sys.argv[1] == "prctl"), flush=True)
        time.sleep(300)
        os._exit(0)
    time.sleep(300)
""")


@pytest.mark.parametrize("mechanism", ["prctl", "watcher"])
def test_a_worker_dies_with_its_parent_by_either_mechanism(mechanism):
    if mechanism == "prctl" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only")
    marker = uuid.uuid4().hex
    env = {**os.environ, "BALINT_TEST_MARKER": marker}
    parent = subprocess.Popen([sys.executable, "-c", WATCHED_CHILD, mechanism], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert parent.stdout.readline().strip() == mechanism
        assert len(_marked_processes(marker)) == 2
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        assert _wait_for(lambda: not _marked_processes(marker), 3)
    finally:
        _kill_all(_marked_processes(marker))


def _orphan_check(not_my_parent: int) -> None:
    die_with_parent(not_my_parent)
    time.sleep(30)


def test_a_worker_whose_parent_died_before_it_started_ends_at_once():
    """The kernel signal only covers a parent that dies after it is armed: a worker forked by a
    parent that is already gone (here: told a pid that is not its parent) must end itself."""
    process = multiprocessing.get_context("fork").Process(target=_orphan_check, args=(1,))
    process.start()
    process.join(5)
    assert process.exitcode == -signal.SIGKILL


def _square_plus(x: int, y: int) -> int:
    return x * x + y


def test_map_in_processes_keeps_task_order_for_any_number_of_workers():
    tasks = [(x, 10 * x) for x in range(7)]
    expected = [x * x + 10 * x for x in range(7)]
    for n_jobs in (1, 2, 3, 20):
        assert map_in_processes(_square_plus, tasks, n_jobs) == expected
