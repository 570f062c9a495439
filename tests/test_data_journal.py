"""Labels survive a damaged run database: the label journal, ``alal data check`` / ``alal data rebuild``, and the
one-line message of resume and status on a damaged database (real SQLite files, real EMT labels, no mocks).

The run is made the cheap way: the loop's own setup (``Loop.prepare``), its bootstrap, and every label recorded
through ``Loop.process_label`` with the EMT oracle computed in this process (the path a finished oracle task
takes), so no Parsl, no training.
"""

import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al.loop import Loop
from alal.cli import main
from alal.data import Store
from alal.data.journal import Journal, check_run, journal_dir
from alal.errors import DatabaseDamaged

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import tiny_config  # noqa: E402

N_BOOT = 8


def _labelled_run(tmp_path: Path, name: str = "run") -> tuple[Path, Path]:
    """A run directory with N_BOOT real EMT labels written the way the loop writes them; (config, run)."""
    cfg_path = tiny_config(tmp_path, {"loop": {"bootstrap_structures": N_BOOT}})
    run = tmp_path / name
    loop = Loop(alconfig.load(cfg_path), run, config_path=cfg_path, echo=lambda m: None)
    loop.prepare()
    loop.bootstrap()
    settings = loop.cfg.oracle_settings()
    for row in loop.store.structures(status="pending"):
        loop.process_label(orc.compute(row.toatoms(), row.hash, 1, settings))
    # a few rows of the other kinds, as a run has them
    loop.store.add_trajectory("t000000", None, {"generation": 0, "t_reached_ps": 0.1, "finished_at": 1.0},
                              {"trace": [0.1, 0.2]})
    loop.store.add_generation(0, 1, {"status": "failed", "reason": "test row", "finished_at": 1.0})
    loop.store.update(loop.session_id, last_seen=time.time() - 3600)  # its driver died an hour ago
    return cfg_path, run


def _labels(db: Path) -> dict:
    s = Store(db, check=False)
    return {r.hash: (r.energy, r.forces.copy(), None if r.get("stress") is None else r.stress.copy(),
                     dict(r.key_value_pairs), r.positions.copy())
            for r in s.labels()}


