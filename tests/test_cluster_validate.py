"""``alal validate --execution PROFILE`` through the live one-node Slurm cluster (tests/live_services.py): the pieces
run in Slurm jobs and results.json has exactly the numbers of the local run (tests/test_validation_execution.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from conftest import needs_mishin

sys.path.insert(0, str(Path(__file__).parent))
from cluster_support import slurm_profile, worker_env_init  # noqa: E402
from test_validation_execution import MD_IGNORED, check_same_as_local  # noqa: E402

pytestmark = pytest.mark.cluster


def slurm_validate(tmp_path, live_slurm, monkeypatch, **compare) -> tuple[dict, Path]:
    """check_same_as_local through a Slurm profile; returns meta.execution and the file of started jobs."""
    marker = tmp_path.parent / f"{tmp_path.name}-jobs.txt"  # outside tmp_path: check_same_as_local lists it
    profile = slurm_profile(tmp_path.parent / f"{tmp_path.name}-slurm.toml", live_slurm.partition,
                            {"pieces": {"walltime": "00:10:00", "workers_per_node": 2, "cores_per_worker": 1,
                                        "max_blocks": 1, "worker_init": worker_env_init(marker, "pieces")}},
                            {"validate": "pieces"})
    monkeypatch.setenv("SLURM_CONF", live_slurm.env["SLURM_CONF"])
    live_slurm.watch()
    try:
        execution = check_same_as_local(profile, tmp_path, **compare)
    finally:
        live_slurm.unwatch()
    return execution, marker


@needs_mishin
@pytest.mark.timeout(600)
def test_validation_pieces_run_in_slurm_jobs_with_the_local_numbers(tmp_path, live_slurm, monkeypatch):
    t0 = time.time()
    execution, marker = slurm_validate(tmp_path, live_slurm, monkeypatch, potentials=("emt", "eam-mishin1999"),
                                       properties=("vacancy", "elastic"))
    assert execution["provider"] == "slurm" and execution["executor"] == "pieces"
    # the pieces ran in a Slurm job of our partition: its worker pool wrote the job id, squeue/jobcomp saw the job
    started = [line.split() for line in marker.read_text().splitlines() if line.strip()]
    assert started and all(lab == "pieces" and part == live_slurm.partition for _, lab, part in started), started
    job_ids = {jid for jid, _, _ in started}
    assert job_ids <= live_slurm.job_ids_seen(), (job_ids, live_slurm.job_ids_seen())
    # the pieces' processes ran on the node of that job, not in this process
    assert all(p["host"] for p in execution["pieces"]) and all(p["pid"] != os.getpid() for p in execution["pieces"])
    end = time.time() + 60  # Parsl cancelled its block at the end
    while time.time() < end and [j for j in live_slurm.squeue() if j["id"] in job_ids]:
        time.sleep(0.5)
    assert not [j for j in live_slurm.squeue() if j["id"] in job_ids], "a Slurm job outlived alal validate"
    print(f"validate through Slurm: {time.time() - t0:.0f} s (local and distributed), jobs {sorted(job_ids)}")


@needs_mishin
@pytest.mark.timeout(600)
def test_md_runs_run_as_tasks_in_slurm_jobs_with_the_local_numbers(tmp_path, live_slurm, monkeypatch):
    """heat_cool's seeds through Slurm: the piece's passes and each seed's MD run are tasks in the Slurm job."""
    t0 = time.time()
    execution, marker = slurm_validate(tmp_path, live_slurm, monkeypatch, potentials=("eam-mishin1999",),
                                       properties=("heat_cool",), ignored=MD_IGNORED)
    (piece,) = execution["pieces"]
    assert piece["passes"] == 2 and len(piece["md_runs"]) == 2
    assert all(r["host"] and r["pid"] not in (os.getpid(), piece["pid"]) for r in piece["md_runs"])
    started = [line.split() for line in marker.read_text().splitlines() if line.strip()]
    assert started and {jid for jid, _, _ in started} <= live_slurm.job_ids_seen()
    print(f"heat_cool through Slurm: {time.time() - t0:.0f} s (local and distributed)")
