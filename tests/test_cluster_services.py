"""The live services of `make test-cluster` themselves: a real Slurm job on the one-node cluster, a real
PostgreSQL database per test (tests/live_services.py)."""

import subprocess
import time

import pytest

pytestmark = pytest.mark.cluster


def test_slurm_runs_a_batch_job_and_a_step(live_slurm, tmp_path):
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n"
                      f"#SBATCH --partition={live_slurm.partition}\n#SBATCH --time=00:02:00\n#SBATCH --output={out}\n"
                      'echo "batch $SLURM_JOB_ID"\nsrun --ntasks 1 bash -c \'echo "step $SLURM_JOB_ID $SLURM_STEP_ID"\'\n')
    r = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, env=live_slurm.env,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    job = r.stdout.strip().split(";")[0]
    end = time.time() + 120
    while time.time() < end and job not in {j["JobId"] for j in live_slurm.finished_jobs()}:
        time.sleep(0.5)
    rec = {j["JobId"]: j for j in live_slurm.finished_jobs()}[job]
    assert rec["JobState"] == "COMPLETED" and rec["Partition"] == live_slurm.partition, rec
    text = out.read_text()
    assert f"batch {job}" in text and f"step {job} 0" in text, text
    assert job in live_slurm.job_ids_seen()


def test_each_postgres_database_is_fresh(live_postgres, live_postgres_url):
    import psycopg2

    a, b = live_postgres.new_database("x"), live_postgres.new_database("x")
    assert a != b and a.startswith("postgresql://") and b.startswith("postgresql://")
    with psycopg2.connect(a) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE t (i int)")
        cur.execute("INSERT INTO t VALUES (1)")
    with psycopg2.connect(b) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename = 't'")
        assert cur.fetchone()[0] == 0
    with psycopg2.connect(live_postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT current_user, version()")
        user, version = cur.fetchone()
    assert user == "postgres" and version.startswith("PostgreSQL")
    for url in (a, b):
        live_postgres.drop_database(url)
