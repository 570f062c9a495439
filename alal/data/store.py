"""The run database: an ASE database (``ase.db``; SQLite file or ``postgresql://`` URL) holding every
structure, label, labelling attempt, trajectory and model generation of a run.

Rows are told apart by the key ``kind``:

  ``structure``   a structure waiting for or done with the oracle: ``status`` pending | labelled | failed |
                  quarantined | dropped, ``source`` (bootstrap, al, fccmelt), ``generation`` of the model that
                  proposed it (-1: none), ``traj_id``, ``attempts``, ``reason`` of the last failure
  ``label``       the oracle's energy, forces and stress (standard ASE row columns) with ``split``
                  (train | val | test), ``source``, ``generation``, ``traj_id``, ``oracle``, ``oracle_hash``,
                  ``wall_s``, ``attempt``; the oracle settings in ``data``
  ``attempt``     one labelling attempt: ``outcome`` (ok, scf, nan, timeout, crash, invalid), ``reason``, ``wall_s``
  ``trajectory``  one sampler trajectory (its last frame as atoms; seed, schedule, why it stopped; the
                  uncertainty trace in ``data``)
  ``generation``  one training attempt of a model generation (``status`` ok | failed, errors, sizes)

Every label is also written to the run's label journal (:mod:`alal.data.journal`, ``RUN/journal/``) before its
row, when the store is opened with ``journal_dir`` (the loop does): a damaged database can be rebuilt with
``alal data rebuild RUN`` and loses no label. Opening a damaged SQLite file raises
:class:`alal.errors.DatabaseDamaged` naming that command, instead of a raw ``sqlite3.DatabaseError``.

Every write is idempotent: a row's ASE ``unique_id`` (a UNIQUE column) is built from the structure hash
(``s:HASH``, ``l:HASH``, ``a:HASH:N``) or the record's own id (``t:ID``, ``g:N:ATTEMPT``), and inserting an
existing one is a no-op. Two processes may write the same database: the database's own uniqueness
constraint decides, there is no read-then-write race and no lock file to go stale after a crash.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from alal.data.hashing import structure_hash
from alal.data import journal as jrn
from alal.errors import AlalError, DatabaseDamaged

STRUCTURE, LABEL, ATTEMPT, TRAJECTORY, GENERATION = "structure", "label", "attempt", "trajectory", "generation"


def _is_integrity_error(exc: BaseException) -> bool:
    return type(exc).__name__ in ("IntegrityError", "UniqueViolation")


def _clean_kvp(kvp: dict) -> dict:
    out = {}
    for k, v in kvp.items():
        if v is None:
            continue
        if isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, np.integer)):
            out[k] = int(v)
        elif isinstance(v, (float, np.floating)):
            out[k] = float(v)
        else:
            out[k] = str(v)
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def _with_results(atoms: Atoms, energy_eV: float, forces_eV_A, stress_eV_A3) -> Atoms:
    results = {"energy": float(energy_eV), "forces": np.asarray(forces_eV_A, dtype=float)}
    if stress_eV_A3 is not None:
        results["stress"] = np.asarray(stress_eV_A3, dtype=float)
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


class DatabaseUnreachable(AlalError):
    """The PostgreSQL server of run.database does not answer (at start, or longer than ALAL_DB_RETRY_S in a run)."""


def redact(url: str) -> str:
    """The URL without its password."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def unreachable_message(url: str, exc: BaseException, *, during: bool = False, waited_s: float = 0.0) -> str:
    why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if during:
        return (f"database '{redact(url)}' (run.database) stopped answering"
                + (f" for {waited_s:.0f} s" if waited_s else "") + f" ({why}); nothing written so far is lost: "
                "continue the run with 'alal train --resume RUN' once the server answers")
    return f"database '{redact(url)}' (run.database) cannot be reached: {why}"


def check_reachable(url: str, timeout_s: int = 10) -> None:
    """One connection to a PostgreSQL URL, or :class:`DatabaseUnreachable` naming it (one line)."""
    try:
        import psycopg2
    except ImportError as exc:
        raise AlalError(f"cannot open '{redact(url)}': {exc} (pip install ase-db-backends psycopg2-binary)") from None
    try:
        psycopg2.connect(url, connect_timeout=timeout_s).close()
    except psycopg2.Error as exc:
        raise DatabaseUnreachable(unreachable_message(url, exc)) from None


