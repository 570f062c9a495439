"""Bad cluster input found at start, without a cluster (part of `make test`): each is one line naming the setting or
file, before anything is written or submitted. (A partition Slurm rejects needs Slurm: tests/test_cluster_faults.py.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alal.al import config as alconfig
from alal.al.execution import check_walltimes, load_profile, parsl_scripts_on_path, task_time_limits
from alal.al.loop import Loop
from alal.errors import AlalError

sys.path.insert(0, str(Path(__file__).parent))
from cluster_support import slurm_profile  # noqa: E402
from test_al_loop import alal, tiny_config  # noqa: E402


def _one_line_error(r) -> str:
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_walltime_shorter_than_one_task_is_refused_naming_both_settings(tmp_path):
    profile = slurm_profile(tmp_path / "short.toml", "cpu", {"md": {"walltime": "00:05:00"}})
    cfg = tiny_config(tmp_path, {"execution": {"profile": str(profile)}, "trainer": {"time_limit_s": 600.0}})
    run = tmp_path / "run"
    err = _one_line_error(alal("train", str(cfg), "--run-dir", str(run), timeout=120))
    assert str(profile) in err and "executors.md.walltime = 00:05:00" in err and "trainer.time_limit_s = 600 s" in err
    assert not run.exists()
    # each task kind against its own executor; equal is fine; the local provider has no walltime
    p = load_profile(slurm_profile(tmp_path / "ok.toml", "cpu", {"md": {"walltime": "00:10:00"},
                                                                  "o": {"walltime": "00:01:00"}}, {"label": "o"}))
    limits = task_time_limits(alconfig.load(tiny_config(tmp_path, {"oracle": {"time_limit_s": 60.0}})))
    check_walltimes(p, limits)
    with pytest.raises(AlalError, match=r"executors\.o\.walltime = 00:01:00 .*oracle\.time_limit_s = 61 s"):
        check_walltimes(p, {**limits, "label": ("oracle.time_limit_s", 61.0)})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_url_is_one_line_naming_it(tmp_path):
    pytest.importorskip("psycopg2")
    url = f"postgresql://alal:secret@127.0.0.1:{_free_port()}/nowhere"
    cfg = tiny_config(tmp_path, {"run": {"database": url}})
    run = tmp_path / "run"
    err = _one_line_error(alal("train", str(cfg), "--run-dir", str(run), timeout=120))
    assert err.startswith("alal train: error: database 'postgresql://alal:***@127.0.0.1:") and "run.database" in err
    assert "cannot be reached" in err and "secret" not in err, err
    assert not (run / "manifest.json").exists()  # the same command works once the server answers


def test_a_database_of_another_run_is_refused_naming_both_runs(tmp_path):
    shared = tmp_path / "shared.db"
    cfg_path = tiny_config(tmp_path, {"run": {"database": str(shared)}})
    a, b = tmp_path / "a", tmp_path / "b"
    loop = Loop(alconfig.load(cfg_path), a, config_path=cfg_path, echo=lambda m: None)
    loop.prepare()
    loop.bootstrap()
    with pytest.raises(AlalError, match="belongs to another run") as exc:
        Loop(alconfig.load(cfg_path), b, config_path=cfg_path, echo=lambda m: None).prepare()
    assert str(a) in str(exc.value) and str(b) in str(exc.value) and str(shared) in str(exc.value)
    assert not (b / "manifest.json").exists()
    Loop(alconfig.load(cfg_path), a, config_path=cfg_path, resume=True, echo=lambda m: None).prepare()


def test_a_second_driver_of_a_run_is_refused_while_the_first_lives(tmp_path):
    cfg = tiny_config(tmp_path)
    run = tmp_path / "run"
    loop = Loop(alconfig.load(cfg), run, config_path=cfg, echo=lambda m: None)
    loop.prepare()
    loop.rd.unlock()  # as when its run() returns
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from alal.al.rundir import RunDir; "
                               f"RunDir({str(run)!r}).lock(); print('locked', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        err = _one_line_error(alal("train", str(cfg), "--resume", str(run), timeout=120))
        assert "is in use by another driver" in err and f"pid {holder.pid}" in err and str(run) in err, err
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.2)
    # the lock went with the process (even killed): the next driver takes it
    Loop(alconfig.load(cfg), run, config_path=cfg, resume=True, echo=lambda m: None).prepare()


def test_parsl_scripts_are_found_without_an_activated_venv(monkeypatch):
    bindir = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bindir, "interchange.py")):
        pytest.skip("Parsl's scripts are not beside this Python")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("interchange.py") is None
    assert parsl_scripts_on_path() is True
    assert shutil.which("interchange.py") == os.path.join(bindir, "interchange.py")
    assert parsl_scripts_on_path() is False  # once is enough
