"""The MD runs of a validation piece as execution-layer tasks of their own (``alal validate --execution``).

A property such as ``melting`` or ``heat_cool`` creates independent MD runs (seeds, pressures) inside its
``compute`` and combines them there (:func:`validation.md.parallel.run_jobs`); the next round of runs may depend
on the results of the previous one (melting guesses the next pressure's temperature from the last). To spread
the runs over a cluster without splitting every property into plan/run/combine phases, a piece runs in passes:

1. the piece runs from the start with a :class:`ReplayRunner`; the first ``run_jobs`` call whose results are not
   known yet raises :class:`JobsNeeded`, and the piece writes those jobs to a file instead of a result;
2. the driver (:mod:`validation.distributed`) runs every job as a task of its own (:func:`run_job` in a child
   process on a worker), each writing its return value to a file;
3. the piece runs again from the start: calls already answered return the stored results (in call order, checked
   by function name and job count), and the next unanswered call repeats step 1, until the piece completes.

What is computed before the runs (the lattice relaxation, the throughput probe behind budget decisions) is
computed again in each pass; :func:`portable_cache` hands the first pass's values to the next ones, so every
pass takes the same decisions. The runs themselves rebuild the piece's MD engine from the potential's spec in
their own process: a job names the engine with :data:`ENGINE` instead of carrying it.
"""

from __future__ import annotations

import importlib
import os
import pickle
import socket
import time
from pathlib import Path
from typing import Callable

from alal.errors import AlalError

ENGINE = "__validation_piece_md_engine__"  # stands for the piece's MD engine inside a job's keyword arguments
MAX_PASSES = 64  # a property with more rounds of runs than this is a bug (each pass must answer one more call)


class JobsNeeded(Exception):
    """Raised through a property's ``compute`` when its next MD runs are not known yet (not an error)."""

    def __init__(self, fn_name: str, jobs: list[dict], prefix: str):
        super().__init__(f"{len(jobs)} MD run(s) of {fn_name} to be run as tasks")
        self.fn_name, self.jobs, self.prefix = fn_name, jobs, prefix


def function_name(fn: Callable) -> str:
    """``module:qualname``: how a job names its function (it must be module-level, as for worker processes)."""
    name = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in fn.__qualname__:
        raise AlalError(f"MD run function {name} is not module-level: it cannot run as a task")
    return name


def import_function(name: str) -> Callable:
    module, _, qualname = name.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class ReplayRunner:
    """``run_jobs`` inside a piece's pass: answered calls from ``answered``, the first unanswered one raises.

    ``answered``: one ``{"fn", "n_jobs", "results": [pickle file, ...]}`` per call, in call order.
    """

    def __init__(self, answered: list[dict]):
        self.answered = answered
        self.calls = 0

    def __call__(self, fn: Callable, jobs: list[dict], engine, progress, prefix: str) -> list:
        name = function_name(fn)
        k, self.calls = self.calls, self.calls + 1
        if k < len(self.answered):
            call = self.answered[k]
            if call["fn"] != name or call["n_jobs"] != len(jobs):
                raise AlalError(f"MD runs of this piece changed between passes: call {k + 1} was "
                                f"{call['n_jobs']} run(s) of {call['fn']}, now {len(jobs)} of {name}")
            if progress is not None:
                progress(f"{len(jobs)} MD run(s) of {fn.__name__} done as tasks of their own")
            return [read_pickle(Path(p)) for p in call["results"]]
        portable = []
        for i, job in enumerate(jobs):
            job = {key: (ENGINE if value is engine else value) for key, value in job.items()}
            try:
                pickle.dumps(job)
            except Exception as exc:  # noqa: BLE001 - whatever pickle raises, the run cannot travel
                raise AlalError(f"MD run {i + 1} of {name} cannot be sent to another process: {exc}") from exc
            portable.append(job)
        raise JobsNeeded(name, portable, prefix)


def portable_cache(cache: dict) -> dict:
    """The plain numbers and strings of a potential context's cache (lattice constant, measured throughput)."""
    return {k: v for k, v in cache.items() if isinstance(k, str) and isinstance(v, (int, float, str))
            and not isinstance(v, bool)}


def write_pickle(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def read_pickle(path: Path):
    with open(path, "rb") as fh:
        return pickle.load(fh)


def run_job(task: dict, engine_for_task: Callable[[], object]) -> dict:
    """The child process of one MD run: call the function with the job's arguments, the piece's engine rebuilt by
    ``engine_for_task``; write its return value to ``task["result"]``. Returns the run's host, pid and wall time."""
    from validation.md.parallel import PrefixPrinter

    jobs = read_pickle(Path(task["jobs"]))
    index = int(task["index"])
    job = dict(jobs[index])
    if any(value == ENGINE for value in job.values() if isinstance(value, str)):
        engine = engine_for_task()
        job = {k: (engine if isinstance(v, str) and v == ENGINE else v) for k, v in job.items()}
    fn = import_function(task["fn"])
    t0 = time.perf_counter()
    result = fn(**job, progress=PrefixPrinter(f"{task.get('prefix', '')}[run {index + 1}/{len(jobs)}] "))
    write_pickle(Path(task["result"]), result)
    return {"host": socket.gethostname(), "pid": os.getpid(), "wall_time_s": time.perf_counter() - t0}
