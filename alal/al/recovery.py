"""Starting and resuming a run (:func:`check_run_dir`, :func:`open_run`: the run directory, its driver lock, manifest
and database, and the config changes a resume may make), and what a driver finds on disk that its database does not
know yet: the work of tasks that finished or died while no driver was watching (``--resume`` after a crash or
``kill -9``), and of tasks the executor lost.

Tasks write their results atomically next to their task files (:mod:`alal.al.worker`), so a result file is
either complete or absent. These functions only find and read; the loop records what they return through its
usual paths (the same code that handles a task finishing under its eyes, e.g. :func:`record_label`), so a
result collected here is recorded exactly as it would have been.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al.rundir import RunDir, new_manifest, new_run_id, read_json, record_resume, write_text_atomic
from alal.al.tasks import SampleTask, atoms_from_dict, generation_record, label_record, oracle_hash
from alal.data.store import Store
from alal.errors import AlalError


def check_run_dir(rd: RunDir, resume: bool) -> None:
    """A new run needs a free run directory, a resumed one a run to continue."""
    if rd.exists() and not resume:
        raise AlalError(f"run directory '{rd.path}' already holds a run: continue it with --resume "
                        f"{rd.path}, or choose another --run-dir")
    if resume and not rd.exists():
        raise AlalError(f"nothing to resume: '{rd.path}' has no {rd.manifest_path.name}")


def open_run(rd: RunDir, cfg: alconfig.ALConfig, *, resume: bool, config_path: Path | None,
             echo: Callable[[str], None]) -> tuple[dict, Store]:
    """Create or continue the run directory and return its manifest, written back, and the run's database. On
    resume the config changes are checked (:func:`resume_changes`), recorded in the manifest and echoed, and a SQLite
    database is checked before anything is written; a new run gets a new manifest and a copy of its config file.
    The run's driver lock is taken (a second driver is refused, naming the first; :meth:`RunDir.lock`), and the
    database is opened and checked to be this run's (or no run's) before the manifest is written, then claimed."""
    manifest = rd.read_manifest() if resume else None
    changes = resume_changes(manifest["config"], cfg.to_dict()) if manifest else []
    if manifest is not None and not cfg["run.database"]:  # a damaged or lost SQLite file: one line naming 'alal data rebuild', nothing written
        from alal.data.journal import check_run_database
        check_run_database(rd.path)
    rd.create()
    rd.lock()  # one driver per run (a second one is refused, naming the first)
    if manifest is not None:
        manifest.setdefault("run_id", new_run_id())  # runs made before run ids
    store = Store(cfg["run.database"] or rd.db,  # RUN/ase.db or a postgresql:// URL
                  journal_dir=rd.path / "journal")  # labels journaled (alal.data.journal)
    store.check_owner(manifest["run_id"] if manifest else None, rd.path)  # not another run's database
    if manifest is None:
        manifest = new_manifest(cfg.to_dict(), str(config_path) if config_path else cfg.source,
                                cfg["run.seed"], cfg.oracle_settings(), oracle_hash(cfg.oracle_settings()))
        if config_path and config_path.is_file():
            write_text_atomic(rd.path / "config.toml", config_path.read_text())
    else:
        record_resume(manifest, cfg.to_dict(), changes)
        for k, o, n in changes:
            echo(f"config change applied on resume: {k} = {n!r} (was {o!r})")
    rd.write_manifest(manifest)
    store.claim(manifest["run_id"], rd.path)
    return manifest, store


def resume_changes(old: dict, new: dict) -> list[tuple]:
    """The config changes (key, old, new) from the run's config ``old`` to ``new``; an error if one of them would
    make the run's labels or models inconsistent."""
    changes = alconfig.diff(old, new)
    refused = [c for c in changes if not alconfig.is_resume_mutable(c[0])]
    if refused:
        key, was, now = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise AlalError(
            f"refusing to resume with a changed '{key}' ({was!r} -> {now!r}){more}: it would make the run's "
            "labels or models inconsistent; resume with the original value or start a new run directory"
        )
    return changes


def unrecorded_trajectories(rd: RunDir, store: Store) -> list[dict]:
    """Result payloads of trajectories that finished but are not in the database."""
    known = {r.get("traj_id") for r in store.select(kind="trajectory")}
    out = []
    for path in sorted(rd.traj_work.glob("t[0-9]*.json")):
        payload = read_json(path)
        if payload is not None and payload.get("traj_id") not in known:
            out.append(payload)
    return out


def restore_orphan_candidates(store: Store) -> None:
    """Queue the candidates of recorded trajectories that never made it into the structures (the driver died
    between the two writes)."""
    for row in store.select(kind="trajectory"):
        h = row.get("candidate_hash")
        if h and store.structure(h) is None and "candidate" in row.data:
            store.add_structure(atoms_from_dict(row.data["candidate"]), source="al", generation=int(row.generation),
                                traj_id=row.traj_id)


def finished_attempts(rd: RunDir, store: Store) -> list[orc.OracleResult]:
    """Results of the labelling attempts of pending structures that are already on disk."""
    out = []
    for row in store.structures(status="pending"):
        attempt = int(row.get("attempts", 0)) + 1
        res = orc.read_result(orc.attempt_dir(rd.oracle_work, row.hash, attempt) / "result.json")
        if res is not None:
            out.append(res)
    return out


def unregistered_models(rd: RunDir, store: Store) -> list[tuple[int, int, Path, dict]]:
    """(generation, attempt, model directory, training report) of complete models with no "ok" generation row."""
    ok = {int(r.generation) for r in store.generations(status="ok")}
    out = []
    for path in sorted(rd.models.glob("gen-*")):
        if not (path / "alal_model.json").is_file():
            continue
        gen = int(path.name.split("-")[1])
        if gen not in ok:
            report = read_json(path / "training_report.json") or {}
            out.append((gen, int(report.get("attempt", 1)), path, report))
    return out


