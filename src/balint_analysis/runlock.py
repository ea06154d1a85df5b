"""One run per cohort at a time, with a lock the kernel releases however the run ends.

Snakemake refuses a second run on the same outputs, but only after building its job graph, and
it says so with an ``IncompleteFilesException`` (the first run's outputs look unfinished) whose
advice, ``--rerun-incomplete``, would have the two runs write the same files. The workflow
therefore takes an exclusive ``flock`` on ``.snakemake/balint/<cohort>.lock`` while it parses
(:func:`hold_cohort`), and a second run stops at once with one line. A run that dies (SIGKILL,
power loss) cannot leave this lock behind: the kernel drops it with the process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from balint_analysis.errors import InputError
from balint_analysis.project import CohortPaths

try:
    import fcntl
except ImportError:  # not POSIX: no lock, Snakemake's own check remains
    fcntl = None

__all__ = ["CohortLock", "cohort_is_free", "executes_jobs", "hold_cohort"]

# Snakemake commands that only read or report (no job runs): they must work while a run goes.
# Deleting outputs or metadata is left out on purpose: that waits for the running analysis.
READ_ONLY_OPTIONS = frozenset({
    "--unlock", "--lint", "--list", "-l", "--list-rules", "--list-target-rules", "--lt",
    "--print-compilation", "--dag", "--rulegraph", "--filegraph", "--d3dag", "--summary",
    "-S", "--detailed-summary", "-D", "--list-changes", "--lc", "--list-input-changes", "--li",
    "--list-params-changes", "--lp", "--list-code-changes", "--list-untracked", "--lu",
    "--list-conda-envs", "--containerize", "--report", "--generate-unit-tests", "--archive",
    "--export-cwl", "--version", "-v", "--help", "-h", "--list-resources",
})  # fmt: skip


class CohortLock:
    """A held cohort lock; released by :meth:`release` or when the process ends."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle

    def release(self) -> None:
        self._handle.close()  # closing the only descriptor drops the flock


def executes_jobs(main_process: bool, dry_run: bool, argv: Sequence[str]) -> bool:
    """Whether a Snakemake invocation runs jobs of this cohort, so must hold its lock.

    Parameters
    ----------
    main_process : bool
        Snakemake's default mode. Jobs (local subprocess jobs, SLURM jobs on a compute node)
        parse the Snakefile again; the run that started them holds the lock already.
    dry_run : bool
        ``-n``/``--dry-run``, from the command line or a profile.
    argv : sequence of str
        The command line: a read-only command (:data:`READ_ONLY_OPTIONS`) runs no job.
    """
    options = {arg.split("=", 1)[0] for arg in argv}
    return main_process and not dry_run and not options & READ_ONLY_OPTIONS


def hold_cohort(cohort: str, root: str | Path = ".") -> CohortLock | None:
    """Take the cohort's run lock, or stop with one line when another run holds it.

    Parameters
    ----------
    cohort : str
        The cohort name (``data/processed/<cohort>/`` and so on).
    root : path
        The project directory.

    Returns
    -------
    CohortLock or None
        The lock, held until it is released or this process ends; None where no lock can be
        taken (no ``fcntl``, or the project directory is not writable: the run's own writes then
        fail with their own message).

    Raises
    ------
    InputError
        Another run holds the cohort; the message names its process and what to do.
    """
    if fcntl is None:
        return None
    path = CohortPaths(cohort, root).run_lock
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held beyond this call)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read(200).strip()
        handle.close()
        raise InputError(busy_message(cohort, holder)) from None
    handle.seek(0)
    handle.truncate()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    handle.write(f"pid {os.getpid()}, started {started}\n")
    handle.flush()
    return CohortLock(path, handle)


def cohort_is_free(cohort: str, root: str | Path = ".") -> None:
    """Stop with :func:`hold_cohort`'s line when another run holds the cohort (then let go).

    Raises
    ------
    InputError
        Another run holds the cohort.
    """
    lock = hold_cohort(cohort, root)
    if lock is not None:
        lock.release()


def busy_message(cohort: str, holder: str) -> str:
    """The one line a second run of a cohort gets."""
    who = f" ({holder})" if holder else ""
    return (f"another run is analysing cohort '{cohort}' in this project directory{who}: wait "
            "for it to finish (or stop it), then start again. Do not use --unlock or "
            "--rerun-incomplete meanwhile; a run that crashed holds nothing, and only then may "
            "`snakemake --unlock` clear what Snakemake left.")  # fmt: skip
