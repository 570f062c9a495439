"""The active-learning loop: the only place where builder, oracle, trainer and sampler meet.

  bootstrap   N random cells (builder) -> oracle -> generation 0 (trainer)
  repeat      trajectories (sampler, current model) -> uncertain frames -> near-duplicates dropped
              (diversity) -> oracle -> every K new labels a new generation (trainer)
  stop        median time-to-uncertainty of the last M trajectories >= t_stop, or a budget
              (labels, generations, wall time) is spent, or too many labelling attempts failed;
              labels that arrived after the last training get a final generation.

The driver is an event loop over Parsl futures (:mod:`alal.al.execution`). Everything it knows is in the
run database and in result files, so a driver killed at any moment resumes (``--resume``) with no label
lost or duplicated: writes are keyed by structure hash, finished oracle/trajectory/training results
found on disk are collected instead of recomputed, and a generation is either a complete model directory
or absent.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from ase import Atoms

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al.builder import BuilderSettings, check_cell, random_cell
from alal.al.rundir import RunDir, now_iso, seed_for, versions, write_json_atomic, write_text_atomic
from alal.al.sampler import EVENT_REASONS, SamplerSettings
from alal.al.trainer import TrainSettings
from alal.data.hashing import unit_interval
from alal.data.store import Store
from alal.errors import AlalError

TRAIN_SOURCES = ("bootstrap", "al")


@dataclass
class Flight:
    kind: str  # label | sample | train
    future: object
    cost: int
    info: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)


@dataclass
class Outcome:
    status: str  # converged | budget | failed
    message: str
    generation: int
    n_labels: int
    n_failed: int
    n_trajectories: int
    median_ps: float
    wall_s: float


def split_of(h: str, val_fraction: float, test_fraction: float) -> str:
    u = unit_interval(h, salt="split:")
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def oracle_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


class Loop:
    def __init__(self, cfg: alconfig.ALConfig, run_dir: str | Path, *, config_path: str | Path | None = None,
                 resume: bool = False, builder: Callable[[int], Atoms] | None = None, echo=None,
                 execution=None):
        self.cfg = cfg
        self.rd = RunDir(run_dir)
        self.config_path = Path(config_path) if config_path else None
        self.resume = resume
        self.custom_builder = builder
        self.echo = echo or (lambda msg: print(msg, flush=True))
        self.execution = execution
        self.t0 = time.time()
        self._last_progress = 0.0
        self.flights: list[Flight] = []
        self._candidates: list[dict] = []
        self._describer = None
        self.stopping: str | None = None
        self.stop_message = ""
        self.final_training_done = False
        self._training_waits = False
        self._next_traj: int | None = None
        # which pending structures this loop labels: the driver labels its own (bootstrap, al) and leaves
        # others (e.g. the Table I study's "fccmelt") alone; the study labels only its own, outside the budget
        self.label_sources: tuple[str, ...] = TRAIN_SOURCES
        self.enforce_label_budget = True

    # ------------------------------------------------------------------------------- setup

    def prepare(self) -> None:
        """Checks, run directory, manifest and database; nothing is written before the checks pass."""
        cfg = self.cfg
        element = cfg["run.element"]
        orc.check_available(cfg.oracle_settings(), element)
        from alal.al.execution import check_profile

        check_profile(cfg["execution.profile"])
        if self.rd.exists() and not self.resume:
            raise AlalError(f"run directory '{self.rd.path}' already holds a run: continue it with --resume "
                            f"{self.rd.path}, or choose another --run-dir")
        if self.resume and not self.rd.exists():
            raise AlalError(f"nothing to resume: '{self.rd.path}' has no {self.rd.manifest_path.name}")
        if self.custom_builder is not None:  # a custom builder is checked before anything is written
            check_cell(self.custom_builder(seed_for(cfg["run.seed"], "bootstrap", 0)), element,
                       r_min_A=None)
        changes = []
        if self.resume:
            manifest = self.rd.read_manifest()
            changes = alconfig.diff(manifest["config"], cfg.to_dict())
            refused = [c for c in changes if not alconfig.is_resume_mutable(c[0])]
            if refused:
                key, old, new = refused[0]
                more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
                raise AlalError(
                    f"refusing to resume with a changed '{key}' ({old!r} -> {new!r}){more}: it would make the run's "
                    "labels or models inconsistent; resume with the original value or start a new run directory"
                )
        self.rd.create()
        if self.resume:
            if changes:
                manifest.setdefault("config_changes", []).append(
                    {"at": now_iso(), "changes": [{"key": k, "old": o, "new": n} for k, o, n in changes]})
                manifest["config"] = cfg.to_dict()
                for k, o, n in changes:
                    self.echo(f"config change applied on resume: {k} = {n!r} (was {o!r})")
            manifest.setdefault("sessions", []).append({"started": now_iso(), "versions": versions()})
        else:
            manifest = {
                "format": "alal-al-run-v1",
                "created": now_iso(),
                "config": cfg.to_dict(),
                "config_source": str(self.config_path) if self.config_path else cfg.source,
                "versions": versions(),
                "seeds": {"master": cfg["run.seed"],
                          "derivation": "sha256('<master>:<tag>:...')[:8] >> 1 per use; recorded with each record"},
                "oracle_settings": cfg.oracle_settings(),
                "oracle_hash": oracle_hash(cfg.oracle_settings()),
                "sessions": [{"started": now_iso(), "versions": versions()}],
                "config_changes": [],
            }
            if self.config_path and self.config_path.is_file():
                write_text_atomic(self.rd.path / "config.toml", self.config_path.read_text())
        self.rd.write_manifest(manifest)
        self.manifest = manifest
        self.store = Store(self.rd.db)
        self.session_id = f"session:{len(manifest['sessions'])}"
        self.store.insert(self.session_id, None, {"kind": "session", "started": time.time(), "last_seen": time.time()})

    # ----------------------------------------------------------------------------- helpers

    @property
    def element(self) -> str:
        return self.cfg["run.element"]

    def build(self, seed: int) -> Atoms:
        if self.custom_builder is not None:
            atoms = self.custom_builder(seed)
            check_cell(atoms, self.element)
            return atoms
        return random_cell(seed, BuilderSettings.from_config(self.cfg))

    def generation(self) -> int:
        return self.store.latest_generation()

    def labels_count(self) -> int:
        return sum(self.store.count(kind="label", source=src) for src in TRAIN_SOURCES)

    def pending_count(self) -> int:
        """Structures waiting for the oracle among the sources this loop labels."""
        return sum(self.store.count(kind="structure", status="pending", source=src) for src in self.label_sources)

    def in_flight(self, kind: str) -> list[Flight]:
        return [f for f in self.flights if f.kind == kind]

    def used_cost(self, kind: str | None = None) -> int:
        if self.execution.shares_slots():
            return sum(f.cost for f in self.flights)
        return sum(f.cost for f in self.flights if f.kind == kind)

    def free(self, kind: str, cost: int) -> bool:
        slots = self.execution.slots(kind)
        used = self.used_cost(kind)
        if used == 0:
            return True  # a task bigger than the machine still runs, alone
        return used + cost <= slots

    def wall_used_s(self) -> float:
        total = 0.0
        for r in self.store.select(kind="session"):
            total += max(0.0, float(r.get("last_seen", 0.0)) - float(r.get("started", 0.0)))
        return total

    # --------------------------------------------------------------------------- recovery

    def recover(self) -> None:
        """Collect everything that finished while no driver was watching."""
        n_traj = n_att = 0
        known = {r.get("traj_id") for r in self.store.select(kind="trajectory")}
        for path in sorted(self.rd.traj_work.glob("t[0-9]*.json")):
            payload = _read_json(path)
            if payload is None or payload.get("traj_id") in known:
                continue
            self.ingest_trajectory(payload)
            n_traj += 1
        # trajectory rows whose candidate never made it into the structures
        for row in self.store.select(kind="trajectory"):
            h = row.get("candidate_hash")
            if h and self.store.structure(h) is None and "candidate" in row.data:
                from alal.al.worker import atoms_from_dict

                self.store.add_structure(atoms_from_dict(row.data["candidate"]), source="al",
                                         generation=int(row.generation), traj_id=row.traj_id)
        self.flush_candidates(filter_diversity=False)
        for row in self.store.structures(status="pending"):
            attempt = int(row.get("attempts", 0)) + 1
            res = orc.read_result(orc.attempt_dir(self.rd.oracle_work, row.hash, attempt) / "result.json")
            if res is not None:
                self.process_label(res)
                n_att += 1
        for path in sorted(self.rd.models.glob("gen-*")):
            if not (path / "alal_model.json").is_file():
                continue
            gen = int(path.name.split("-")[1])
            if not any(r.get("status") == "ok" for r in self.store.generations() if int(r.generation) == gen):
                report = _read_json(path / "training_report.json") or {}
                self.register_generation(gen, int(report.get("attempt", 1)), path, report)
        for tmp in self.rd.models.glob(".gen-*.tmp*"):
            shutil.rmtree(tmp, ignore_errors=True)  # a training killed half-way: its files are not a model
        if n_traj or n_att:
            self.echo(f"resume: collected {n_traj} finished trajectories and {n_att} finished labelling attempts "
                      "from disk")

    # --------------------------------------------------------------------------- bootstrap

    def bootstrap(self) -> None:
        n = self.cfg["loop.bootstrap_structures"]
        have = self.store.count(kind="structure", source="bootstrap")
        if have >= n:
            return
        t0 = time.time()
        added = 0
        for i in range(n):
            seed = seed_for(self.cfg["run.seed"], "bootstrap", i)
            atoms = self.build(seed)
            _, inserted = self.store.add_structure(atoms, source="bootstrap", generation=-1, builder_seed=seed,
                                                   index=i)
            added += int(inserted)
            if time.time() - t0 > 10 and (i + 1) % 50 == 0:
                self.echo(f"bootstrap: built {i + 1}/{n} random cells")
        self.echo(f"bootstrap: {added} random cells queued for the oracle ({n} in total)")

    # ------------------------------------------------------------------------------ labels

    def submit_labels(self) -> None:
        in_flight = {h for f in self.in_flight("label") for h in f.info["hashes"]}
        pending = [r for r in self.store.structures(status="pending")
                   if r.hash not in in_flight and r.get("source") in self.label_sources]
        if not pending:
            return
        o = self.cfg.section("oracle")
        cost = o["threads"] * o["mpi_processes"]
        settings = self.cfg.oracle_settings()
        retry = self.cfg.section("oracle.gpaw")
        faults = self.cfg.section("oracle.faults")
        stress = True
        if self.enforce_label_budget:
            room = self.cfg["loop.max_labels"] - self.labels_count() - sum(len(f.info["hashes"]) for f in self.in_flight("label"))
            if room <= 0:
                return
            pending = pending[:room]
        slots = max(1, self.execution.slots("label") // max(cost, 1))
        per_batch = max(1, min(16, math.ceil(len(pending) / slots)))
        for k in range(0, len(pending), per_batch):
            if not self.free("label", cost):
                break
            items, hashes = [], []
            for row in pending[k:k + per_batch]:
                attempt = int(row.get("attempts", 0)) + 1
                d = orc.attempt_dir(self.rd.oracle_work, row.hash, attempt)
                d.mkdir(parents=True, exist_ok=True)
                inp, res = d / "input.json", d / "result.json"
                if not inp.is_file():
                    orc.write_input(inp, row.toatoms(), row.hash, attempt, orc.attempt_settings(settings, attempt, retry),
                                    faults, stress, o["threads"])
                items.append((str(inp), str(res)))
                hashes.append(row.hash)
            fut = self.execution.submit_label(items, o["time_limit_s"], o["mpi_processes"])
            self.flights.append(Flight("label", fut, cost, {"hashes": hashes, "items": items}))

    def finish_labels(self, flight: Flight) -> None:
        try:
            paths = flight.future.result()
        except Exception as exc:  # noqa: BLE001 - a lost task: its attempts are recorded as such
            paths = [res for _, res in flight.info["items"]]
            for inp, res in flight.info["items"]:
                if orc.read_result(Path(res)) is None:
                    payload = json.loads(Path(inp).read_text())
                    lost = orc.OracleResult(hash=payload["hash"], attempt=payload["attempt"], outcome="lost",
                                            reason=f"the labelling task was lost: {type(exc).__name__}: {exc}"[:400],
                                            settings=payload["settings"])
                    orc.write_atomic(Path(res), lost.to_json())
        for p in paths:
            res = orc.read_result(Path(p))
            if res is not None:
                self.process_label(res)

    def process_label(self, res: orc.OracleResult) -> None:
        row = self.store.structure(res.hash)
        if row is None:
            return
        if row.status != "pending" or int(row.get("attempts", 0)) >= res.attempt:
            return  # already processed (a second look at the same result file)
        self.store.add_attempt(res.hash, res.attempt, res.outcome, res.reason, res.wall_s, host=res.host,
                               oracle_hash=oracle_hash(res.settings))
        max_attempts = self.cfg["oracle.max_attempts"]
        if res.ok:
            tr = self.cfg.section("trainer")
            atoms = row.toatoms()
            kvp = dict(split=split_of(res.hash, tr["val_fraction"], tr["test_fraction"]), source=row.source,
                       generation=int(row.generation), traj_id=row.get("traj_id", ""), oracle=res.settings["kind"],
                       oracle_hash=oracle_hash(res.settings), wall_s=res.wall_s, attempt=res.attempt,
                       labelled_at=time.time())
            self.store.add_label(res.hash, atoms, res.energy_eV, np.array(res.forces_eV_A),
                                 None if res.stress_eV_A3 is None else np.array(res.stress_eV_A3),
                                 kvp=kvp, data={"oracle_settings": res.settings})
            self.store.set_status(res.hash, "labelled", attempts=res.attempt, reason="")
            return
        action = orc.RETRYABLE.get(res.outcome)
        if action is None:
            status = "quarantined"
        elif res.attempt >= max_attempts:
            status = "failed"
        else:
            status = "pending"
        self.store.set_status(res.hash, status, attempts=res.attempt, reason=f"{res.outcome}: {res.reason}"[:400])
        verb = {"pending": "will retry" if action == "retry" else "requeued", "failed": "retry budget spent",
                "quarantined": "quarantined"}[status]
        self.echo(f"oracle: {res.hash[:10]} attempt {res.attempt} {res.outcome} ({verb}): {res.reason[:120]}")

    # ---------------------------------------------------------------------------- sampling

    def next_traj_index(self) -> int:
        best = -1
        for r in self.store.select(kind="trajectory"):
            best = max(best, int(r.traj_id[1:]))
        for p in self.rd.traj_work.glob("*.json"):
            ids = [p.stem]
            if p.name.startswith("task-"):
                task = _read_json(p) or {}
                ids = [t["traj_id"] for t in task.get("trajectories", [])]
            for t in ids:
                if t.startswith("t") and t[1:].isdigit():
                    best = max(best, int(t[1:]))
        return best + 1

    def submit_sampling(self) -> None:
        gen = self.generation()
        if gen < 0 or self.stopping:
            return
        s = self.cfg.section("sampler")
        cost = s["threads"]
        limit = self.cfg["loop.max_pending_labels"] or self.cfg["loop.retrain_every_labels"]
        while self.free("sample", cost):
            pending = self.pending_count() + len(self._candidates)
            if pending >= limit:
                return
            if self._training_waits:
                return  # a generation waits for cores: let running tasks drain
            start = self._next_traj if self._next_traj is not None else self.next_traj_index()
            ids = [f"t{start + k:06d}" for k in range(s["trajectories_per_task"])]
            self._next_traj = start + len(ids)
            specs = [{"traj_id": t, "seed": seed_for(self.cfg["run.seed"], "trajectory", t), "generation": gen,
                      "model_dir": str(self.rd.model(gen))} for t in ids]
            task = {"trajectories": specs, "out_dir": str(self.rd.traj_work), "threads": s["threads"],
                    "sampler": {k: v for k, v in SamplerSettings.from_config(self.cfg).__dict__.items()},
                    "builder": BuilderSettings.from_config(self.cfg).__dict__}
            path = self.rd.traj_work / f"task-{ids[0]}.json"
            write_json_atomic(path, task)
            fut = self.execution.submit("sample", path, s["time_limit_s"] * len(ids) + 120, s["threads"])
            self.flights.append(Flight("sample", fut, cost, {"ids": ids, "generation": gen, "task": str(path)}))

    def finish_sampling(self, flight: Flight) -> None:
        try:
            status = flight.future.result()
        except Exception as exc:  # noqa: BLE001
            status = {"rc": None, "timed_out": False, "tail": f"{type(exc).__name__}: {exc}"}
        for traj_id in flight.info["ids"]:
            payload = _read_json(self.rd.traj_work / f"{traj_id}.json")
            if payload is not None:
                self.ingest_trajectory(payload)
            else:
                why = "timed out" if status.get("timed_out") else f"exit code {status.get('rc')}"
                self.store.add_trajectory(traj_id, None, {
                    "generation": flight.info["generation"], "seed": seed_for(self.cfg["run.seed"], "trajectory", traj_id),
                    "stop_reason": "task_failed", "detail": f"sampling task {why}: {status.get('tail', '')}"[:400],
                    "t_reached_ps": 0.0, "event": False, "finished_at": time.time()}, {})
                self.echo(f"sampler: {traj_id} lost (task {why}); recorded, not counted in the stop rule")

    def ingest_trajectory(self, p: dict) -> None:
        from alal.al.worker import atoms_from_dict

        cand = atoms_from_dict(p.get("candidate"))
        cand_hash = ""
        if cand is not None:
            from alal.data.hashing import structure_hash

            cand_hash = structure_hash(cand)
        sched = p["schedule"]
        kvp = {
            "generation": p["generation"], "seed": p["seed"], "builder_seed": p["builder_seed"],
            "T_start_K": sched["T_start_K"], "T_end_K": sched["T_end_K"], "T_mod_K": sched["T_mod_K"],
            "t0_ps": sched["t0_ps"], "t_max_ps": sched["t_max_ps"], "n_atoms": p["n_atoms"],
            "density_g_cm3": p["density_g_cm3"], "steps": p["steps"], "t_reached_ps": p["t_reached_ps"],
            "stop_reason": p["stop_reason"], "detail": p["detail"][:400], "rho_at_stop_eV": p["rho_at_stop"],
            "event": p["stop_reason"] in EVENT_REASONS, "wall_s": p["wall_s"], "engine": p.get("engine", ""),
            "candidate_hash": cand_hash, "finished_at": p.get("finished_at", time.time()),
            "timestep_fs": p.get("timestep_fs"), "rho_threshold_eV": p.get("rho_threshold_eV"),
        }
        data = {"trace": p["trace"], "schedule": sched}
        if cand is not None:
            data["candidate"] = p["candidate"]
        inserted = self.store.add_trajectory(p["traj_id"], atoms_from_dict(p.get("final")), kvp, data)
        if inserted and cand is not None:
            self._candidates.append({"atoms": cand, "traj_id": p["traj_id"], "generation": p["generation"]})

    def flush_candidates(self, *, filter_diversity: bool = True) -> None:
        if not self._candidates:
            return
        cands, self._candidates = self._candidates, []
        div = self.cfg.section("diversity")
        kept = list(range(len(cands)))
        dropped: dict[int, tuple[int, float]] = {}
        if filter_diversity and div["enabled"] and len(cands) + self.store.count(kind="structure", status="pending") > 1:
            from alal.al.diversity import Describer, select

            if self._describer is None:
                self._describer = Describer()
            desc = [self._describer(c["atoms"]) for c in cands]
            ref_rows = [r for r in self.store.structures(status="pending") if r.source == "al"]
            refs = [self._describer(r.toatoms()) for r in ref_rows]
            kept, dropped = select(desc, refs, div["min_distance"])
        for i in kept:
            c = cands[i]
            self.store.add_structure(c["atoms"], source="al", generation=c["generation"], traj_id=c["traj_id"])
        for i, (who, d) in dropped.items():
            c = cands[i]
            h, _ = self.store.add_structure(c["atoms"], source="al", generation=c["generation"], traj_id=c["traj_id"],
                                            status="dropped")
            near = cands[who]["traj_id"] if who >= 0 else "a structure already queued"
            self.store.set_status(h, "dropped", reason=f"near-duplicate (descriptor distance {d:.3g}) of {near}")
        if dropped:
            self.echo(f"diversity: {len(cands)} candidates, {len(dropped)} near-duplicates dropped, "
                      f"{len(kept)} queued for the oracle")

    # ---------------------------------------------------------------------------- training

    def want_training(self) -> int | None:
        """The generation to train now, or None."""
        if self.in_flight("train"):
            return None
        gen = self.generation()
        if gen + 1 >= self.cfg["loop.max_generations"]:
            return None
        n_labels = self.labels_count()
        if gen < 0:
            unresolved = self.store.count(kind="structure", source="bootstrap", status="pending")
            if unresolved:
                return None
            splits = {r.get("split") for r in self.store.labels(sources=TRAIN_SOURCES)}
            if not {"train", "val"} <= splits:
                raise AlalError(
                    f"the bootstrap produced {n_labels} labels, too few for a training and a validation split; "
                    "raise loop.bootstrap_structures")
            return 0
        since = n_labels - self.labels_at_train(gen)
        if since >= self.cfg["loop.retrain_every_labels"]:
            return gen + 1
        if self.stopping and since > 0 and not self.final_training_done and self.stopping != "failed" \
                and self._nothing_more_to_label():
            return gen + 1
        return None

    def _nothing_more_to_label(self) -> bool:
        """After the stop: no labelling or sampling task running (trajectories still running at the stop bring
        candidates that are labelled first, so the final generation holds every label) and nothing pending that
        the label budget still allows."""
        if self.in_flight("label") or self.in_flight("sample") or self._candidates:
            return False
        return not self.pending_count() or self.labels_count() >= self.cfg["loop.max_labels"]

    def labels_at_train(self, gen: int) -> int:
        rows = [r for r in self.store.generations(status="ok") if int(r.generation) == gen]
        return int(rows[-1].get("n_labels", 0)) if rows else 0

    def submit_training(self, gen: int) -> None:
        t = self.cfg.section("trainer")
        attempts = [r for r in self.store.generations() if int(r.generation) == gen]
        attempt = len(attempts) + 1
        if attempt > t["max_attempts"]:
            last = attempts[-1].get("reason", "") if attempts else ""
            raise _Abort(f"training generation {gen} failed {len(attempts)} times (last: {last}); "
                         "the previous generation's model is the run's result")
        cost = t["threads"] or self.execution.default_train_threads()
        if not self.free("train", cost):
            self._training_waits = True  # wait until running tasks free the cores; start nothing new meanwhile
            return
        self._training_waits = False
        work = self.rd.train_work(gen)
        work.mkdir(parents=True, exist_ok=True)
        dataset = work / f"dataset-attempt{attempt}.extxyz"
        rows = self.store.labels(sources=TRAIN_SOURCES)
        _write_dataset(dataset, rows)
        prev = self.rd.model(gen - 1)
        settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in TrainSettings.from_config(self.cfg).__dict__.items()}
        warm = t["warm_start"] and gen > 0 and (prev / "alal_model.json").is_file()
        if warm and t["max_epochs_warm_start"]:
            settings["max_epochs"] = t["max_epochs_warm_start"]
        task = {
            "generation": gen, "attempt": attempt, "dataset": str(dataset), "model_dir": str(self.rd.model(gen)),
            "features_dir": str(self.rd.features), "settings": settings, "element": self.element,
            "seeds": [seed_for(self.cfg["run.seed"], "train", gen, attempt, m) % (2**31) for m in range(settings["n_members"])],
            "data_seed": seed_for(self.cfg["run.seed"], "train-data", gen, attempt) % (2**31),
            "init_model": str(prev) if warm else None,
            "run_name": self.cfg["run.name"], "threads": cost,
        }
        path = work / f"task-attempt{attempt}.json"
        write_json_atomic(path, task)
        fut = self.execution.submit("train", path, t["time_limit_s"], cost)
        self.flights.append(Flight("train", fut, cost, {"generation": gen, "attempt": attempt, "task": str(path),
                                                        "n_labels": len(rows)}))
        splits = {s: sum(1 for r in rows if r.get("split") == s) for s in ("train", "val", "test")}
        self.echo(f"trainer: generation {gen} (attempt {attempt}) on {len(rows)} labels "
                  f"(train {splits['train']}, val {splits['val']}, test {splits['test']})"
                  + (", warm start" if task["init_model"] else ""))

    def finish_training(self, flight: Flight) -> None:
        gen, attempt = flight.info["generation"], flight.info["attempt"]
        try:
            status = flight.future.result()
        except Exception as exc:  # noqa: BLE001
            status = {"rc": None, "timed_out": False, "tail": f"{type(exc).__name__}: {exc}"}
        model = self.rd.model(gen)
        if (model / "alal_model.json").is_file():
            report = _read_json(model / "training_report.json") or {}
            self.register_generation(gen, attempt, model, report)
            if self.stopping:
                self.final_training_done = True
            return
        why = "timed out" if status.get("timed_out") else f"exit code {status.get('rc')}"
        reason = f"{why}: {status.get('tail', '')}"[:400]
        self.store.add_generation(gen, attempt, {"status": "failed", "reason": reason, "finished_at": time.time()})
        self.echo(f"trainer: generation {gen} attempt {attempt} failed ({reason[:200]}); "
                  f"generation {self.generation()} keeps serving")

    def register_generation(self, gen: int, attempt: int, model: Path, report: dict) -> None:
        te, ve = report.get("test_errors", {}), report.get("val_errors", {})
        kvp = {
            "status": "ok", "model_dir": str(model), "n_labels": report.get("n_labels", 0),
            "n_train": report.get("n_train", 0), "n_val": report.get("n_val", 0), "n_test": report.get("n_test", 0),
            "epochs": report.get("epochs", 0), "train_wall_s": report.get("train_wall_s", 0.0),
            "finished_at": time.time(),
        }
        for prefix, errs in (("test", te), ("val", ve)):
            for k in ("energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "force_mae_eV_A", "force_rmse_eV_A"):
                if k in errs:
                    kvp[f"{prefix}_{k}"] = errs[k]
        if self.store.add_generation(gen, attempt, kvp, {"report": {k: v for k, v in report.items() if k != "history"}}):
            msg = f"trainer: generation {gen} ready ({kvp['n_labels']} labels, {kvp['epochs']} epochs, " \
                  f"{kvp['train_wall_s']:.0f} s)"
            if te:
                msg += (f"; test errors: energy {te['energy_rmse_meV_per_atom']:.1f} meV/atom RMSE, "
                        f"forces {te['force_rmse_eV_A']:.3f} eV/Å RMSE")
            self.echo(msg)

    # -------------------------------------------------------------------------- stop rule

    def finished_trajectories(self) -> list:
        return [r for r in self.store.trajectories() if r.get("stop_reason") not in ("task_failed", "error")]

    def window_median(self) -> tuple[float, int]:
        M = self.cfg["loop.stop_window"]
        trajs = self.finished_trajectories()[-M:]
        if not trajs:
            return math.nan, 0
        return float(np.median([float(r.t_reached_ps) for r in trajs])), len(trajs)

    def check_stop(self) -> None:
        if self.stopping:
            return
        lp = self.cfg.section("loop")
        attempts = self.store.attempts()
        failed = sum(1 for a in attempts if a.outcome != "ok")
        if len(attempts) >= lp["min_attempts_for_failure_stop"] and failed > lp["max_failure_fraction"] * len(attempts):
            self.stopping = "failed"
            self.stop_message = (f"{failed} of {len(attempts)} labelling attempts failed "
                                 f"({100 * failed / len(attempts):.0f}% > loop.max_failure_fraction "
                                 f"{100 * lp['max_failure_fraction']:.0f}%); see 'alal status {self.rd.path} --failures'")
            return
        med, n = self.window_median()
        if n >= lp["stop_window"] and med >= lp["stop_median_ps"]:
            self.stopping = "converged"
            n_done = len(self.finished_trajectories())
            self.stop_message = (f"median time-to-uncertainty of the last {n} trajectories (up to trajectory "
                                 f"{n_done}) is {med:.3g} ps >= loop.stop_median_ps = {lp['stop_median_ps']:g} ps")
            return
        if self.labels_count() >= lp["max_labels"]:
            self.stopping, self.stop_message = "budget", f"label budget loop.max_labels = {lp['max_labels']} spent"
        elif self.generation() + 1 >= lp["max_generations"]:
            self.stopping = "budget"
            self.stop_message = f"generation budget loop.max_generations = {lp['max_generations']} spent"
        elif self.wall_used_s() >= lp["max_wall_h"] * 3600:
            self.stopping, self.stop_message = "budget", f"wall-time budget loop.max_wall_h = {lp['max_wall_h']:g} h spent"

    # ---------------------------------------------------------------------------- progress

    def progress(self, force: bool = False) -> None:
        now = time.time()
        self.store.update(self.session_id, last_seen=now)
        if not force and now - self._last_progress < 15:
            return
        self._last_progress = now
        gen = self.generation()
        n_lab = self.labels_count()
        pend = self.pending_count()
        bad = self.store.count(kind="structure", status="failed") + self.store.count(kind="structure", status="quarantined")
        trajs = self.finished_trajectories()
        med, n = self.window_median()
        lp = self.cfg.section("loop")
        parts = [f"[{_hms(now - self.t0)}] gen {gen}", f"labels {n_lab} (+{pend} pending, {bad} failed)",
                 f"trajectories {len(trajs)} (+{sum(len(f.info['ids']) for f in self.in_flight('sample'))} running)"]
        if n:
            parts.append(f"median t_unc last {n}: {med:.3g} of {lp['stop_median_ps']:g} ps")
        wall_h = self.wall_used_s() / 3600
        if lp["max_wall_h"] < 1e5:
            parts.append(f"wall {wall_h * 60:.0f} of {lp['max_wall_h'] * 60:.0f} min budget")
        for f in self.in_flight("train"):
            parts.append(f"training gen {f.info['generation']}: {_last_line(Path(f.info['task']).with_suffix('.log'))}")
        self.echo(" | ".join(parts))

    # -------------------------------------------------------------------------------- main

    def run(self) -> Outcome:
        self.prepare()
        own_execution = self.execution is None
        if own_execution:
            from alal.al.execution import Execution

            e = self.cfg.section("execution")
            self.execution = Execution(self.rd.path, profile=e["profile"], workers=e["workers"], python=e["python"])
        self.echo(f"run {self.rd.path}: {self.execution.description}")
        try:
            self.recover()
            self.bootstrap()
            self._loop()
        except _Abort as abort:
            self.stopping, self.stop_message = "failed", str(abort)
            self._drain()
        finally:
            self.progress(force=True)
            if self.stopping:
                self.store.update(self.session_id, stop_status=self.stopping, stop_message=self.stop_message[:400],
                                  stopped_at=time.time())
            if own_execution:
                self.execution.close()
        return self.outcome()

    def _loop(self) -> None:
        while True:
            self.check_stop()
            gen_to_train = None if self.stopping == "failed" else self.want_training()
            if gen_to_train is not None:
                self.submit_training(gen_to_train)
            else:
                self._training_waits = False
            if self.stopping != "failed":
                self.submit_labels()
                self.submit_sampling()
            if not self.flights:
                if self.stopping:
                    break
                if self.generation() < 0 and not self.pending_count():
                    self.want_training()  # raises with a clear message when the bootstrap gave too little
                if not self.pending_count() and self.generation() >= 0 \
                        and self.want_training() is None and self.stopping is None:
                    # nothing can run (e.g. max_pending_labels reached with nothing pending): avoid spinning
                    time.sleep(0.5)
                continue
            self.wait_and_collect()
            self.progress()

    def wait_and_collect(self, timeout: float = 5.0) -> None:
        done, _ = cf.wait([f.future for f in self.flights], timeout=timeout, return_when=cf.FIRST_COMPLETED)
        finished = [f for f in self.flights if f.future in done]
        self.flights = [f for f in self.flights if f.future not in done]
        for f in finished:
            if f.kind == "label":
                self.finish_labels(f)
            elif f.kind == "sample":
                self.finish_sampling(f)
            else:
                self.finish_training(f)
        self.flush_candidates()

    def _drain(self) -> None:
        while self.flights:
            self.wait_and_collect()
            self.progress()

    def outcome(self) -> Outcome:
        med, _ = self.window_median()
        failed = self.store.count(kind="structure", status="failed") + self.store.count(kind="structure", status="quarantined")
        status = self.stopping or "stopped"
        return Outcome(status=status, message=self.stop_message, generation=self.generation(),
                       n_labels=self.labels_count(), n_failed=failed, n_trajectories=len(self.finished_trajectories()),
                       median_ps=med, wall_s=time.time() - self.t0)


class _Abort(Exception):
    pass


def _write_dataset(path: Path, rows: list) -> None:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    for r in rows:
        a = r.toatoms()
        a.calc = SinglePointCalculator(a, energy=float(r.energy), forces=np.asarray(r.forces))
        a.info = {"hash": r.hash, "split": r.split, "source": r.source}
        frames.append(a)
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp), frames, format="extxyz")
    tmp.replace(path)


def _read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in Path(path).read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return "starting"
    return lines[-1].split("] ", 1)[-1][:100] if lines else "starting"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run(cfg, run_dir, **kw) -> Outcome:
    return Loop(cfg, run_dir, **kw).run()


__all__ = ["Loop", "Outcome", "run", "split_of"]
