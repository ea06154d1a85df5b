"""A SLURM run whose controller is gone stops within a minute, with one line.

Snakemake's SLURM executor asks ``squeue`` (or ``sacct``) for its jobs' states; when the
controller (``slurmctld``) stops answering, every query fails, the executor keeps the jobs as
"running" and polls ever more slowly, and the run waits forever. :func:`watch_controller` runs
next to the workflow: it asks the controller (``scontrol ping``) as soon as the run turns out to
use the SLURM executor (a run against a dead controller stops before it submits anything) and
then every :data:`CHECK_INTERVAL_SECONDS`; after :data:`GIVE_UP_AFTER_SECONDS` without an answer
the run is stopped with one line.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable

__all__ = ["controller_answers", "controller_gone_message", "watch_controller"]

PING_TIMEOUT_SECONDS = 10
CHECK_INTERVAL_SECONDS = 5
# A controller restart takes a few seconds; worst case to stop: 30 + 5 + 10 s, under a minute.
GIVE_UP_AFTER_SECONDS = 30


def controller_answers(timeout: float = PING_TIMEOUT_SECONDS) -> bool:
    """Whether ``scontrol ping`` reaches a SLURM controller that is up, within ``timeout``."""
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ping.returncode == 0 and " is UP" in ping.stdout


def controller_gone_message(seconds: float | None) -> str:
    """The one line a SLURM run gets when the controller does not answer."""
    if seconds is None:
        return ("the SLURM controller does not answer (`scontrol ping`), so no job was "
                "submitted: start slurmctld or check /etc/slurm/slurm.conf, then run again.")
    return (f"the SLURM controller stopped answering (`scontrol ping`, {seconds:.0f} s): the run "
            "is stopped, its submitted jobs may still be running; once `scontrol ping` says UP, "
            "wait until `squeue --me` lists none of them (or `scancel` them), then run again with "
            "--rerun-incomplete.")  # fmt: skip


def watch_controller(executor_name: Callable[[], str | None], stop: Callable[[str], None], *,
                     ping: Callable[[], bool] = controller_answers,
                     interval: float = CHECK_INTERVAL_SECONDS,
                     give_up_after: float = GIVE_UP_AFTER_SECONDS) -> threading.Thread:  # fmt: skip
    """Watch the SLURM controller for the rest of this process, in a daemon thread.

    Parameters
    ----------
    executor_name : callable
        The run's executor (``"slurm"``, ``"local"``, ...), None until Snakemake has chosen it;
        the watch ends at once for any executor other than SLURM.
    stop : callable
        Called once with the one line when the controller is gone; it ends the run.
    ping : callable
        True when the controller answers (:func:`controller_answers`).
    interval, give_up_after : float
        Seconds between pings, and without an answer before the run is stopped.

    Returns
    -------
    threading.Thread
        The started watcher.
    """

    def watch() -> None:
        while (name := executor_name()) is None:
            time.sleep(0.2)
        if not name.endswith("slurm"):
            return
        if not ping():  # before any job is submitted
            stop(controller_gone_message(None))
            return
        last_answer = time.monotonic()
        while True:
            time.sleep(interval)
            if ping():
                last_answer = time.monotonic()
            elif time.monotonic() - last_answer >= give_up_after:
                stop(controller_gone_message(time.monotonic() - last_answer))
                return

    thread = threading.Thread(target=watch, name="slurm-controller-watch", daemon=True)
    thread.start()
    return thread
