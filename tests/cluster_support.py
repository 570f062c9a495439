"""Helpers of the cluster tests (tests/test_cluster_*.py): Slurm profiles for the live one-node cluster, the tiny EMT
run with its dataset in a run database, driving `alal train` as a separate process, and the checks that no label was
lost or duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from alal.data import Store, structure_hash
from alal.data.journal import Journal, journal_dir

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import tiny_config  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def worker_env_init(marker: Path | None = None, label: str = "") -> str:
    """worker_init of a test executor: the venv's scripts and the data folder on the workers; with ``marker``, each
    worker pool appends '$SLURM_JOB_ID LABEL $SLURM_JOB_PARTITION' to it (which jobs really ran workers)."""
    data = os.environ.get("ALAL_DATA_DIR", "")
    init = (f"export PATH={VENV_BIN}:$PATH TORCHANI_NO_WARN_EXTENSIONS=1 ALAL_OFFLINE=1"
            + (f" ALAL_DATA_DIR={data}" if data else ""))
    if marker is not None:
        init += f'; echo "$SLURM_JOB_ID {label} $SLURM_JOB_PARTITION" >> {marker}'
    return init


def slurm_profile(path: Path, partition: str, executors: dict[str, dict], routes: dict[str, str] | None = None,
                  marker: Path | None = None) -> Path:
    """A Slurm profile: ``executors`` maps a label to its keys (walltime, workers_per_node, heartbeat_threshold_s,
    …; defaults: 1 node, 10 min, 1 worker of 1 core, one block); ``routes`` maps task kinds to labels."""
    import tomli_w

    doc = {"profile": {"provider": "slurm", **(routes or {})}, "executors": {}}
    for label, keys in executors.items():
        e = {"partition": partition, "nodes": 1, "walltime": "00:10:00", "workers_per_node": 1, "cores_per_worker": 1,
             "max_blocks": 1, "init_blocks": 1, **keys}
        e.setdefault("worker_init", worker_env_init(marker, label))
        doc["executors"][label] = e
    text = tomli_w.dumps(doc)
    path.write_text(text)
    return path


def two_executor_profile(path: Path, partition: str, *, oracle: dict | None = None, md: dict | None = None,
                         marker: Path | None = None) -> Path:
    """As in test_cluster_al: labelling in the 'oracle' executor's jobs, sampling and training in the 'md' one's."""
    return slurm_profile(path, partition, {"md": {"workers_per_node": 2, **(md or {})}, "oracle": oracle or {}},
                         {"sample": "md", "train": "md", "label": "oracle"}, marker)


def run_config(tmp_path: Path, database: str, profile: Path, overrides: dict | None = None) -> Path:
    """The tiny EMT run with its dataset in ``database`` and its tasks in ``profile``'s executors; one generation
    (bootstrap -> generation 0) unless ``overrides`` say otherwise."""
    over = {"run": {"database": database}, "execution": {"profile": str(profile)}, "loop": {"max_generations": 1}}
    for k, v in (overrides or {}).items():
        over[k] = {**over.get(k, {}), **v}
    return tiny_config(tmp_path, over)


def driver_env(slurm, **extra) -> dict:
    """The environment of a driver started as on a login node with the venv *not* activated: SLURM_CONF of the
    live cluster, the venv's bin not on PATH (alal finds Parsl's scripts itself)."""
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != VENV_BIN)
    env = dict(os.environ, SLURM_CONF=slurm.env["SLURM_CONF"], PATH=path, TORCHANI_NO_WARN_EXTENSIONS="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start_driver(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    """`.venv/bin/alal ARGS` (the console script, as a user would type it) with stdout+stderr into ``log``."""
    fh = open(log, "ab")
    try:
        return subprocess.Popen([str(VENV_BIN / "alal"), *args], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
    finally:
        fh.close()


def run_driver(args: list[str], log: Path, env: dict, timeout: float = 400) -> int:
    p = start_driver(args, log, env)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=60)
        raise


def wait_for_text(log: Path, text: str, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if log.is_file() and text in log.read_text(errors="replace"):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver ended (rc {proc.returncode}) before '{text}':\n{tail(log)}")
        time.sleep(0.3)
    raise AssertionError(f"no '{text}' after {timeout:.0f} s:\n{tail(log)}")


def tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log.is_file() else "(no log)"


def labels_once(database: str) -> Store:
    """Every label once (unique structure hashes), every labelled structure labelled, one ok attempt per label."""
    s = Store(database)
    labels = s.labels()
    hashes = [r.hash for r in labels]
    assert len(hashes) == len(set(hashes)), "a structure was labelled twice"
    assert {r.hash for r in s.structures(status="labelled")} == set(hashes)
    for r in labels:
        assert structure_hash(r.toatoms()) == r.hash and r.get("split") in ("train", "val", "test")
    assert s.count(kind="attempt", outcome="ok") == len(labels)
    return s


def labels_once_and_journaled(database: str, run: Path) -> Store:
    """:func:`labels_once`, and every label in the run's journal also in the database (the journal is written
    before the row: nothing the journal has may be missing)."""
    s = labels_once(database)
    hashes = [r.hash for r in s.labels()]
    journaled = set(Journal(journal_dir(run)).hashes())
    assert journaled <= set(hashes), f"labels in the journal but not in the database: {journaled - set(hashes)}"
    return s


def jobs_of(slurm, run_dir: Path) -> set[str]:
    """Batch job ids that a driver of the run recorded (RUN/parsl/jobs.jsonl, alal.al.execution)."""
    import json

    f = run_dir / "parsl" / "jobs.jsonl"
    if not f.is_file():
        return set()
    out = set()
    for line in f.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "job_id" in rec:
            out.add(rec["job_id"])
    return out


def wait_gone(slurm, ids: set[str], timeout: float = 60) -> list[dict]:
    """Wait until none of ``ids`` is in squeue; the ones still there after ``timeout``."""
    end = time.time() + timeout
    while True:
        left = [j for j in slurm.squeue() if j["id"] in ids]
        if not left or time.time() > end:
            return left
        time.sleep(0.5)