def remove_partial_models(rd: RunDir) -> None:
    for tmp in rd.models.glob(".gen-*.tmp*"):
        shutil.rmtree(tmp, ignore_errors=True)  # a training killed half-way: its files are not a model


def next_traj_index(rd: RunDir, store: Store) -> int:
    """The first trajectory number used nowhere: not in the database, not a result file, not in a sampling task
    file (a task may still be running, or have died, with trajectories that have no result yet; reusing their
    ids would mix two trajectories under one id)."""
    best = -1
    for r in store.select(kind="trajectory"):
        best = max(best, int(r.traj_id[1:]))
    for p in rd.traj_work.glob("*.json"):
        ids = [p.stem]
        if p.name.startswith("task-"):
            d = read_json(p)
            ids = SampleTask.from_dict(d).traj_ids if d else []
        for t in ids:
            if t.startswith("t") and t[1:].isdigit():
                best = max(best, int(t[1:]))
    return best + 1


def record_lost_attempts(items: list[tuple[str, str]], exc: BaseException) -> None:
    """A labelling task the executor lost: each of its (input, result) attempts that has no result gets a "lost"
    one, so the attempt is counted and the structure requeued like any other failure."""
    for inp, res in items:
        if orc.read_result(Path(res)) is None:
            lost = orc.LabelTask.read(inp).lost("lost", f"the labelling task was lost: {type(exc).__name__}: {exc}"[:400])
            orc.write_atomic(Path(res), lost.to_json())


def after_failure(res: orc.OracleResult, max_attempts: int) -> tuple[str, str]:
    """A structure's status after a failed labelling attempt, and what that means: SCF and NaN failures are
    retried with softer settings, timeouts and lost tasks requeued as they were (both within the retry
    budget), anything else (a crash) quarantined."""
    action = orc.RETRYABLE.get(res.outcome)
    if action is None:
        return "quarantined", "quarantined"
    if res.attempt >= max_attempts:
        return "failed", "retry budget spent"
    return "pending", "will retry" if action == "retry" else "requeued"


def record_label(store: Store, res: orc.OracleResult, *, max_attempts: int, val_fraction: float,
                 test_fraction: float) -> str | None:
    """Record a labelling attempt's result, collected live or from disk: the attempt, then the label or the
    structure's status after the failure (:func:`after_failure`). A result already recorded (a second look at the
    same file) changes nothing. Returns the line reporting a failed attempt, else None."""
    row = store.structure(res.hash)
    if row is None or row.status != "pending" or int(row.get("attempts", 0)) >= res.attempt:
        return None
    store.add_attempt(res.hash, res.attempt, res.outcome, res.reason, res.wall_s, host=res.host,
                      oracle_hash=oracle_hash(res.settings))
    if res.ok:
        store.add_label(res.hash, row.toatoms(), res.energy_eV, np.array(res.forces_eV_A),
                        None if res.stress_eV_A3 is None else np.array(res.stress_eV_A3),
                        kvp=label_record(res, row, val_fraction, test_fraction), data={"oracle_settings": res.settings})
        store.set_status(res.hash, "labelled", attempts=res.attempt, reason="")
        return None
    status, verb = after_failure(res, max_attempts)
    store.set_status(res.hash, status, attempts=res.attempt, reason=f"{res.outcome}: {res.reason}"[:400])
    return f"oracle: {res.hash[:10]} attempt {res.attempt} {res.outcome} ({verb}): {res.reason[:120]}"


def record_generation(store: Store, gen: int, attempt: int, model: Path, report: dict) -> str | None:
    """Record a complete model directory as generation ``gen`` (found live or from disk). Returns the line
    announcing it, or None when the generation was recorded already."""
    kvp = generation_record(model, report)
    if not store.add_generation(gen, attempt, kvp, {"report": {k: v for k, v in report.items() if k != "history"}}):
        return None
    msg = f"trainer: generation {gen} ready ({kvp['n_labels']} labels, {kvp['epochs']} epochs, {kvp['train_wall_s']:.0f} s)"
    te = report.get("test_errors", {})
    if te:
        msg += (f"; test errors: energy {te['energy_rmse_meV_per_atom']:.1f} meV/atom RMSE, "
                f"forces {te['force_rmse_eV_A']:.3f} eV/Å RMSE")
    return msg


def task_failure(status: dict) -> str:
    """How a sample or train task process ended, from the status its app returned."""
    return "timed out" if status.get("timed_out") else f"exit code {status.get('rc')}"


def lost_trajectory_record(generation: int, seed: int, why: str, status: dict) -> dict:
    """The record of a trajectory whose task died before it wrote a result: kept so the trajectory id is never
    reused, and marked so the stop rule does not count it (:data:`alal.al.stopping.LOST_REASONS`)."""
    return {"generation": generation, "seed": seed, "stop_reason": "task_failed",
            "detail": f"sampling task {why}: {status.get('tail', '')}"[:400], "t_reached_ps": 0.0, "event": False,
            "finished_at": time.time()}


def new_trajectory_results(rd, ids: list[str], seen: set) -> list[dict]:
    """Result files of trajectories ``ids`` (of a task still running) written since the last call, which adds
    them to ``seen``: the driver ingests each trajectory as it ends, so its uncertain frame goes to the oracle at
    once instead of waiting for the longest trajectory of its batch (tens of ps later)."""
    out = []
    for traj_id in ids:
        if traj_id in seen:
            continue
        p = read_json(rd.traj_work / f"{traj_id}.json")  # alal.al.worker.traj_result_path
        if p is not None:
            seen.add(traj_id)
            out.append(p)
    return out
