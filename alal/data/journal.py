"""The label journal: every finished label of a run also lives in a file of its own beside the run database.

  RUN/journal/labels/<hash[:2]>/<hash>.json

One record per label, written atomically (temporary file, fsync, hard link or rename, fsync of the folder)
*before* the database row, never rewritten (the first record of a structure hash stays, as the database keeps
the first label row). A record holds everything needed to rebuild the label row exactly: the structure
(numbers, positions, cell, pbc), energy, forces, stress (or null), the key-value pairs and data of the row, its
creation time and user, and the key-value pairs of the structure row it labels (so the structure can be marked
labelled again and is not sent to the oracle a second time). Arrays are stored as ASE's JSON ``__ndarray__``
(floats written with ``repr``: reading a record back gives the same bits).

Labels are the expensive part of a run (an oracle such as DFT); the database holds them too, but a truncated or
overwritten SQLite file would take them all with it. With the journal:

  ``alal data check RUN``    integrity of the database (``PRAGMA integrity_check``, every row readable) and its
                             agreement with the journal; exit 1 on any problem, naming the repair command
  ``alal data rebuild RUN``  moves the damaged database aside (``ase.db.damaged-<timestamp>``) and builds a new
                             one: every label from the journal, plus every other row the old file still yields

Runs written before the journal existed are backfilled (missing records written from the database rows) when
the run is resumed or checked while its database is healthy.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from ase import Atoms

from alal.errors import AlalError, DatabaseDamaged

FORMAT = "alal-label-journal-v1"
JOURNAL_DIRNAME = "journal"
DB_NAME = "ase.db"


def journal_dir(run_path: str | os.PathLike) -> Path:
    """The label journal of the run in ``run_path``."""
    return Path(run_path) / JOURNAL_DIRNAME


# ---------------------------------------------------------------------------------------------- records


def make_record(h: str, atoms: Atoms, energy: float, forces, stress, fields: dict, data: dict | None, *,
                ctime: float, user: str, structure: dict | None = None, origin: str = "label") -> dict:
    """A journal record (``fields``: the label row's key-value pairs, ``kind`` and ``hash`` included)."""
    return {
        "format": FORMAT,
        "hash": h,
        "numbers": np.asarray(atoms.numbers, dtype=np.int32),
        "positions": np.asarray(atoms.get_positions(), dtype=float),
        "cell": np.asarray(atoms.cell[:], dtype=float),
        "pbc": [bool(x) for x in atoms.pbc],
        "energy": float(energy),
        "forces": np.asarray(forces, dtype=float),
        "stress": None if stress is None else np.asarray(stress, dtype=float),
        "kvp": dict(fields),
        "data": dict(data or {}),
        "ctime": float(ctime),
        "user": str(user),
        "structure": structure,
        "origin": origin,
        "written_at": time.time(),
    }


def structure_part(row) -> dict | None:
    """What a record keeps of the structure row (``row``: an ASE row or None)."""
    if row is None:
        return None
    return {"kvp": dict(row.key_value_pairs), "ctime": float(row.ctime), "user": str(row.get("user", ""))}


def record_from_row(row, structure_row=None) -> dict:
    """A journal record from a label row of the database (backfill of runs older than the journal)."""
    atoms = Atoms(row.numbers, positions=row.positions, cell=row.cell, pbc=row.pbc)
    return make_record(row.unique_id[2:], atoms, row.energy, row.forces, row.get("stress"), dict(row.key_value_pairs),
                       _plain(row.data), ctime=row.ctime, user=row.get("user", ""),
                       structure=structure_part(structure_row), origin="backfill")


def record_atoms(rec: dict) -> Atoms:
    return Atoms(np.asarray(rec["numbers"]), positions=np.asarray(rec["positions"], dtype=float),
                 cell=np.asarray(rec["cell"], dtype=float), pbc=rec["pbc"])


def _plain(d) -> dict:
    return {k: v for k, v in dict(d).items()}


class Journal:
    """The label records of one run (``root``: RUN/journal)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.labels_dir = self.root / "labels"

    def path(self, h: str) -> Path:
        return self.labels_dir / h[:2] / f"{h}.json"

    def has(self, h: str) -> bool:
        return self.path(h).is_file()

    def hashes(self) -> list[str]:
        out = []
        if not self.labels_dir.is_dir():
            return out
        for sub in os.scandir(self.labels_dir):
            if not sub.is_dir():
                continue
            for f in os.scandir(sub.path):
                if f.name.endswith(".json") and not f.name.startswith("."):
                    out.append(f.name[:-5])
        return sorted(out)

    def count(self) -> int:
        return len(self.hashes())

    def write(self, rec: dict) -> bool:
        """Write ``rec`` unless a record of its hash exists (then it is left as is). Returns written."""
        from ase.io.jsonio import encode

        path = self.path(rec["hash"])
        if path.is_file():
            return False
        new_dir = not path.parent.is_dir()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}-{time.monotonic_ns()}")
        text = encode(rec)
        try:
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)  # never replaces a record another process wrote meanwhile
            except FileExistsError:
                return False
            except OSError:  # a file system without hard links
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        _fsync_dir(path.parent)
        if new_dir:
            _fsync_dir(path.parent.parent)
        return True

    def read(self, h: str) -> dict:
        from ase.io.jsonio import object_hook

        path = self.path(h)
        try:
            rec = json.loads(path.read_text(), object_hook=object_hook)
        except (OSError, ValueError) as exc:
            raise AlalError(f"journal record '{path}' cannot be read ({exc})") from None
        if rec.get("format") != FORMAT or rec.get("hash") != h:
            raise AlalError(f"journal record '{path}' is not an {FORMAT} record of {h}")
        return rec

    def records(self) -> Iterator[dict]:
        for h in self.hashes():
            yield self.read(h)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backfill(store, journal: Journal) -> int:
    """Write the missing journal records of ``store``'s label rows (a run older than the journal). Returns the
    number written."""
    have = set(journal.hashes())
    wanted = [r.unique_id[2:] for r in store.db.select(kind="label", include_data=False, columns=["id", "unique_id"])
              if r.unique_id and r.unique_id.startswith("l:") and r.unique_id[2:] not in have]
    n = 0
    for h in wanted:
        row = store.label(h)
        if row is not None:
            n += journal.write(record_from_row(row, store.structure(h)))
    return n


# ------------------------------------------------------------------------------------- database health


def _is_busy(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def is_damage(exc: BaseException) -> bool:
    """Whether ``exc`` says the SQLite file is damaged (not merely busy)."""
    return type(exc) is sqlite3.DatabaseError  # malformed, not a database (locked, read-only, I/O: OperationalError)


def sqlite_problem(path: str | os.PathLike, *, full: bool = False) -> str | None:
    """None when the SQLite file at ``path`` passes ``PRAGMA quick_check`` (``integrity_check`` with ``full``),
    else what is wrong (one line)."""
    path = Path(path)
    try:
        con = sqlite3.connect(str(path), timeout=20)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        rows = con.execute(f"PRAGMA {'integrity_check' if full else 'quick_check'}").fetchall()
    except sqlite3.DatabaseError as exc:
        if _is_busy(exc):
            return None
        return str(exc)
    finally:
        con.close()
    msgs = [str(r[0]) for r in rows]
    if msgs == ["ok"]:
        return None
    first = " ".join(msgs[0].split())
    more = f" (and {len(msgs) - 1} more findings)" if len(msgs) > 1 else ""
    return f"database disk image is malformed: {first[:160]}{more}"


def damaged_message(db: Path, problem: str, journal_root: Path | None = None) -> str:
    db = Path(db)
    run = db.parent
    if db.name != DB_NAME and journal_root is None:  # not a run database: no run to rebuild
        return f"database {db} is damaged ({problem})"
    n = Journal(journal_root or journal_dir(run)).count()
    held = (f"the label journal holds {n} labels" if n else
            "there is no label journal (the run predates it): the rebuild keeps whatever rows can still be read")
    return f"run database {db} is damaged ({problem}): repair it with 'alal data rebuild {run}' ({held})"


def missing_message(db: Path, n_journal: int, what: str = "is missing") -> str:
    db = Path(db)
    return (f"run database {db} {what}: rebuild it with 'alal data rebuild {db.parent}' "
            f"(the label journal holds {n_journal} labels)")


def check_run_database(run_path: str | os.PathLike) -> None:
    """Raise :class:`DatabaseDamaged` (one line naming ``alal data rebuild``) when the run's database is damaged,
    or missing or empty while the label journal holds labels; return quietly otherwise."""
    run = Path(run_path)
    db = run / DB_NAME
    if not db.exists() or (db.is_file() and db.stat().st_size == 0):
        n = Journal(journal_dir(run)).count()
        if n:
            raise DatabaseDamaged(missing_message(db, n, "is missing" if not db.exists() else "is empty"))
        return
    problem = sqlite_problem(db)
    if problem:
        raise DatabaseDamaged(damaged_message(db, problem))


# ---------------------------------------------------------------------------------- reading what is left


class RowReader:
    """Every row that can still be read from a (possibly damaged) SQLite run database, in id order.

    The rows of the ``systems`` table are copied as they are stored (SQLite values, no decoding) into a clean
    scratch database (a plain scan first; where it breaks, row by row by id up to the largest id the file names;
    ``writable_schema`` lets SQLite read a truncated file up to its end), then read back through ASE one by one, so
    a damaged index table, a lost ``information`` page or one bad row costs no other row. ``unreadable`` counts the
    ids that exist but cannot be read; ``errors`` holds what went wrong (first few)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.unreadable = 0
        self.errors: list[str] = []

    def __iter__(self) -> Iterator:
        import tempfile

        import ase.db

        from alal.data.store import Store

        with tempfile.TemporaryDirectory(prefix=".salvage-", dir=self.path.parent) as tmp:
            clean = Path(tmp) / "salvage.db"
            Store(clean, check=False)  # the ASE schema
            n = self._copy_raw(clean)
            if not n:
                return
            db = ase.db.connect(str(clean), type="db", use_lock_file=False)
            con = sqlite3.connect(str(clean))
            try:
                ids = [i for (i,) in con.execute("SELECT id FROM systems ORDER BY id")]
            finally:
                con.close()
            for i in ids:
                try:
                    row = db.get(id=i)
                    _ = row.data  # data is decoded lazily: a damaged blob must fail here, not later
                    _ = row.key_value_pairs
                except Exception as exc:  # noqa: BLE001 - a row whose contents are damaged
                    self.unreadable += 1
                    self._error(f"row {i}: {type(exc).__name__}: {exc}")
                    continue
                yield row

    def _error(self, msg: str) -> None:
        if len(self.errors) < 5:
            self.errors.append(msg[:300])

    def _copy_raw(self, clean: Path) -> int:
        try:
            src = sqlite3.connect(str(self.path), timeout=20)
            src.execute("PRAGMA writable_schema=ON")  # read a truncated file up to its end instead of refusing it
            src.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            self._error(f"cannot open: {exc}")
            return 0
        dst = sqlite3.connect(str(clean))
        try:
            want = [r[1] for r in dst.execute("PRAGMA table_info(systems)")]
            try:
                names = [r[1] for r in src.execute("PRAGMA table_info(systems)")]
            except sqlite3.Error as exc:
                names = []
                self._error(f"the schema cannot be read: {exc}")
            if "id" not in names:
                self._error("no systems table: not an ASE database, or its schema page is lost")
                return 0
            cols = [c for c in names if c in want]
            idx = [names.index(c) for c in cols]
            sql = f"INSERT OR IGNORE INTO systems ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            select = f"SELECT {', '.join(names)} FROM systems"
            seen: set[int] = set()

            def put(values) -> None:
                dst.execute(sql, [values[k] for k in idx])
                seen.add(int(values[names.index("id")]))

            try:
                for values in src.execute(select):
                    put(values)
                dst.commit()
                return len(seen)
            except sqlite3.Error as exc:
                self._error(f"scan stopped after {len(seen)} rows: {exc}")
            top = self._max_id(src)
            last_good = max(seen, default=0)
            failed: list[int] = []
            i, misses = 0, 0
            while True:
                i += 1
                if top is not None and i > top:
                    break
                if top is None and i > last_good and misses >= 2000:
                    break
                if i in seen:
                    continue
                try:
                    values = src.execute(select + " WHERE id=?", (i,)).fetchone()
                except sqlite3.Error as exc:
                    failed.append(i)
                    misses += 1
                    self._error(f"row {i}: {exc}")
                    continue
                if values is None:
                    misses += 1
                    continue
                misses = 0
                last_good = max(last_good, i)
                put(values)
            self.unreadable += sum(1 for k in failed if k <= (top if top is not None else last_good))
            dst.commit()
            return len(seen)
        finally:
            src.close()
            dst.close()

    @staticmethod
    def _max_id(con) -> int | None:
        best = None
        for sql in ("SELECT seq FROM sqlite_sequence WHERE name='systems'", "SELECT max(id) FROM systems"):
            try:
                got = con.execute(sql).fetchone()
            except sqlite3.Error:
                continue
            if got and got[0] is not None:
                best = max(best or 0, int(got[0]))
        return best


# --------------------------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    run: Path
    db: Path
    db_state: str = "ok"  # ok | missing | empty | damaged
    db_problem: str = ""
    rows_by_kind: dict = field(default_factory=dict)
    unreadable_rows: int = 0
    journal_labels: int = 0
    backfilled: int = 0
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        rows = ", ".join(f"{k} {v}" for k, v in sorted(self.rows_by_kind.items())) or "none"
        lines = [f"run {self.run}"]
        if self.db_state == "ok":
            lines.append(f"  database  {self.db}: integrity ok; rows read: {rows}")
        elif self.db_state in ("missing", "empty"):
            lines.append(f"  database  {self.db}: {self.db_state}")
        else:
            lines.append(f"  database  {self.db}: DAMAGED ({self.db_problem}); rows still readable: {rows}"
                         + (f"; {self.unreadable_rows} unreadable" if self.unreadable_rows else ""))
        lines.append(f"  journal   {journal_dir(self.run)}: {self.journal_labels} labels"
                     + (f" ({self.backfilled} records written now from the database)" if self.backfilled else ""))
        for n in self.notes:
            lines.append(f"  note      {n}")
        for p in self.problems:
            lines.append(f"  problem   {p}")
        if self.problems:
            lines.append(f"repair: alal data rebuild {self.run}")
        else:
            lines.append("ok: the database is intact and agrees with the label journal")
        return "\n".join(lines)


def _run_path(run_path) -> Path:
    run = Path(run_path)
    if not run.is_dir():
        raise AlalError(f"'{run}' is not a folder (expected an alal run directory)")
    if not (run / "manifest.json").is_file() and not (run / DB_NAME).exists() and not journal_dir(run).is_dir():
        raise AlalError(f"'{run}' is not an alal run directory (no manifest.json, {DB_NAME} or {JOURNAL_DIRNAME}/)")
    return run.resolve()


def check_run(run_path: str | os.PathLike, *, backfill_journal: bool = True) -> CheckReport:
    """The health of a run's database and its agreement with the label journal (backfilling missing journal
    records first when the database is healthy)."""
    run = _run_path(run_path)
    db = run / DB_NAME
    journal = Journal(journal_dir(run))
    rep = CheckReport(run=run, db=db)
    if not db.exists() or db.stat().st_size == 0:
        rep.db_state = "missing" if not db.exists() else "empty"
        rep.journal_labels = journal.count()
        rep.problems.append(f"the database is {rep.db_state}"
                            + (f"; the journal holds {rep.journal_labels} labels to rebuild it from"
                               if rep.journal_labels else "; the journal holds no labels"))
        return rep
    problem = sqlite_problem(db, full=True)
    labels: dict[str, float] = {}
    kinds: dict[str, int] = {}
    reader = RowReader(db)
    for row in reader:
        kind = str(row.get("kind", "?"))
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "label" and row.unique_id and row.unique_id.startswith("l:"):
            labels[row.unique_id[2:]] = float(row.get("energy", float("nan")))
    rep.rows_by_kind = kinds
    rep.unreadable_rows = reader.unreadable
    if problem or reader.errors:
        rep.db_state = "damaged"
        rep.db_problem = problem or reader.errors[0]
        rep.problems.append(f"the database is damaged: {rep.db_problem}")
        if reader.errors and problem:
            rep.notes.append(f"reading rows: {reader.errors[0]}")
    elif backfill_journal:
        from alal.data.store import Store

        rep.backfilled = backfill(Store(db, check=False), journal)
    hashes = set(journal.hashes())
    rep.journal_labels = len(hashes)
    missing_in_db = sorted(hashes - set(labels))
    if missing_in_db:
        rep.problems.append(f"{len(missing_in_db)} journal labels are not in the database "
                            f"(e.g. {', '.join(h[:12] for h in missing_in_db[:3])})")
    differ = []
    for h in sorted(hashes & set(labels)):
        e = float(journal.read(h)["energy"])
        if not (e == labels[h]):
            differ.append(h)
    if differ:
        rep.problems.append(f"{len(differ)} labels have a different energy in the database and the journal "
                            f"(e.g. {', '.join(h[:12] for h in differ[:3])})")
    not_journaled = sorted(set(labels) - hashes)
    if not_journaled:
        rep.problems.append(f"{len(not_journaled)} database labels have no journal record"
                            + (" (the database is damaged, so they were not backfilled)" if rep.db_state == "damaged"
                               else ""))
    return rep


# ------------------------------------------------------------------------------------------- rebuild


def _refuse_live_driver(db: Path, rows, within_s: float = 120.0) -> None:
    """A driver that showed a sign of life recently may still be writing: rebuilding under it would lose writes."""
    now = time.time()
    for row in rows:
        if row.get("kind") == "session" and not row.get("stopped_at"):
            ago = now - float(row.get("last_seen", 0.0))
            if ago < within_s:
                raise AlalError(f"a driver of this run wrote to '{db}' {ago:.0f} s ago and may still be running: stop "
                                "it first (or wait two minutes after it died; --force skips this check)")


@dataclass
class RebuildReport:
    run: Path
    db: Path
    moved_to: Path | None = None
    labels_from_journal: int = 0
    labels_from_database: int = 0
    rows_kept: dict = field(default_factory=dict)
    rows_restored: dict = field(default_factory=dict)
    unreadable_rows: int = 0
    notes: list = field(default_factory=list)
    rebuilt: bool = True

    def text(self) -> str:
        if not self.rebuilt:
            return "\n".join([f"run {self.run}", *(f"  {n}" for n in self.notes)])
        kept = ", ".join(f"{k} {v}" for k, v in sorted(self.rows_kept.items())) or "none"
        restored = ", ".join(f"{k} {v}" for k, v in sorted(self.rows_restored.items())) or "none"
        lines = [f"run {self.run}: database rebuilt",
                 f"  old database   {'moved to ' + str(self.moved_to) if self.moved_to else 'was missing'}",
                 f"  labels         {self.labels_from_journal + self.labels_from_database} "
                 f"({self.labels_from_journal} from the journal, {self.labels_from_database} readable only in the old "
                 "database)",
                 f"  rows kept      {kept} (read from the old database)",
                 f"  rows restored  {restored} (from journal records)"]
        if self.unreadable_rows:
            lines.append(f"  lost           {self.unreadable_rows} rows of the old database could not be read "
                         "(trajectories, models and finished oracle results on disk are collected again on resume)")
        lines += [f"  note           {n}" for n in self.notes]
        lines.append(f"next: alal data check {self.run}; then continue the run with 'alal train CONFIG --resume {self.run}'")
        return "\n".join(lines)


def _write_items(new, items: list, rep: RebuildReport) -> None:
    from alal.data.store import LABEL

    for _, _, what, obj in items:
        if what == "row":
            row = obj
            try:
                new.db.write(row, key_value_pairs=dict(row.key_value_pairs), data=_plain(row.data))
            except Exception as exc:  # noqa: BLE001 - a row with damaged contents is left out
                rep.unreadable_rows += 1
                rep.notes.append(f"row {row.unique_id} left out ({type(exc).__name__}: {exc})"[:200])
                continue
            kind = str(row.get("kind", "?"))
            rep.rows_kept[kind] = rep.rows_kept.get(kind, 0) + 1
            if kind == LABEL:
                rep.labels_from_database += 1
        elif what == "structure":
            rec, st = obj
            kvp = dict(st["kvp"])
            kvp.update(status="labelled", attempts=int(rec["kvp"].get("attempt", 1)), reason="")
            new.insert(f"s:{rec['hash']}", record_atoms(rec), kvp, ctime=float(st["ctime"]), user=st.get("user") or None)
            rep.rows_restored["structure"] = rep.rows_restored.get("structure", 0) + 1
        elif what == "attempt":
            rec = obj
            lab = rec["kvp"]
            new.insert(f"a:{rec['hash']}:{int(lab.get('attempt', 1))}", None,
                       dict(kind="attempt", hash=rec["hash"], attempt=int(lab.get("attempt", 1)), outcome="ok",
                            reason="", wall_s=float(lab.get("wall_s", 0.0)), oracle_hash=lab.get("oracle_hash", ""),
                            restored="journal"),
                       ctime=float(rec["ctime"]), user=rec.get("user") or None)
            rep.rows_restored["attempt"] = rep.rows_restored.get("attempt", 0) + 1
        else:
            rec = obj
            new.insert_label_record(rec)
            rep.labels_from_journal += 1


def rebuild_run(run_path: str | os.PathLike, *, force: bool = False) -> RebuildReport:
    """A new database for the run from its label journal plus whatever rows the old database still yields;
    the old file is moved aside (``ase.db.damaged-<timestamp>``)."""
    from alal.data.store import Store

    run = _run_path(run_path)
    db = run / DB_NAME
    journal = Journal(journal_dir(run))
    rep = RebuildReport(run=run, db=db)
    exists = db.exists() and db.stat().st_size > 0
    problem = sqlite_problem(db, full=True) if exists else "missing"
    if not problem and not force:
        chk = check_run(run, backfill_journal=True)
        if chk.ok:
            rep.rebuilt = False
            rep.notes.append(f"the database is intact and agrees with the journal ({chk.journal_labels} labels): "
                             "nothing to rebuild (--force rebuilds anyway)")
            return rep
    hashes = journal.hashes()
    if not exists and not hashes:
        raise AlalError(f"cannot rebuild '{db}': it is missing and the label journal '{journal.root}' holds no labels")

    # what the old file still yields (rows other than labels the journal holds are kept as they are)
    items: list[tuple[float, int, str, object]] = []
    seq = 0
    old_rows: dict[str, object] = {}
    hash_set = set(hashes)
    reader = RowReader(db) if exists else []
    for row in reader:
        uid = row.unique_id or ""
        if uid.startswith("l:") and uid[2:] in hash_set:
            if float(row.get("energy", float("nan"))) != float(journal.read(uid[2:])["energy"]):
                rep.notes.append(f"label {uid[2:]}: the old database's energy differs from the journal's; "
                                 "the journal's (written first) is kept")
            continue
        old_rows[uid] = row
    if not force:
        _refuse_live_driver(db, old_rows.values())
    if exists:
        rep.unreadable_rows = reader.unreadable
        if reader.errors and not hashes and not old_rows:
            raise AlalError(f"cannot rebuild '{db}': no row can be read ({reader.errors[0]}) and there is no label "
                            "journal")
    for uid, row in old_rows.items():
        items.append((float(row.ctime or 0.0), seq, "row", row))
        seq += 1
    records = []
    for h in hashes:
        rec = journal.read(h)
        records.append(rec)
        lab = rec["kvp"]
        if f"s:{h}" not in old_rows:
            st = rec.get("structure") or {"kvp": {"kind": "structure", "hash": h, "source": lab.get("source", ""),
                                                  "generation": lab.get("generation", -1),
                                                  "traj_id": lab.get("traj_id", "")},
                                          "ctime": rec["ctime"], "user": rec.get("user", "")}
            items.append((float(st["ctime"]), seq, "structure", (rec, st)))
            seq += 1
        attempt = int(lab.get("attempt", 1))
        if f"a:{h}:{attempt}" not in old_rows:
            items.append((float(rec["ctime"]), seq, "attempt", rec))
            seq += 1
        items.append((float(rec["ctime"]), seq, "label", rec))
        seq += 1
    items.sort(key=lambda t: (t[0], t[1]))

    tmp = run / f"ase.rebuild-{os.getpid()}.db"
    for p in (tmp, Path(str(tmp) + "-journal"), Path(str(tmp) + ".init-lock")):
        if p.exists():
            p.unlink()
    new = Store(tmp, check=False)
    with new.db:  # one transaction: thousands of rows need not each wait for a disk sync
        _write_items(new, items, rep)
    # a structure row kept from the old file may predate its label's status update (a crash between the two)
    for rec in records:
        row = new.structure(rec["hash"])
        if row is not None and row.get("status") != "labelled":
            new.update(f"s:{rec['hash']}", status="labelled", attempts=int(rec["kvp"].get("attempt", 1)), reason="")
    # the new file must hold every journal label, bit for bit, before the old one is moved aside
    for rec in records:
        row = new.label(rec["hash"])
        if row is None or float(row.energy) != float(rec["energy"]) or not np.array_equal(row.forces, rec["forces"]):
            raise AlalError(f"rebuilding '{db}' failed: label {rec['hash']} did not come back intact "
                            f"(the new database is left at '{tmp}', the old one untouched)")
    del new

    stamp = time.strftime("%Y%m%d-%H%M%S")
    if db.exists():
        aside = run / f"{DB_NAME}.{'damaged' if problem else 'replaced'}-{stamp}"
        os.replace(db, aside)
        rep.moved_to = aside
        for suffix in ("-journal", "-wal", "-shm"):
            side = Path(str(db) + suffix)
            if side.exists():
                os.replace(side, Path(str(aside) + suffix))
    os.replace(tmp, db)
    for p in (Path(str(tmp) + ".init-lock"),):
        if p.exists():
            p.unlink()
    _fsync_dir(run)
    # labels that only the old database still had get their journal records now
    n = backfill(Store(db, check=False), journal)
    if n:
        rep.notes.append(f"{n} labels readable only in the old database were added to the journal")
    if hash_set and rep.labels_from_database:
        rep.notes.append(f"{rep.labels_from_database} labels were in the old database but not in the journal")
    return rep
