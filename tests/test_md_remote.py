"""The plan/replay runner behind MD runs as tasks of their own (validation/md/remote.py), without Parsl: the first
unanswered ``run_jobs`` call becomes JobsNeeded with portable jobs, answered calls return their stored results in
order, a piece whose runs changed between passes is an error, and a run rebuilds its engine in its own process."""

from __future__ import annotations

import json

import pytest

from alal.errors import AlalError
from validation.md.parallel import run_jobs, use_job_runner, worker_count
from validation.md.remote import ENGINE, JobsNeeded, ReplayRunner, portable_cache, read_pickle, run_job, write_pickle


class FakeEngine:
    name = "ase"


def scaled(engine, x: float, progress=None) -> dict:
    return {"x2": 2 * x, "engine": type(engine).__name__}


def test_first_unanswered_call_asks_for_its_runs_with_the_engine_left_behind():
    engine = FakeEngine()
    with use_job_runner(ReplayRunner([])):
        assert worker_count(3, engine) == 3  # the runs go out side by side
        with pytest.raises(JobsNeeded) as info:
            run_jobs(scaled, [{"engine": engine, "x": 1.0}, {"engine": engine, "x": 2.5}], engine, prefix="[p] ")
    need = info.value
    assert need.fn_name == "test_md_remote:scaled" and need.prefix == "[p] "
    assert need.jobs == [{"engine": ENGINE, "x": 1.0}, {"engine": ENGINE, "x": 2.5}]
    assert worker_count(3, engine) == 1  # the default runner again outside the block


def test_answered_calls_return_their_results_in_order_then_the_next_call_asks(tmp_path):
    engine = FakeEngine()
    files = []
    for i, value in enumerate(({"x2": 2.0}, {"x2": 5.0})):
        files.append(str(tmp_path / f"r{i}.pkl"))
        write_pickle(tmp_path / f"r{i}.pkl", value)
    runner = ReplayRunner([{"fn": "test_md_remote:scaled", "n_jobs": 2, "results": files}])
    with use_job_runner(runner):
        got = run_jobs(scaled, [{"engine": engine, "x": 1.0}, {"engine": engine, "x": 2.5}], engine)
        assert got == [{"x2": 2.0}, {"x2": 5.0}]
        with pytest.raises(JobsNeeded) as info:  # the second round: not answered yet
            run_jobs(scaled, [{"engine": engine, "x": 7.0}], engine)
    assert info.value.jobs == [{"engine": ENGINE, "x": 7.0}]


def test_runs_that_changed_between_passes_are_an_error(tmp_path):
    write_pickle(tmp_path / "r.pkl", {"x2": 2.0})
    runner = ReplayRunner([{"fn": "test_md_remote:scaled", "n_jobs": 1, "results": [str(tmp_path / "r.pkl")]}])
    with use_job_runner(runner), pytest.raises(AlalError, match="changed between passes"):
        run_jobs(scaled, [{"engine": None, "x": 1.0}, {"engine": None, "x": 2.0}], FakeEngine())


def test_runs_that_cannot_travel_are_a_clear_error():
    def local(engine, progress=None):
        return 1

    with use_job_runner(ReplayRunner([])), pytest.raises(AlalError, match="not module-level"):
        run_jobs(local, [{"engine": None}], FakeEngine())
    with use_job_runner(ReplayRunner([])), pytest.raises(AlalError, match="cannot be sent to another process"):
        run_jobs(scaled, [{"engine": None, "x": lambda: 1}], FakeEngine())


def test_a_run_rebuilds_the_engine_and_writes_its_result(tmp_path, capsys):
    write_pickle(tmp_path / "jobs.pkl", [{"engine": ENGINE, "x": 1.0}, {"engine": ENGINE, "x": 4.0}])
    task = {"fn": "test_md_remote:scaled", "jobs": str(tmp_path / "jobs.pkl"), "index": 1, "prefix": "[p] ",
            "result": str(tmp_path / "out.pkl")}
    meta = run_job(task, FakeEngine)
    assert read_pickle(tmp_path / "out.pkl") == {"x2": 8.0, "engine": "FakeEngine"}
    assert set(meta) == {"host", "pid", "wall_time_s"}
    json.dumps(meta)


def test_portable_cache_keeps_plain_numbers_and_strings_only():
    assert portable_cache({"a0": 4.05, "md:throughput": 1e5, "md:engine": FakeEngine(), "flag": True,
                           "name": "x", 3: 1.0}) == {"a0": 4.05, "md:throughput": 1e5, "name": "x"}
