"""Active learning on the live services of `make test-cluster` (tests/live_services.py): the EMT loop with its
tasks in Slurm jobs of the one-node cluster and its dataset in a PostgreSQL database (run.database)."""

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al.loop import Loop
from alal.data.journal import Journal, journal_dir

sys.path.insert(0, str(Path(__file__).parent))
from cluster_support import labels_once  # noqa: E402
from test_al_loop import alal, tiny_config  # noqa: E402

pytestmark = pytest.mark.cluster


def test_loop_keeps_its_dataset_in_postgres_and_journals_it(tmp_path, live_postgres, capsys):
    """The loop's own setup, bootstrap and label path with run.database = a postgresql:// URL (no Parsl):
    every label in PostgreSQL and in the journal, nothing in RUN/ase.db; status and resume read the server."""
    url = live_postgres.new_database("loop")
    cfg_path = tiny_config(tmp_path, {"run": {"database": url}, "loop": {"bootstrap_structures": 6}})
    run = tmp_path / "run"
    loop = Loop(alconfig.load(cfg_path), run, config_path=cfg_path, echo=lambda m: None)
    loop.prepare()
    loop.bootstrap()
    settings = loop.cfg.oracle_settings()
    for row in loop.store.structures(status="pending"):
        loop.process_label(orc.compute(row.toatoms(), row.hash, 1, settings))
    assert loop.store.url == url and not (run / "ase.db").exists()
    s = labels_once(url)
    labels = s.labels()
    assert len(labels) == 6
    j = Journal(journal_dir(run))
    assert set(j.hashes()) == {r.hash for r in labels}
    rec = j.read(labels[0].hash)
    assert rec["energy"] == labels[0].energy and np.array_equal(rec["forces"], labels[0].forces)
    st = alal("status", str(run))
    assert st.returncode == 0, st.stderr
    again = Loop(alconfig.load(cfg_path), run, config_path=cfg_path, resume=True, echo=lambda m: None)
    again.prepare()  # no RUN/ase.db and a full journal: fine, the database is the server's
    assert again.store.count(kind="label") == 6 and again.store.count(kind="session") == 2


def _profile(tmp_path: Path, partition: str) -> Path:
    """Two executors, each its own Slurm job: labelling, and sampling + training."""
    venv = Path(sys.executable).parent.parent
    activate = venv / "bin" / "activate"
    init = f"source {activate}" if activate.is_file() else f"export PATH={Path(sys.executable).parent}:$PATH"
    data = os.environ.get("ALAL_DATA_DIR", "")
    common = f'{init}; export TORCHANI_NO_WARN_EXTENSIONS=1 ALAL_OFFLINE=1{" ALAL_DATA_DIR=" + data if data else ""}'
    text = "[profile]\nprovider = \"slurm\"\nsample = \"md\"\ntrain = \"md\"\nlabel = \"oracle\"\n"
    for label, workers in (("md", 2), ("oracle", 1)):
        text += (f"\n[executors.{label}]\npartition = \"{partition}\"\nnodes = 1\nwalltime = \"00:15:00\"\n"
                 f"workers_per_node = {workers}\ncores_per_worker = 1\nmax_blocks = 1\ninit_blocks = 1\n"
                 f"worker_init = '{common}; echo \"$SLURM_JOB_ID {label} $SLURM_JOB_PARTITION\" >> {tmp_path}/slurm-jobs.txt'\n")
    p = tmp_path / "cluster-local.toml"
    p.write_text(text)
    return p


@pytest.mark.timeout(900)
def test_active_learning_through_slurm_into_postgres(tmp_path, live_slurm, live_postgres, monkeypatch):
    url = live_postgres.new_database("al")
    profile = _profile(tmp_path, live_slurm.partition)
    cfg_path = tiny_config(tmp_path, {"run": {"database": url}, "execution": {"profile": str(profile)}})
    run = tmp_path / "run"
    monkeypatch.setenv("SLURM_CONF", live_slurm.env["SLURM_CONF"])  # for Parsl's sbatch/squeue/scancel
    # as from an activated virtual environment: Parsl starts its interchange (interchange.py) from PATH
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    live_slurm.watch()
    t0 = time.time()
    r = alal("train", str(cfg_path), "--run-dir", str(run), timeout=720)
    wall = time.time() - t0
    live_slurm.unwatch()
    out = r.stdout[-3000:] + r.stderr[-3000:]
    assert r.returncode == 0, out
    assert "HighThroughputExecutor (slurm, profile" in r.stdout, out
    assert "generation 0 ready" in r.stdout and "generation 1 ready" in r.stdout, out
    assert "stopped (" in r.stdout, out

    # the dataset is in PostgreSQL (and nowhere else): bootstrap and AL labels, each once, two generations
    assert not (run / "ase.db").exists()
    s = labels_once(url)
    assert s.count(kind="label", source="bootstrap") == 12
    assert s.count(kind="label") == len(Journal(journal_dir(run)).hashes()) >= 12
    assert s.latest_generation() == 1 and s.trajectories()

    # the work ran in Slurm jobs of the local cluster: each executor's worker pool started inside a job
    # (worker_init wrote $SLURM_JOB_ID), squeue saw those jobs running, jobcomp recorded them in our partition
    started = [line.split() for line in (tmp_path / "slurm-jobs.txt").read_text().splitlines() if line.strip()]
    assert {lab for _, lab, _ in started} == {"md", "oracle"}, started
    assert all(part == live_slurm.partition for _, _, part in started), started
    job_ids = {jid for jid, _, _ in started}
    assert job_ids <= live_slurm.job_ids_seen(), (job_ids, live_slurm.job_ids_seen())
    end = time.time() + 60  # Parsl cancels its blocks at the end; jobcomp has them once they are gone
    while time.time() < end and not job_ids <= {j["JobId"] for j in live_slurm.finished_jobs()}:
        time.sleep(0.5)
    done = {j["JobId"]: j for j in live_slurm.finished_jobs()}
    for jid in job_ids:
        assert done[jid]["Partition"] == live_slurm.partition and done[jid]["Name"].startswith("parsl."), done[jid]
    assert not [j for j in live_slurm.squeue() if j["id"] in job_ids], "a Slurm job outlived the run"
    # the workers of those jobs executed the tasks: Parsl's worker logs, one folder per block
    worker_logs = list((run / "parsl").glob("*/md/block-*/*/worker_*.log")) + \
        list((run / "parsl").glob("*/oracle/block-*/*/worker_*.log"))
    assert worker_logs, sorted(str(p) for p in (run / "parsl").rglob("*"))[:50]
    print(f"AL through Slurm: {wall:.0f} s, jobs {sorted(job_ids)}, {s.count(kind='label')} labels in PostgreSQL")