def _retry_connect(url: str, connect):
    """``connect()``, retried while the server does not answer (a restart, a failover) for up to ALAL_DB_RETRY_S
    seconds (default 120); one line on stderr when it starts and when it answers again."""
    import sys
    import time

    import psycopg2

    limit = float(os.environ.get("ALAL_DB_RETRY_S", "120"))
    t0 = time.time()
    told = False
    while True:
        try:
            con = connect()
            if told:
                print(f"database '{redact(url)}' answers again after {time.time() - t0:.0f} s", file=sys.stderr,
                      flush=True)
            return con
        except psycopg2.OperationalError as exc:
            waited = time.time() - t0
            if waited >= limit:
                raise DatabaseUnreachable(unreachable_message(url, exc, during=True, waited_s=waited)) from None
            if not told:
                why = (str(exc).strip().splitlines() or ["?"])[0]
                print(f"database '{redact(url)}' does not answer ({why}); retrying for up to {limit:.0f} s "
                      "(ALAL_DB_RETRY_S)", file=sys.stderr, flush=True)
                told = True
            time.sleep(min(1.0, max(0.0, limit - waited)))


class Store:
    """Typed, idempotent access to a run database (see the module docstring for the row kinds)."""

    def __init__(self, url: str | os.PathLike, *, journal_dir: str | os.PathLike | None = None, check: bool = True):
        """``journal_dir``: the run's label journal (RUN/journal): every label is written there before its row,
        records missing for labels already in the database are written now (runs older than the journal), and a
        missing database is refused while the journal holds labels. ``check``: run SQLite's ``quick_check`` on
        an existing file and raise :class:`DatabaseDamaged` (naming ``alal data rebuild``) when it fails."""
        import ase.db

        self.url = str(url)
        self.is_postgres = self.url.startswith(("postgresql://", "postgres://"))
        self.journal = jrn.Journal(journal_dir) if journal_dir is not None else None
        if not self.is_postgres:
            path = Path(self.url)
            if path.suffix != ".db":
                raise AlalError(f"database '{path}' must be an SQLite file ending in .db or a postgresql:// URL")
            if not path.parent.is_dir():
                raise AlalError(f"database folder '{path.parent}' does not exist")
            if not os.access(path.parent, os.W_OK):
                raise AlalError(f"database folder '{path.parent}' is not writable")
            empty = not path.exists() or (path.is_file() and path.stat().st_size == 0)
            if empty and self.journal is not None and check:
                n = self.journal.count()
                if n:
                    raise DatabaseDamaged(jrn.missing_message(path, n, "is missing" if not path.exists() else "is empty"))
            if check and not empty:
                problem = jrn.sqlite_problem(path)
                if problem:
                    raise DatabaseDamaged(self._damaged(problem))
        if self.is_postgres:
            check_reachable(self.url)
        try:
            # no ASE lock file: it would go stale after a SIGKILL; SQLite's own locking serialises writers
            self.db = ase.db.connect(self.url, use_lock_file=False) if not self.is_postgres else ase.db.connect(self.url)
        except ImportError as exc:  # postgresql needs ase-db-backends and psycopg2
            raise AlalError(f"cannot open '{self.url}': {exc} (pip install ase-db-backends psycopg2-binary)") from None
        if self.is_postgres:
            self._postgres_setup()
        if not self.is_postgres:
            # ASE creates the tables on first use without a transaction; two processes opening a new file
            # at once must not both try. flock is released by the kernel when a process dies (never stale).
            import fcntl

            with open(self.url + ".init-lock", "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    with self._guard():
                        self.db.count()
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        if self.journal is not None:
            with self._guard():
                jrn.backfill(self, self.journal)

    def _postgres_setup(self) -> None:
        """Two fixes for concurrent writers of one PostgreSQL database (ase-db-backends as it is): the id of a new
        row is the session's own ``currval`` of the id sequence, not the sequence's global ``last_value`` (which is
        another writer's row when two insert at once: the key-value pairs would land on that row); and the
        tables are created on first use under an advisory lock, by one process only."""
        import psycopg2

        def last_id(cur) -> int:
            cur.execute("SELECT currval('systems_id_seq')")
            return int(cur.fetchone()[0])

        self.db.get_last_id = last_id
        connect = self.db._connect  # a new connection per operation: a restarted server is simply reconnected

        def reconnecting():
            return _retry_connect(self.url, connect)

        self.db._connect = reconnecting
        with contextlib.closing(psycopg2.connect(self.url)) as con:  # the lock goes with this session
            con.autocommit = True
            con.cursor().execute("SELECT pg_advisory_lock(4417011)")  # an arbitrary key, the same in every process
            self.db.count()

    def _damaged(self, problem: str) -> str:
        if self.is_postgres:
            return f"database {self.url} cannot be read ({problem})"
        return jrn.damaged_message(Path(self.url), problem, self.journal.root if self.journal else None)

    @contextlib.contextmanager
    def _guard(self):
        """A damaged SQLite file surfaces as :class:`DatabaseDamaged` with the repair command, not a traceback; a
        PostgreSQL server lost in the middle of an operation as one line naming the URL."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if not jrn.is_damage(exc):
                raise
            raise DatabaseDamaged(self._damaged(str(exc))) from exc
        except Exception as exc:  # noqa: BLE001
            if self.is_postgres and type(exc).__name__ in ("OperationalError", "InterfaceError"):
                raise DatabaseUnreachable(unreachable_message(self.url, exc, during=True)) from exc
            raise

    def _rows(self, **query) -> list:
        with self._guard():
            return list(self.db.select(**query))

    # ------------------------------------------------------------------------------------------ core

    def insert(self, unique_id: str, atoms: Atoms | None, kvp: dict, data: dict | None = None, *,
               ctime: float | None = None, user: str | None = None) -> int | None:
        """Insert a row unless one with ``unique_id`` exists; return the new id or None. ``ctime`` and ``user``
        (default: now, this user) let a rebuilt row keep its original ones."""
        from ase.db.core import now
        from ase.db.row import AtomsRow

        row = AtomsRow(atoms if atoms is not None else Atoms())
        row.unique_id = unique_id
        row.ctime = now() if ctime is None else float(ctime)
        row.user = user or _user()
        try:
            with self._guard():
                return self.db.write(row, key_value_pairs=_clean_kvp(kvp), data=data or {})
        except Exception as exc:  # noqa: BLE001
            if _is_integrity_error(exc):
                return None
            raise

    def get(self, unique_id: str):
        """The row with ``unique_id``, or None."""
        with self._guard():
            for row in self.db.select(unique_id=unique_id, limit=1):
                return row
        return None

    def update(self, unique_id: str, data: dict | None = None, **kvp) -> bool:
        row = self.get(unique_id)
        if row is None:
            return False
        with self._guard():
            self.db.update(row.id, data=data, **_clean_kvp(kvp))
        return True

    def count(self, **query) -> int:
        with self._guard():
            return self.db.count(**query)

    def select(self, **query) -> Iterator:
        with self._guard():
            yield from self.db.select(**query)

    # ------------------------------------------------------------------------------------ structures

    def add_structure(self, atoms: Atoms, *, source: str, generation: int = -1, traj_id: str = "",
                      status: str = "pending", **kvp) -> tuple[str, bool]:
        """Queue a structure for the oracle; returns (hash, inserted)."""
        h = structure_hash(atoms)
        clean = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=atoms.pbc)
        fields = dict(kind=STRUCTURE, hash=h, status=status, source=source, generation=int(generation),
                      traj_id=traj_id, attempts=0)
        fields.update(kvp)
        inserted = self.insert(f"s:{h}", clean, fields) is not None
        return h, inserted

    def structure(self, h: str):
        return self.get(f"s:{h}")

    def set_status(self, h: str, status: str, **kvp) -> None:
        if not self.update(f"s:{h}", status=status, **kvp):
            raise KeyError(f"no structure {h} in {self.url}")

    def structures(self, **query) -> list:
        return self._rows(kind=STRUCTURE, **query)

    def structure_atoms(self, h: str) -> Atoms:
        row = self.structure(h)
        if row is None:
            raise KeyError(h)
        return row.toatoms()

    # ---------------------------------------------------------------------------------------- labels

    def add_label(self, h: str, atoms: Atoms, energy_eV: float, forces_eV_A: np.ndarray,
                  stress_eV_A3: np.ndarray | None, *, kvp: dict, data: dict | None = None) -> bool:
        """Store one label (idempotent: a second label of the same structure is ignored). Returns inserted.

        With a journal, the label's journal record is written (atomically) before the row: a label is never in
        the database without being in the journal."""
        from ase.db.core import now

        a = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=atoms.pbc)
        fields = dict(kind=LABEL, hash=h)
        fields.update(kvp)
        fields = _clean_kvp(fields)
        ctime, user = now(), _user()
        if self.journal is not None and not self.journal.has(h):
            try:
                existing, srow = self.label(h), self.structure(h)
            except DatabaseDamaged:  # the label is journaled all the same; the insert below then fails loudly
                existing, srow = None, None
            if existing is not None:  # labelled before the journal existed: journal what the database holds
                self.journal.write(jrn.record_from_row(existing, srow))
                return False
            self.journal.write(jrn.make_record(h, a, energy_eV, forces_eV_A, stress_eV_A3, fields, data, ctime=ctime,
                                               user=user, structure=jrn.structure_part(srow)))
        return self.insert(f"l:{h}", _with_results(a, energy_eV, forces_eV_A, stress_eV_A3), fields, data,
                           ctime=ctime, user=user) is not None

    def insert_label_record(self, rec: dict) -> bool:
        """Insert the label row of a journal record exactly as it was first written (``alal data rebuild``)."""
        a = _with_results(jrn.record_atoms(rec), rec["energy"], rec["forces"], rec.get("stress"))
        return self.insert(f"l:{rec['hash']}", a, rec["kvp"], rec.get("data") or {}, ctime=rec["ctime"],
                           user=rec.get("user") or None) is not None

    def label(self, h: str):
        return self.get(f"l:{h}")

    def labels(self, *, sources: tuple[str, ...] | None = None, split: str | None = None) -> list:
        query: dict[str, Any] = {"kind": LABEL}
        if split:
            query["split"] = split
        rows = self._rows(**query)
        if sources is not None:
            rows = [r for r in rows if r.get("source") in sources]
        rows.sort(key=lambda r: r.id)
        return rows

    # -------------------------------------------------------------------------------------- attempts

    def add_attempt(self, h: str, attempt: int, outcome: str, reason: str, wall_s: float, **kvp) -> bool:
        fields = dict(kind=ATTEMPT, hash=h, attempt=int(attempt), outcome=outcome, reason=reason[:500],
                      wall_s=float(wall_s))
        fields.update(kvp)
        return self.insert(f"a:{h}:{attempt}", None, fields) is not None

    def attempts(self, h: str | None = None) -> list:
        query = {"kind": ATTEMPT}
        if h:
            query["hash"] = h
        return sorted(self._rows(**query), key=lambda r: (r.get("hash"), r.get("attempt")))

    # ---------------------------------------------------------------------------------- trajectories

    def add_trajectory(self, traj_id: str, final_atoms: Atoms | None, kvp: dict, data: dict) -> bool:
        fields = dict(kind=TRAJECTORY, traj_id=traj_id)
        fields.update(kvp)
        atoms = None
        if final_atoms is not None:
            atoms = Atoms(final_atoms.numbers, positions=final_atoms.get_positions(), cell=final_atoms.cell,
                          pbc=final_atoms.pbc)
        return self.insert(f"t:{traj_id}", atoms, fields, data) is not None

    def trajectories(self) -> list:
        return sorted(self._rows(kind=TRAJECTORY), key=lambda r: (r.get("finished_at", 0.0), r.id))

    # ------------------------------------------------------------------------------------------ owner

    def owner(self) -> dict | None:
        """The run this database belongs to ({"run_id", "run_dir"}), or None when no run claimed it yet."""
        row = self.get("run")
        return None if row is None else {"run_id": row.get("run_id"), "run_dir": row.get("run_dir")}

    def check_owner(self, run_id: str | None, run_dir) -> None:
        """Refuse a database that holds another run: one claimed by another run id, or (for a new run, ``run_id``
        None) one that already holds structures. Names both runs."""
        owner = self.owner()
        where = f"database '{redact(self.url)}' (run.database)"
        if owner is not None and owner["run_id"] != run_id:
            raise AlalError(f"{where} belongs to another run (run id {owner['run_id']}, run directory "
                            f"'{owner['run_dir']}'), not to run directory '{run_dir}'"
                            + (f" (run id {run_id})" if run_id else " (a new run)")
                            + ": give each run its own database")
        if owner is None and run_id is None:
            n = self.count(kind=STRUCTURE)
            if n:
                raise AlalError(f"{where} already holds {n} structures of another run, and run directory '{run_dir}' "
                                "is a new run: give each run its own database (or resume the run that wrote it)")

    def claim(self, run_id: str, run_dir) -> None:
        """Record which run this database belongs to (kept on first claim; see :meth:`check_owner`)."""
        self.insert("run", None, {"kind": "run", "run_id": run_id, "run_dir": str(run_dir)})

    # ----------------------------------------------------------------------------------- generations

    def add_generation(self, generation: int, attempt: int, kvp: dict, data: dict | None = None) -> bool:
        fields = dict(kind=GENERATION, generation=int(generation), attempt=int(attempt))
        fields.update(kvp)
        return self.insert(f"g:{generation}:{attempt}", None, fields, data) is not None

    def generations(self, status: str | None = None) -> list:
        query = {"kind": GENERATION}
        if status:
            query["status"] = status
        return sorted(self._rows(**query), key=lambda r: (r.get("generation"), r.get("attempt")))

    def latest_generation(self) -> int:
        """The newest generation trained successfully (-1 before generation 0)."""
        gens = self.generations(status="ok")
        return max((int(r.generation) for r in gens), default=-1)

