"""The run database: idempotent writes keyed by structure hash; two processes writing at once.

Tests taking ``run_database`` run on SQLite (make test) and on a live PostgreSQL server (make test-cluster,
tests/live_services.py): each case gets its own fresh database."""

import multiprocessing as mp

import numpy as np
import pytest

from alal.al.builder import BuilderSettings, random_cell
from alal.data import Store, structure_hash
from alal.errors import AlalError

SMALL = BuilderSettings(side_A=(6.0, 7.0), density_g_cm3=(2.0, 3.0))


def test_structure_hash_survives_a_database_round_trip(run_database):
    s = Store(run_database("a"))
    a = random_cell(3, SMALL)
    h, inserted = s.add_structure(a, source="bootstrap")
    assert inserted and h == structure_hash(a)
    assert structure_hash(s.structure_atoms(h)) == h
    b = a.copy()
    b.positions[0, 0] += 1e-3
    assert structure_hash(b) != h


def test_writes_are_idempotent(run_database):
    s = Store(run_database("a"))
    a = random_cell(4, SMALL)
    h, first = s.add_structure(a, source="bootstrap")
    _, second = s.add_structure(a.copy(), source="al")
    assert first and not second and s.count(kind="structure") == 1
    f = np.zeros((len(a), 3))
    assert s.add_label(h, a, -1.0, f, None, kvp={"split": "train", "source": "bootstrap"})
    assert not s.add_label(h, a, -2.0, f, None, kvp={"split": "train", "source": "bootstrap"})
    assert s.count(kind="label") == 1 and float(s.label(h).energy) == -1.0
    assert s.add_attempt(h, 1, "ok", "", 0.1) and not s.add_attempt(h, 1, "ok", "", 0.1)


def _writer(path, lo, hi, out):
    try:
        s = Store(path)
        for i in range(lo, hi):
            a = random_cell(i, SMALL)
            h, _ = s.add_structure(a, source="bootstrap")
            s.add_label(h, a, -float(i), np.zeros((len(a), 3)), None, kvp={"split": "train", "source": "bootstrap"})
            s.add_attempt(h, 1, "ok", "", 0.0)
            s.set_status(h, "labelled", attempts=1)
        out.put(("ok", None))
    except Exception as exc:  # noqa: BLE001
        out.put(("error", repr(exc)))


def test_two_processes_writing_the_same_database(run_database):
    path = str(run_database("shared"))
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, 0, 40, q)), ctx.Process(target=_writer, args=(path, 20, 60, q))]
    for p in procs:
        p.start()
    results = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(r[0] == "ok" for r in results), results
    s = Store(path)
    labels = s.labels()
    assert len(labels) == 60 and len({r.hash for r in labels}) == 60  # no lost rows, no duplicates
    assert s.count(kind="structure") == 60 and s.count(kind="attempt") == 60
    assert s.count(kind="structure", status="labelled") == 60
    if run_database.backend == "sqlite":
        import sqlite3

        assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_unwritable_or_bad_database_path(tmp_path):
    with pytest.raises(AlalError, match="does not exist"):
        Store(tmp_path / "missing" / "a.db")
    with pytest.raises(AlalError, match=".db"):
        Store(tmp_path / "a.sqlite")
