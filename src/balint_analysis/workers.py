"""Worker processes that never outlive the process that started them.

A forked :class:`~concurrent.futures.ProcessPoolExecutor` worker waits on its task pipe, and
every worker holds a copy of that pipe's write end (fork copies file descriptors), so when the
parent is killed (SIGKILL, out-of-memory killer) no end-of-file ever arrives: the workers wait
forever under pid 1, each holding a copy of the cohort's data. :func:`die_with_parent` makes a
worker end when its parent ends; :func:`map_in_processes` runs a pool whose workers all do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from balint_analysis.errors import InputError

PR_SET_PDEATHSIG = 1  # linux/prctl.h
WATCH_INTERVAL_SECONDS = 0.2


def die_with_parent(parent_pid: int, use_prctl: bool = True) -> str:
    """End this process (SIGKILL) as soon as the process ``parent_pid`` ends.

    Parameters
    ----------
    parent_pid : int
        The pid of the parent as the parent saw it before forking (``os.getpid()`` there).
    use_prctl : bool
        Ask the Linux kernel (``prctl(PR_SET_PDEATHSIG, SIGKILL)``). False, or where that is
        not available: a daemon thread checks ``os.getppid()`` every
        :data:`WATCH_INTERVAL_SECONDS` instead.

    Returns
    -------
    str
        ``"prctl"`` or ``"watcher"``: the mechanism in place.

    Notes
    -----
    The parent may already have died between the fork and this call; the kernel signal would
    then never come, so the parent pid is checked after the signal is armed (an orphan's
    parent is pid 1 or a subreaper, never ``parent_pid``). The kernel signal fires when the
    *thread* that forked ends: pools must be used from a thread that outlives them (a ``with``
    block does).
    """
    mechanism = "prctl" if use_prctl and _arm_parent_death_signal() else "watcher"
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)
    if mechanism == "watcher":
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="die-with-parent").start()  # fmt: skip
    return mechanism


def _arm_parent_death_signal() -> bool:
    """``prctl(PR_SET_PDEATHSIG, SIGKILL)``; False where there is no such call (not Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def _start_worker(parent_pid: int, initializer: Callable[[], None] | None) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer()


def map_in_processes(func: Callable, tasks: Sequence[tuple], n_jobs: int,
                     initializer: Callable[[], None] | None = None, *, what: str | None = None,
                     alone: str = "work in one process") -> list:  # fmt: skip
    """``[func(*t) for t in tasks]`` in ``n_jobs`` forked workers that die with this process.

    Parameters
    ----------
    func : callable
        Applied to each task's arguments; must be picklable (a module-level function or a
        :func:`functools.partial` of one).
    tasks : sequence of tuple
        Positional arguments, one tuple per call.
    n_jobs : int
        Worker processes; at most one per task. With 1 (or no ``fork`` start method) the
        calls run in this process.
    initializer : callable, optional
        Run once in each worker after it is tied to this process.
    what, alone : str, optional
        With ``what`` (e.g. "reading the exports"), a worker that dies (killed, out of memory)
        stops the job with one line: "a process <what> ended unexpectedly …, or run the
        workflow with `--cores 1` to <alone>." Without it, ``BrokenProcessPool`` propagates.

    Returns
    -------
    list
        The results, in task order (independent of ``n_jobs``).
    """
    n_jobs = min(n_jobs, len(tasks))
    if n_jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [func(*t) for t in tasks]
    context = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_start_worker,
                                 initargs=(os.getpid(), initializer)) as pool:  # fmt: skip
            return list(pool.map(func, *zip(*tasks, strict=True)))
    except BrokenProcessPool:
        if what is None:
            raise
        raise _worker_died(what, alone) from None


def _worker_died(what: str, alone: str) -> InputError:
    """The one line of a worker that died (killed, out of memory) while doing ``what``."""
    return InputError(f"a process {what} ended unexpectedly (out of memory?): free memory, or "
                      f"run the workflow with `--cores 1` to {alone}.")  # fmt: skip


#: The tasks :func:`map_inherited` and :func:`run_beside` hand to their forked workers: a
#: fork inherits them (closures over large tables, never pickled).
_INHERITED: dict[str, Sequence[Callable[[], Any]]] = {}


def _call_inherited(index: int) -> Any:
    return _INHERITED["tasks"][index]()


def map_inherited(tasks: Sequence[Callable[[], Any]], n_jobs: int, *, what: str,
                  alone: str) -> list:  # fmt: skip
    """``[task() for task in tasks]`` in ``n_jobs`` forked workers that die with this process.

    Unlike :func:`map_in_processes`, the tasks are not pickled: each worker inherits them
    from the fork, with the tables they close over; only their results travel back.
    ``what``, ``alone``: the one line of a worker that dies (:func:`map_in_processes`).
    """
    _INHERITED["tasks"] = list(tasks)
    try:
        return map_in_processes(_call_inherited, [(i,) for i in range(len(tasks))], n_jobs,
                                what=what, alone=alone)  # fmt: skip
    finally:
        _INHERITED.clear()


def run_beside(background: Callable[[], Any], foreground: Callable[[], Any], *, what: str,
               alone: str) -> tuple[Any, Any]:  # fmt: skip
    """``(background(), foreground())``, the first in a forked worker that dies with this
    process while this process computes the second: the time of the longer of the two.

    ``background`` is inherited by the fork (it may hold large tables; nothing is pickled but
    its result, which should be small). Errors come as in ``background()`` then
    ``foreground()`` one after the other: the background's first. A worker that dies is one
    line, as in :func:`map_in_processes` (``what``, ``alone``). Without ``fork`` both run here.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return background(), foreground()
    context = multiprocessing.get_context("fork")
    _INHERITED["tasks"] = [background]
    try:
        with ProcessPoolExecutor(1, mp_context=context, initializer=_start_worker,
                                 initargs=(os.getpid(), None)) as pool:  # fmt: skip
            future = pool.submit(_call_inherited, 0)  # forks now: the worker has the task
            _INHERITED.clear()
            try:
                here, failure = foreground(), None
            except Exception as exc:  # raised after the background's own error, if any
                here, failure = None, exc
            there = future.result()
    except BrokenProcessPool:
        raise _worker_died(what, alone) from None
    finally:
        _INHERITED.clear()
    if failure is not None:
        raise failure
    return there, here
