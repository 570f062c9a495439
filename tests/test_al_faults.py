"""Fault injection with real processes: SIGKILL of the driver at random moments, a failing oracle."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from alal.data import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import assert_every_label_once, tiny_config  # noqa: E402

FAST = {"model": {"n_members": 2}, "trainer": {"max_epochs": 8, "patience_epochs": 4}}


def fast_config(tmp_path, overrides: dict) -> Path:
    from test_al_loop import merged

    return tiny_config(tmp_path, merged(FAST, overrides))


def leftover_processes(run: Path) -> list:
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if any(str(run) in part for part in (p.info["cmdline"] or [])):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def start(args, log):
    env = dict(os.environ, TORCHANI_NO_WARN_EXTENSIONS="1")
    return subprocess.Popen([sys.executable, "-m", "alal.cli", *args], stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True)


def timed_clean_run(args, log_path: Path) -> tuple[float, float]:
    """(seconds until the driver announces the run, seconds of work after that) of one uninterrupted run."""
    t0 = time.time()
    with open(log_path, "w") as log:
        proc = start(args, log)
        t_announced = None
        while proc.poll() is None:
            if t_announced is None and "Parsl" in log_path.read_text():
                t_announced = time.time()
            time.sleep(0.1)
    assert proc.returncode == 0, log_path.read_text()[-3000:]
    t_announced = t_announced or time.time()
    return t_announced - t0, time.time() - t_announced


def test_sigkill_the_driver_at_random_moments_and_resume(tmp_path):
    cfg = fast_config(tmp_path, {"loop": {"max_generations": 4, "retrain_every_labels": 3}})
    run = tmp_path / "run"
    rng = random.Random(20210301)
    # Kill moments scale with this machine's speed: 5 kills, each at most a sixth of the run's working time after
    # the announcement, can never let the run finish before it has been killed 5 times (a fixed 0-20 s window
    # did on a fast machine, where the whole run takes about as long).
    t_startup, t_work = timed_clean_run(["train", str(cfg), "--run-dir", str(tmp_path / "reference")],
                                        tmp_path / "reference.log")
    kills, trace = 0, []
    args = ["train", str(cfg), "--run-dir", str(run)]
    log_path = tmp_path / "driver.log"
    finished_early = 0
    with open(log_path, "a") as log:
        while kills < 5:
            offset = log_path.stat().st_size if log_path.exists() else 0
            proc = start(args, log)
            # a random moment of the driver's working life: first a random point of its start-up (imports, Parsl),
            # from the second kill on a random time after it announced the run
            delay = rng.uniform(0.5, max(t_startup, 0.6)) if kills == 0 else rng.uniform(0.0, t_work / 6)
            if kills:
                t_wait = time.time() + 120
                while time.time() < t_wait and proc.poll() is None and "Parsl" not in log_path.read_text()[offset:]:
                    time.sleep(0.2)
            try:
                rc = proc.wait(timeout=delay)
                finished_early += 1  # the run ended before the kill: resume again (a no-op) and keep going
                assert rc == 0, log_path.read_text()[-3000:]
                assert finished_early < 3, "the run finished too soon to be killed 5 times"
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                kills += 1
            # the task processes of a killed driver die with it (no orphans computing on)
            deadline = time.time() + 15
            while leftover_processes(run) and time.time() < deadline:
                time.sleep(0.3)
            orphans = leftover_processes(run)
            for p in orphans:
                p.kill()
            assert not orphans, [p.info["cmdline"] for p in orphans]
            if (run / "ase.db").is_file():
                s = assert_every_label_once(run / "ase.db", killed=True)
                trace.append((round(delay, 1), len(s.labels()), s.latest_generation()))
            # resume; a driver killed before it wrote its manifest never started a run: start it again
            args = ["train", str(cfg), "--resume" if (run / "manifest.json").is_file() else "--run-dir", str(run)]
        proc = start(args, log)
        rc = proc.wait(timeout=900)
    out = log_path.read_text()
    assert rc == 0, out[-3000:]
    s = assert_every_label_once(run / "ase.db")
    assert s.latest_generation() == 3
    assert s.count(kind="structure", status="pending") == 0
    print(f"\nkills (delay s, labels, generation) after each: {trace}; final labels {len(s.labels())}")
    (tmp_path.parent / "kill-trace.txt").write_text(repr(trace))


def test_failing_oracle_run_completes_and_records_every_failure(tmp_path):
    cfg = fast_config(tmp_path, {"loop": {"max_failure_fraction": 0.9, "max_generations": 1},
                                 "oracle": {"time_limit_s": 4.0,
                                            "faults": {"rate": 0.4, "kinds": ["exception", "nan", "hang"], "seed": 5}}})
    run = tmp_path / "run"
    env = dict(os.environ, TORCHANI_NO_WARN_EXTENSIONS="1")
    r = subprocess.run([sys.executable, "-m", "alal.cli", "train", str(cfg), "--run-dir", str(run)],
                       capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    s = assert_every_label_once(run / "ase.db")
    attempts = s.attempts()
    bad = [a for a in attempts if a.outcome != "ok"]
    outcomes = {a.outcome for a in bad}
    assert {"crash", "non_finite", "timeout"} <= outcomes, outcomes
    for a in bad:
        assert a.reason, a
        st = s.structure(a.hash)
        if a.outcome == "crash":
            assert st.status == "quarantined" and "crash" in st.reason
        else:  # retried (non_finite) or requeued (timeout); the injected fault hits first attempts only
            assert st.status == "labelled" and s.label(a.hash).attempt == 2
    assert s.latest_generation() == 0
    st = subprocess.run([sys.executable, "-m", "alal.cli", "status", str(run), "--failures"], capture_output=True,
                        text=True, timeout=120, env=env)
    assert st.returncode == 0 and "failed labelling attempts" in st.stdout and "injected fault" in st.stdout
    assert isinstance(Store(run / "ase.db"), Store)