def _same_labels(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for h in a:
        ea, fa, sa, ka, pa = a[h]
        eb, fb, sb, kb, pb = b[h]
        assert ea == eb, h  # bit for bit
        assert np.array_equal(fa, fb) and fa.dtype == fb.dtype
        assert (sa is None and sb is None) or np.array_equal(sa, sb)
        assert ka == kb
        assert np.array_equal(pa, pb)


def _cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out + out.err


# ---------------------------------------------------------------------------------------------- damage


def _truncate(db: Path) -> None:
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.truncate(size // 2)


def _garbage(db: Path) -> None:
    size = db.stat().st_size
    page = 4096
    n_pages = size // page
    rng = np.random.default_rng(0)
    with open(db, "r+b") as fh:
        for p in range(max(1, n_pages // 3), max(2, n_pages // 3) + 3):  # three pages in the middle, never page 1
            fh.seek(p * page)
            fh.write(rng.integers(0, 256, page, dtype=np.uint8).tobytes())


def _delete(db: Path) -> None:
    db.unlink()


DAMAGE = {"truncated": _truncate, "garbage": _garbage, "deleted": _delete}


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("journal")
    cfg_path, run = _labelled_run(base)
    return cfg_path, run


def test_every_label_is_journaled_and_check_passes(labelled_run, capsys):
    cfg_path, run = labelled_run
    s = Store(run / "ase.db")
    labels = s.labels()
    assert len(labels) == N_BOOT
    j = Journal(journal_dir(run))
    assert set(j.hashes()) == {r.hash for r in labels}
    rec = j.read(labels[0].hash)
    assert rec["energy"] == labels[0].energy and np.array_equal(rec["forces"], labels[0].forces)
    assert rec["structure"]["kvp"]["source"] == "bootstrap"
    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 0, out
    assert f"{N_BOOT} labels" in out and "ok:" in out


@pytest.mark.parametrize("how", list(DAMAGE))
def test_damaged_database_is_reported_and_rebuilt(labelled_run, tmp_path, capsys, how):
    cfg_path, run0 = labelled_run
    run = tmp_path / "run"
    shutil.copytree(run0, run)
    before = _labels(run / "ase.db")
    kinds_before = {k: Store(run / "ase.db").count(kind=k) for k in ("structure", "attempt", "trajectory", "generation")}
    DAMAGE[how](run / "ase.db")

    # check names the problem and the repair
    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 1, out
    assert ("DAMAGED" in out) or ("missing" in out)
    assert f"repair: alal data rebuild {run.resolve()}" in out

    # resume refuses with one line naming the repair, and writes nothing
    manifest = (run / "manifest.json").read_text()
    rc, out = _cli(capsys, "train", cfg_path, "--resume", run)
    assert rc == 2, out
    lines = [x for x in out.splitlines() if x.strip()]
    assert len(lines) == 1 and "alal data rebuild" in lines[0] and f"holds {N_BOOT} labels" in lines[0], out
    assert "Traceback" not in out
    assert (run / "manifest.json").read_text() == manifest

    # status: one line, exit 2 (a deleted database is refused by status.py's own check before the store opens)
    rc, out = _cli(capsys, "status", run, "--no-discovery")
    assert rc == 2 and "Traceback" not in out, out
    assert len([x for x in out.splitlines() if x.strip()]) == 1
    if how != "deleted":
        assert "is damaged" in out and f"alal data rebuild {run.resolve()}" in out, out

    # rebuild: every label back, bit for bit; the damaged file kept aside
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 0, out
    _same_labels(before, _labels(run / "ase.db"))
    aside = list(run.glob("ase.db.damaged-*"))
    assert len(aside) == (0 if how == "deleted" else 1)
    s = Store(run / "ase.db")
    # every labelled structure is labelled again (nothing goes back to the oracle); attempts are there
    assert {r.hash for r in s.structures(status="labelled")} == set(before)
    assert s.count(kind="attempt", outcome="ok") == N_BOOT
    kept = {k: s.count(kind=k) for k in kinds_before}
    assert all(kept[k] <= kinds_before[k] for k in kept)
    if how == "garbage":  # the pages hit hold index tables: every row of the old file is still read and kept
        assert kept == kinds_before
        assert list(s.trajectories()[0].data["trace"]) == [0.1, 0.2]

    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 0, out

    # the run resumes: nothing pending for the oracle, labels unchanged
    loop = Loop(alconfig.load(cfg_path), run, config_path=cfg_path, resume=True, echo=lambda m: None)
    loop.prepare()
    loop.bootstrap()
    assert loop.pending_count() == 0
    assert loop.labels_count() == N_BOOT
    _same_labels(before, _labels(run / "ase.db"))


def test_backfill_of_a_run_older_than_the_journal(labelled_run, tmp_path, capsys):
    cfg_path, run0 = labelled_run
    run = tmp_path / "old"
    shutil.copytree(run0, run)
    shutil.rmtree(journal_dir(run))
    before = _labels(run / "ase.db")
    assert check_run(run, backfill_journal=False).problems  # labels with no journal record
    # resume (the loop's store) writes the missing records from the database rows
    loop = Loop(alconfig.load(cfg_path), run, config_path=cfg_path, resume=True, echo=lambda m: None)
    loop.prepare()
    assert set(Journal(journal_dir(run)).hashes()) == set(before)
    # and so does `alal data check`
    shutil.rmtree(journal_dir(run))
    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 0 and f"{N_BOOT} records written now" in out, out
    # the backfilled journal rebuilds the run exactly
    (run / "ase.db").unlink()
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 0, out
    _same_labels(before, _labels(run / "ase.db"))


def test_journal_record_is_written_before_the_row(labelled_run, tmp_path):
    _, run0 = labelled_run
    run = tmp_path / "r"
    shutil.copytree(run0, run)
    s = Store(run / "ase.db", journal_dir=journal_dir(run))
    row = s.labels()[0]
    atoms = row.toatoms()
    atoms.positions[0, 0] += 0.123  # a new structure
    from alal.data import structure_hash

    h = structure_hash(atoms)
    forces = np.full((len(atoms), 3), 0.25)
    # the database breaks after the store was opened: the insert fails, the label is in the journal all the same
    _garbage(run / "ase.db")
    with open(run / "ase.db", "r+b") as fh:
        fh.truncate(4096)
    with pytest.raises(DatabaseDamaged, match="alal data rebuild"):
        s.add_label(h, atoms, -3.25, forces, None, kvp={"split": "train", "source": "al"})
    rec = Journal(journal_dir(run)).read(h)
    assert rec["energy"] == -3.25 and np.array_equal(rec["forces"], forces) and rec["stress"] is None
    # and the rebuild brings it back with the others
    from alal.data.journal import rebuild_run

    rebuild_run(run)
    assert Store(run / "ase.db").label(h).energy == -3.25


def test_journal_keeps_the_first_record_and_store_without_journal_works(tmp_path, run_database):
    """On SQLite and on the live PostgreSQL server (run_database); the other tests here damage SQLite files."""
    from alal.al.builder import BuilderSettings, random_cell

    a = random_cell(5, BuilderSettings(side_A=(6.0, 7.0), density_g_cm3=(2.0, 3.0)))
    s = Store(run_database("a"), journal_dir=tmp_path / "journal")
    h, _ = s.add_structure(a, source="bootstrap")
    f = np.zeros((len(a), 3))
    assert s.add_label(h, a, -1.0, f, None, kvp={"split": "train", "source": "bootstrap"})
    assert not s.add_label(h, a, -2.0, f, None, kvp={"split": "train", "source": "bootstrap"})
    assert Journal(tmp_path / "journal").read(h)["energy"] == -1.0
    assert not os.listdir(Journal(tmp_path / "journal").path(h).parent) == []
    plain = Store(run_database("b"))  # outside a run: no journal, nothing written beside it
    assert plain.journal is None and not (tmp_path / "b" / "journal").exists()


def test_rebuild_without_a_journal_keeps_the_readable_labels(labelled_run, tmp_path, capsys):
    """A run older than the journal, damaged before it was ever backfilled: the rebuild keeps every row the old
    file yields, labels included, and journals them."""
    _, run0 = labelled_run
    run = tmp_path / "nojournal"
    shutil.copytree(run0, run)
    shutil.rmtree(journal_dir(run))
    before = _labels(run / "ase.db")
    _garbage(run / "ase.db")
    rc, out = _cli(capsys, "status", run, "--no-discovery")
    assert rc == 2 and "there is no label journal" in out, out
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 0 and f"{N_BOOT} readable only in the old database" in out, out
    _same_labels(before, _labels(run / "ase.db"))
    assert set(Journal(journal_dir(run)).hashes()) == set(before)
    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 0, out


def test_check_and_rebuild_of_a_healthy_run(labelled_run, capsys):
    _, run = labelled_run
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 0 and "nothing to rebuild" in out, out
    assert not list(Path(run).glob("ase.db.*-2*"))


def test_rebuild_refuses_while_a_driver_may_be_writing(labelled_run, tmp_path, capsys):
    _, run0 = labelled_run
    run = tmp_path / "live"
    shutil.copytree(run0, run)
    s = Store(run / "ase.db")
    s.insert("session:9", None, {"kind": "session", "started": time.time(), "last_seen": time.time()})
    _garbage(run / "ase.db")
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 2 and "may still be running" in out, out
    assert (run / "ase.db").is_file() and not list(run.glob("ase.db.damaged-*"))


def test_truncated_database_keeps_the_rows_before_the_cut(labelled_run, tmp_path, capsys):
    _, run0 = labelled_run
    run = tmp_path / "big"
    shutil.copytree(run0, run)
    s = Store(run / "ase.db")
    with s.db:  # one transaction
        for i in range(1, 400):
            s.add_trajectory(f"t{i:06d}", None, {"generation": 0, "t_reached_ps": 0.1, "finished_at": 1.0 + i},
                             {"trace": list(range(50))})
    before = _labels(run / "ase.db")
    _truncate(run / "ase.db")
    rc, out = _cli(capsys, "data", "rebuild", run)
    assert rc == 0 and "could not be read" in out, out
    _same_labels(before, _labels(run / "ase.db"))
    n = Store(run / "ase.db").count(kind="trajectory")
    assert 0 < n < 400  # the rows on pages before the cut are kept, the others are gone
    rc, out = _cli(capsys, "data", "check", run)
    assert rc == 0, out
