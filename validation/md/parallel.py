"""Independent MD runs side by side: one process per run (LAMMPS is serial here), results back in order.

Only for engines that can be rebuilt in a fresh process from plain data (the LAMMPS engine: pair style and
file); ASE engines run one after another in this process, since torch already uses every core. Workers start
with ``spawn`` (never ``fork``: a forked copy of an initialised MPI/LAMMPS or torch process is unsafe), print
their own progress lines, and return plain data. ``ALAL_MD_WORKERS`` caps the number of processes.

Under ``alal validate --execution`` a piece installs another runner (:func:`use_job_runner`,
:mod:`validation.md.remote`): the runs then become execution-layer tasks of their own (Slurm jobs on a cluster).
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Callable

from alal.errors import AlalError


# The runner of this process when not the default (None): called as runner(fn, jobs, engine, progress, prefix).
_job_runner: Callable | None = None


def worker_count(n_jobs: int, engine) -> int:
    """How many of ``n_jobs`` independent runs proceed side by side (budget rules divide their cost by it)."""
    if _job_runner is not None:  # each run a task of its own: the execution layer runs them side by side
        return max(1, n_jobs)
    if engine.name != "lammps" or n_jobs < 2:
        return 1
    raw = os.environ.get("ALAL_MD_WORKERS")
    try:
        cap = int(raw) if raw else (os.cpu_count() or 1)
    except ValueError as exc:
        raise AlalError(f"ALAL_MD_WORKERS must be an integer, not '{raw}'") from exc
    return max(1, min(n_jobs, cap))


class PrefixPrinter:
    """A picklable progress callback for worker processes: prints ``prefix + message`` at once."""

    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, message: str) -> None:
        print(f"{self.prefix}{message}", flush=True)


@contextmanager
def use_job_runner(runner: Callable):
    """Within the block, :func:`run_jobs` hands its runs to ``runner(fn, jobs, engine, progress, prefix)``."""
    global _job_runner
    old, _job_runner = _job_runner, runner
    try:
        yield runner
    finally:
        _job_runner = old


def run_jobs(fn: Callable, jobs: list[dict], engine, progress=None, prefix: str = "") -> list:
    """``[fn(**job, progress=...) for job in jobs]``, in parallel processes when the engine allows it.

    ``fn`` must be a module-level function taking a ``progress`` callback; in workers it prints with ``prefix``.
    The jobs of one call are independent of each other; a property may call this several times in turn (the
    next call's jobs depending on the previous results).
    """
    if _job_runner is not None:
        return _job_runner(fn, jobs, engine, progress, prefix)
    workers = worker_count(len(jobs), engine)
    if workers == 1:
        return [fn(**job, progress=progress) for job in jobs]
    if progress is not None:
        progress(f"{len(jobs)} independent runs in {workers} processes")
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(fn, **job, progress=PrefixPrinter(f"{prefix}[run {i + 1}/{len(jobs)}] "))
                   for i, job in enumerate(jobs)]
        return [f.result() for f in futures]
