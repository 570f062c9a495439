"""Faults on the live cluster (tests/live_services.py): the tiny EMT loop with its tasks in Slurm jobs of the one-node
cluster and its dataset in PostgreSQL, hit by what happens on a real cluster — the driver killed, worker jobs
cancelled or out of walltime, the database server restarted, a second driver, bad settings — and what each does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cluster_support import (driver_env, jobs_of, labels_once_and_journaled, run_config, run_driver,  # noqa: E402
                             start_driver, tail, two_executor_profile, wait_for_text, wait_gone)

pytestmark = pytest.mark.cluster


def started_jobs(marker: Path) -> set[str]:
    """Ids of the Slurm jobs whose worker pools started (their worker_init wrote them to ``marker``)."""
    return {line.split()[0] for line in marker.read_text().splitlines() if line.strip()} if marker.is_file() else set()


def _interchange_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"interchange" in fh.read()
    except OSError:
        return False


@pytest.mark.timeout(900)
def test_driver_killed_with_jobs_in_flight_resumes_and_a_second_driver_is_refused(tmp_path, live_slurm,
                                                                                   live_postgres):
    """SIGKILL of `alal train` while its Slurm jobs run generation 0's training: a second driver of the run is
    refused while the first lives; `--resume` cancels the killed driver's jobs (and its orphaned interchange),
    collects what finished and completes, with every journaled label in PostgreSQL once."""
    url = live_postgres.new_database("kill")
    profile = two_executor_profile(tmp_path / "profile.toml", live_slurm.partition)
    cfg = run_config(tmp_path, url, profile, {"loop": {"max_generations": 2}})
    run = tmp_path / "run"
    env = driver_env(live_slurm)
    log1 = tmp_path / "driver1.log"
    first = start_driver(["train", str(cfg), "--run-dir", str(run)], log1, env)
    try:
        wait_for_text(log1, "bootstrap: 12 random cells queued", first, timeout=300)
        # a second driver of the same run, while the first is alive, is refused with one line
        second = subprocess.run([str(Path(sys.executable).parent / "alal"), "train", str(cfg), "--resume", str(run)],
                                capture_output=True, text=True, env=env, timeout=120)
        assert second.returncode == 2, second.stdout[-2000:] + second.stderr[-2000:]
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and "is in use by another driver" in err[0] and f"pid {first.pid}" in err[0], err
        # the kill: generation 0 training or later (sampling, labels, generation 1) in the driver's Slurm jobs
        wait_for_text(log1, "trainer: generation 0 (attempt 1)", first, timeout=300)
        assert first.poll() is None, tail(log1)
        in_flight = jobs_of(live_slurm, run)
        running = {j["id"] for j in live_slurm.squeue()} & in_flight
        assert running, (in_flight, live_slurm.squeue())
        interchanges = [json.loads(x)["interchange_pid"] for x in (run / "parsl" / "jobs.jsonl").read_text().splitlines()
                        if "interchange_pid" in x]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    # nothing cancelled the killed driver's jobs: they (and its interchange) are still there
    assert {j["id"] for j in live_slurm.squeue()} & running, "the killed driver's jobs ended by themselves"

    log2 = tmp_path / "driver2.log"
    rc = run_driver(["train", str(cfg), "--resume", str(run)], log2, env, timeout=500)
    out = tail(log2, 6000)
    assert rc == 0, out
    assert "resume: cancelled the batch jobs of an earlier driver of this run" in out, out
    assert all(jid in out for jid in running), (running, out)
    assert "generation 1 ready" in out and "stopped (" in out, out
    assert not wait_gone(live_slurm, in_flight | jobs_of(live_slurm, run), 60), "a Slurm job outlived the run"
    assert not any(_interchange_alive(p) for p in interchanges), "the killed driver's interchange still runs"
    s = labels_once_and_journaled(url, run)
    assert s.count(kind="label", source="bootstrap") == 12 and s.latest_generation() == 1
    cancelled = {j["JobId"]: j for j in live_slurm.finished_jobs()}
    assert all(cancelled.get(jid, {}).get("JobState") == "CANCELLED" for jid in running), \
        [cancelled.get(j) for j in running]


@pytest.mark.timeout(900)
def test_worker_jobs_cancelled_or_out_of_walltime_have_their_tasks_retried(tmp_path, live_slurm, live_postgres):
    """The labelling executor's jobs have a 1-minute walltime and every first labelling attempt hangs until
    oracle.time_limit_s (40 s): a batch of attempts outlives its job, Slurm kills the job at its walltime, the tasks
    of that job are lost (the heartbeat stops), their attempts recorded as lost and requeued, and a new job labels
    them. While generation 0 trains, its job is cancelled with scancel: the training attempt is recorded as failed
    and retried in a new job. The run completes with every structure labelled once."""
    url = live_postgres.new_database("jobs")
    profile = two_executor_profile(tmp_path / "profile.toml", live_slurm.partition,
                                   oracle={"walltime": "00:01:00", "workers_per_node": 2, "heartbeat_threshold_s": 12},
                                   md={"heartbeat_threshold_s": 12}, marker=tmp_path / "jobs.txt")
    cfg = run_config(tmp_path, url, profile, {
        "oracle": {"time_limit_s": 40.0},
        "oracle.faults": {"rate": 1.0, "kinds": ["hang"], "only_first_attempt": True}})
    run = tmp_path / "run"
    log = tmp_path / "driver.log"
    driver = start_driver(["train", str(cfg), "--run-dir", str(run)], log, driver_env(live_slurm))
    try:
        wait_for_text(log, "trainer: generation 0 (attempt 1)", driver, timeout=420)
        train_log = run / "work" / "train" / "gen-000" / "task-attempt1.log"  # the task runs in its job
        end = time.time() + 120
        while time.time() < end and not train_log.exists():
            time.sleep(0.2)
        md_jobs = [j for j in live_slurm.squeue() if ".md." in j["name"] and j["state"] == "R"]
        assert md_jobs and train_log.exists(), (live_slurm.squeue(), tail(log))
        cancelled = md_jobs[0]["id"]
        r = subprocess.run(["scancel", cancelled], env=live_slurm.env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rc = driver.wait(timeout=420)
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGINT)
            driver.wait(timeout=60)
    out = tail(log, 8000)
    assert rc == 0, out
    assert "generation 0 ready" in out and "stopped (" in out, out
    s = labels_once_and_journaled(url, run)
    assert s.count(kind="label", source="bootstrap") == 12 and s.latest_generation() == 0
    outcomes = [a.outcome for a in s.attempts()]
    assert "lost" in outcomes, outcomes  # tasks of the job killed at its walltime
    lost = [a for a in s.attempts() if a.outcome == "lost"]
    assert all("ManagerLost" in a.get("reason", "") or "lost" in a.get("reason", "") for a in lost), \
        [a.get("reason") for a in lost]
    gens = s.generations()
    assert [g.get("status") for g in gens] == ["failed", "ok"], [(g.get("status"), g.get("reason")) for g in gens]
    done = {j["JobId"]: j for j in live_slurm.finished_jobs()}
    assert done[cancelled]["JobState"] == "CANCELLED", done[cancelled]
    mine = started_jobs(tmp_path / "jobs.txt")
    assert any(done.get(j, {}).get("JobState") == "TIMEOUT" for j in mine), [done.get(j) for j in mine]
    assert not wait_gone(live_slurm, mine, 60), "a Slurm job outlived the run"


@pytest.mark.timeout(900)
def test_database_restart_mid_run_stops_with_one_line_and_resume_completes(tmp_path, live_slurm, live_postgres):
    """The PostgreSQL server is restarted (down 8 s) while the bootstrap is being labelled. The driver retries
    for ALAL_DB_RETRY_S (2 s here; 120 s by default, which rides out a restart), then stops with one line naming the
    URL, cancelling its jobs; `--resume` with the server back completes the run with nothing lost."""
    url = live_postgres.new_database("restart")
    profile = two_executor_profile(tmp_path / "profile.toml", live_slurm.partition, marker=tmp_path / "jobs.txt")
    cfg = run_config(tmp_path, url, profile)
    run = tmp_path / "run"
    env = driver_env(live_slurm, ALAL_DB_RETRY_S=2)
    log1 = tmp_path / "driver1.log"
    first = start_driver(["train", str(cfg), "--run-dir", str(run)], log1, env)
    try:
        wait_for_text(log1, "bootstrap: 12 random cells queued", first, timeout=300)
        time.sleep(1)
        live_postgres.restart(down_s=8)
        rc = first.wait(timeout=300)
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)
    out = tail(log1, 6000)
    if rc == 0:  # the restart fell between two database operations: nothing to report, the run just went on
        pytest.fail(f"the driver never met the restart:\n{out}")
    assert rc == 2, out
    errors = [x for x in out.splitlines() if x.startswith("alal train: error:")]
    assert len(errors) == 1 and "Traceback" not in out, out
    assert errors[0].startswith("alal train: error: database '") and url.split("@")[1] in errors[0], errors
    assert "stopped answering" in errors[0] and "--resume" in errors[0], errors
    first_jobs = started_jobs(tmp_path / "jobs.txt")
    assert first_jobs and not wait_gone(live_slurm, first_jobs, 60), "the stopped driver left a Slurm job"

    log2 = tmp_path / "driver2.log"
    rc = run_driver(["train", str(cfg), "--resume", str(run)], log2, driver_env(live_slurm), timeout=500)
    out2 = tail(log2, 6000)
    assert rc == 0, out2
    assert "generation 0 ready" in out2 and "stopped (" in out2, out2
    s = labels_once_and_journaled(url, run)
    assert s.count(kind="label", source="bootstrap") == 12 and s.latest_generation() == 0


@pytest.mark.timeout(300)
def test_store_rides_out_a_short_restart(tmp_path, live_postgres):
    """With the default retry (ALAL_DB_RETRY_S = 120 s) a store operation during a restart waits and goes on."""
    import threading

    from alal.data import Store

    url = live_postgres.new_database("ride")
    s = Store(url)
    s.insert("x:1", None, {"kind": "note"})
    got = {}

    def during():  # a store operation while the server is down
        got["count"] = s.count(kind="note")
        got["insert"] = s.insert("x:2", None, {"kind": "note"})

    live_postgres.stop_server()
    t = threading.Thread(target=during)
    try:
        t.start()
        time.sleep(3)
        assert t.is_alive()  # waiting for the server, not failed
    finally:
        live_postgres.start_server()  # from the main thread (see live_services.Postgres.start_server)
    t.join(timeout=60)
    assert got["count"] == 1 and got["insert"] is not None, got
    assert s.count(kind="note") == 2


def test_a_partition_slurm_rejects_is_one_line_naming_it_and_the_profile(tmp_path, live_slurm, live_postgres):
    url = live_postgres.new_database("part")
    profile = two_executor_profile(tmp_path / "profile.toml", "no-such-partition")
    cfg = run_config(tmp_path, url, profile)
    run = tmp_path / "run"
    r = subprocess.run([str(Path(sys.executable).parent / "alal"), "train", str(cfg), "--run-dir", str(run)],
                       capture_output=True, text=True, env=driver_env(live_slurm), timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert str(profile) in err[0] and "partition = 'no-such-partition'" in err[0] and "Slurm rejects" in err[0], err
    assert not run.exists()  # refused before anything was written or submitted
    assert not [j for j in live_slurm.squeue() if j["partition"] == "no-such-partition"]


def test_a_database_of_another_run_is_refused_naming_both(tmp_path, live_postgres):
    from alal.al import config as alconfig
    from alal.al.loop import Loop
    from alal.errors import AlalError

    from test_al_loop import tiny_config

    url = live_postgres.new_database("owner")
    cfg_path = tiny_config(tmp_path, {"run": {"database": url}})
    a, b = tmp_path / "a", tmp_path / "b"
    loop = Loop(alconfig.load(cfg_path), a, config_path=cfg_path, echo=lambda m: None)
    loop.prepare()
    loop.bootstrap()
    with pytest.raises(AlalError) as exc:
        Loop(alconfig.load(cfg_path), b, config_path=cfg_path, echo=lambda m: None).prepare()
    msg = str(exc.value)
    assert "belongs to another run" in msg and str(a) in msg and str(b) in msg and url.split("@")[1] in msg, msg
    assert not (b / "manifest.json").exists()
    again = Loop(alconfig.load(cfg_path), a, config_path=cfg_path, resume=True, echo=lambda m: None)
    again.prepare()  # its own database: fine
    assert again.store.count(kind="structure") == 12
