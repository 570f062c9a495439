"""Test configuration shared by every test module.

The external data (ANI-Al weights, Mishin 1999 EAM) is found through ALAL_DATA_DIR; when it is not set we use
../shared/data beside the repository (where CI and the Makefile keep it). Tests that need a data file are
skipped with a clear reason when it is absent, never faked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_shared = REPO.parent / "shared" / "data"
if "ALAL_DATA_DIR" not in os.environ and _shared.is_dir():
    os.environ["ALAL_DATA_DIR"] = str(_shared)
os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("ALAL_OFFLINE", "1")  # tests never download


def _have(rel: str) -> bool:
    from alal.config import data_dir

    return (data_dir() / rel).exists()


@pytest.fixture(scope="session")
def ani_al_available() -> bool:
    return _have("ani-al/model-Al-75.info")


needs_ani_al = pytest.mark.skipif(
    not _have("ani-al/model-Al-75.info"), reason="ANI-Al weights not in ALAL_DATA_DIR (see reference_data README)"
)
needs_mishin = pytest.mark.skipif(
    not _have("eam/Al99.eam.alloy"), reason="Mishin 1999 EAM file not in ALAL_DATA_DIR"
)


# ------------------------------------------------------------------------------ live services (-m cluster)
# Real daemons started by tests/live_services.py for `make test-cluster`: a one-node Slurm cluster (with munge)
# and a PostgreSQL server, each started once per session on first use and stopped by pid at the end (finalizer
# and atexit, also when a test fails). Where one cannot be had (no root, packages missing) every test that
# needs it is skipped with the one-line reason (`pytest -rs` prints it once).


@pytest.fixture(scope="session")
def live_services(request):
    import live_services as ls

    services = ls.Services()
    request.addfinalizer(services.close)
    return services


def _live(services, what: str):
    import live_services as ls

    try:
        return getattr(services, what)()
    except ls.Unavailable as exc:
        pytest.skip(f"live {what} unavailable: {exc}")


@pytest.fixture(scope="session")
def live_postgres(live_services):
    """The live PostgreSQL server (tests/live_services.Postgres): ``.new_database()``, ``.url()``, ``.port``."""
    return _live(live_services, "postgres")


@pytest.fixture(scope="session")
def live_postgres_url(live_postgres) -> str:
    """postgresql:// URL of the live server's maintenance database (make your own with live_postgres.new_database)."""
    return live_postgres.url()


@pytest.fixture(scope="session")
def live_slurm(live_services):
    """The live one-node Slurm cluster (tests/live_services.SlurmCluster): ``.env`` (SLURM_CONF), ``.partition``,
    ``.squeue()``, ``.watch()`` / ``.job_ids_seen()``, ``.finished_jobs()`` (jobcomp records)."""
    return _live(live_services, "slurm")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.cluster)])
def run_database(request, tmp_path):
    """A factory of fresh run databases of the parametrised backend: ``run_database("a")`` is ``tmp_path/a.db``
    (SQLite) or the URL of a new database on the live PostgreSQL server (CREATE DATABASE per call, dropped after
    the test). ``run_database.backend`` is "sqlite" or "postgresql"."""
    made: list[str] = []
    server = request.getfixturevalue("live_postgres") if request.param == "postgresql" else None

    def make(name: str = "a"):
        if server is None:
            return tmp_path / f"{name}.db"
        url = server.new_database(name)
        made.append(url)
        return url

    make.backend = request.param
    yield make
    for url in made:
        try:
            server.drop_database(url)
        except Exception:  # noqa: BLE001 - the server and its data directory go at the end of the session anyway
            pass
