"""The active-learning loop: the only place where builder, oracle, trainer and sampler meet.

  bootstrap   N random cells (builder) -> oracle -> generation 0 (trainer)
  repeat      trajectories (sampler, current model) -> uncertain frames -> near-duplicates dropped
              (diversity) -> oracle -> every K new labels a new generation (trainer)
  stop        median time-to-uncertainty of the last M trajectories (start order) >= t_stop, a budget spent, or
              too many labelling attempts failed (:mod:`alal.al.stopping`); late labels get a final generation.

The driver is an event loop over Parsl futures (:mod:`alal.al.execution`). Everything it knows is in the
run database and in result files, so a driver killed at any moment resumes (``--resume``) with no label
lost or duplicated: writes are keyed by structure hash, results found on disk are collected instead of
recomputed, and a generation is either a complete model directory or absent.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ase import Atoms

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al import recovery
from alal.al.builder import BuilderSettings, check_cell, random_cell
from alal.al.candidates import Candidates
from alal.al.execution import Execution, Flight, check_profile
from alal.al.rundir import RunDir, read_json, seed_for
from alal.al.status import progress_line, wall_used_s
from alal.al.stopping import Counters, StopRule, ThresholdLadder, finished, window_times
from alal.al.tasks import label_inputs, sample_task_for, train_task_for, trajectory_record, write_dataset
from alal.errors import AlalError

TRAIN_SOURCES = ("bootstrap", "al")


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
        self.candidates = Candidates()  # uncertain frames of finished trajectories, not yet queued
        self.stop_rule = StopRule.from_config(cfg)
        self.ladder = ThresholdLadder.from_config(cfg)
        self.rho_rung = self.ladder.start_eV  # the ρ threshold new trajectories get (set from the run in prepare)
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
        self._check_inputs()
        self.manifest, self.store = recovery.open_run(self.rd, self.cfg, resume=self.resume,
                                                      config_path=self.config_path, echo=self.echo)
        self.session_id = f"session:{len(self.manifest['sessions'])}"
        self.store.insert(self.session_id, None, {"kind": "session", "started": time.time(), "last_seen": time.time()})
        self.rho_rung = self.ladder.current([r.get("rho_threshold_eV") for r in self.store.trajectories()])
        if self.laddered:
            self.write_sampler_control()

    def _check_inputs(self) -> None:
        cfg = self.cfg
        orc.check_available(cfg.oracle_settings(), self.element)
        check_profile(cfg["execution.profile"], cfg, scheduler=True)  # keys, walltimes >= task limits, sbatch --test-only
        recovery.check_run_dir(self.rd, self.resume)
        if self.custom_builder is not None:  # a custom builder is checked before anything is written
            check_cell(self.custom_builder(seed_for(cfg["run.seed"], "bootstrap", 0)), self.element, r_min_A=None)

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

    def failed_count(self) -> int:
        """Structures the oracle gave up on."""
        return self.store.count(kind="structure", status="failed") + self.store.count(kind="structure", status="quarantined")

    def in_flight(self, kind: str) -> list[Flight]:
        return [f for f in self.flights if f.kind == kind]

    def free(self, kind: str, cost: int) -> bool:
        return self.execution.fits(kind, cost, [(f.kind, f.cost) for f in self.flights])

    def wall_used_s(self) -> float:
        return wall_used_s(self.store)

    # --------------------------------------------------------------------------- recovery
    def recover(self) -> None:
        """Collect everything that finished while no driver was watching."""
        trajectories = recovery.unrecorded_trajectories(self.rd, self.store)
        for payload in trajectories:
            self.ingest_trajectory(payload)
        recovery.restore_orphan_candidates(self.store)
        self.flush_candidates(filter_diversity=False)
        attempts = recovery.finished_attempts(self.rd, self.store)
        for res in attempts:
            self.process_label(res)
        for gen, attempt, model, report in recovery.unregistered_models(self.rd, self.store):
            self.register_generation(gen, attempt, model, report)
        recovery.remove_partial_models(self.rd)
        if trajectories or attempts:
            self.echo(f"resume: collected {len(trajectories)} finished trajectories and {len(attempts)} finished "
                      "labelling attempts from disk")

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
        pending = self._to_label()
        if not pending:
            return
        o = self.cfg.section("oracle")
        cost = o["threads"] * o["mpi_processes"]
        slots = max(1, self.execution.slots("label") // max(cost, 1))
        per_batch = max(1, min(16, math.ceil(len(pending) / slots)))
        for k in range(0, len(pending), per_batch):
            if not self.free("label", cost):
                break
            rows = pending[k:k + per_batch]
            items = label_inputs(self.rd.oracle_work, rows, self.cfg.oracle_settings(), self.cfg.section("oracle.gpaw"),
                                 self.cfg.section("oracle.faults"), o["threads"])
            fut = self.execution.submit_label(items, o["time_limit_s"], o["mpi_processes"])
            self.flights.append(Flight("label", fut, cost, {"hashes": [r.hash for r in rows], "items": items}))

    def _to_label(self) -> list:
        """Pending structures of this loop's sources that no task is labelling, within the label budget."""
        in_flight = {h for f in self.in_flight("label") for h in f.info["hashes"]}
        pending = [r for r in self.store.structures(status="pending")
                   if r.hash not in in_flight and r.get("source") in self.label_sources]
        if self.enforce_label_budget:
            room = self.cfg["loop.max_labels"] - self.labels_count() - len(in_flight)
            pending = pending[:max(room, 0)]
        return pending

    def finish_labels(self, flight: Flight) -> None:
        try:
            paths = flight.future.result()
        except Exception as exc:  # noqa: BLE001 - a lost task: its attempts are recorded as such
            paths = [res for _, res in flight.info["items"]]
            recovery.record_lost_attempts(flight.info["items"], exc)
        for p in paths:
            res = orc.read_result(Path(p))
            if res is not None:
                self.process_label(res)

    def process_label(self, res: orc.OracleResult) -> None:
        tr = self.cfg.section("trainer")
        msg = recovery.record_label(self.store, res, max_attempts=self.cfg["oracle.max_attempts"],
                                    val_fraction=tr["val_fraction"], test_fraction=tr["test_fraction"])
        if msg:
            self.echo(msg)

    # ---------------------------------------------------------------------------- sampling
    def submit_sampling(self) -> None:
        gen = self.generation()
        if gen < 0 or self.stopping:
            return
        s = self.cfg.section("sampler")
        cost = s["threads"]
        limit = self.cfg["loop.max_pending_labels"] or self.cfg["loop.retrain_every_labels"]
        while self.free("sample", cost):
            pending = self.pending_count() + len(self.candidates)
            if pending >= limit:
                return
            if self._training_waits:
                return  # a generation waits for cores: let running tasks drain
            if self._too_far_ahead():
                return
            start = self._next_traj if self._next_traj is not None else recovery.next_traj_index(self.rd, self.store)
            ids = [f"t{start + k:06d}" for k in range(s["trajectories_per_task"])]
            self._next_traj = start + len(ids)
            path = self.rd.traj_work / f"task-{ids[0]}.json"
            deadline = time.time() + self.cfg["loop.max_wall_h"] * 3600 - self.wall_used_s()  # budget end (loop.max_wall_h)
            sample_task_for(self.cfg, self.rd, gen, ids, deadline if deadline < 1e12 else None,
                            rho_threshold_eV=self.rho_rung,
                            control_file=str(self.sampler_control_path) if self.laddered else None).write(path)
            fut = self.execution.submit("sample", path, s["time_limit_s"] * len(ids) + 120, s["threads"])
            self.flights.append(Flight("sample", fut, cost, {"ids": ids, "generation": gen, "task": str(path)}))

    def _too_far_ahead(self) -> bool:
        """loop.max_labels_ahead: labels (and structures on their way to the oracle) since the newest training's
        data; past the limit, new trajectories would only sample with a model about to be replaced."""
        limit = self.cfg["loop.max_labels_ahead"]
        if not limit:
            return False
        trained_on = max([f.info["n_labels"] for f in self.in_flight("train")]
                         + [self.labels_at_train(self.generation())])
        coming = self.labels_count() + self.pending_count() + len(self.candidates) \
            + sum(len(f.info["ids"]) for f in self.in_flight("sample"))
        return coming - trained_on >= limit

    def finish_sampling(self, flight: Flight) -> None:
        try:
            status = flight.future.result()
        except Exception as exc:  # noqa: BLE001
            status = {"rc": None, "timed_out": False, "tail": f"{type(exc).__name__}: {exc}"}
        for traj_id in flight.info["ids"]:
            payload = read_json(self.rd.traj_work / f"{traj_id}.json")
            if payload is not None:
                self.ingest_trajectory(payload)
            else:
                why = recovery.task_failure(status)
                self.store.add_trajectory(traj_id, None, recovery.lost_trajectory_record(
                    flight.info["generation"], seed_for(self.cfg["run.seed"], "trajectory", traj_id), why, status), {})
                self.echo(f"sampler: {traj_id} lost (task {why}); recorded, not counted in the stop rule")

    def ingest_trajectory(self, p: dict) -> None:
        cand, final, kvp, data = trajectory_record(p)
        inserted = self.store.add_trajectory(p["traj_id"], final, kvp, data)
        if inserted and cand is not None:
            self.candidates.add(cand, p["traj_id"], p["generation"])

    def flush_candidates(self, *, filter_diversity: bool = True) -> None:
        """Queue the collected candidates for the oracle; near-duplicates are recorded as dropped."""
        self.candidates.flush(self.store, self.cfg.section("diversity"), self.echo, filter_diversity=filter_diversity)

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
        if self.in_flight("label") or self.in_flight("sample") or self.candidates:
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
        rows = self.store.labels(sources=TRAIN_SOURCES)
        task = train_task_for(self.cfg, self.rd, gen, attempt, work / f"dataset-attempt{attempt}.extxyz", cost)
        write_dataset(Path(task.dataset), rows)
        path = work / f"task-attempt{attempt}.json"
        task.write(path)
        fut = self.execution.submit("train", path, t["time_limit_s"], cost)
        self.flights.append(Flight("train", fut, cost, {"generation": gen, "attempt": attempt, "task": str(path),
                                                        "n_labels": len(rows)}))
        splits = {s: sum(1 for r in rows if r.get("split") == s) for s in ("train", "val", "test")}
        self.echo(f"trainer: generation {gen} (attempt {attempt}) on {len(rows)} labels "
                  f"(train {splits['train']}, val {splits['val']}, test {splits['test']})"
                  + (", warm start" if task.init_model else ""))

    def finish_training(self, flight: Flight) -> None:
        gen, attempt = flight.info["generation"], flight.info["attempt"]
        try:
            status = flight.future.result()
        except Exception as exc:  # noqa: BLE001
            status = {"rc": None, "timed_out": False, "tail": f"{type(exc).__name__}: {exc}"}
        model = self.rd.model(gen)
        if (model / "alal_model.json").is_file():
            report = read_json(model / "training_report.json") or {}
            self.register_generation(gen, attempt, model, report)
            if self.stopping:
                self.final_training_done = True
            return
        reason = f"{recovery.task_failure(status)}: {status.get('tail', '')}"[:400]
        self.store.add_generation(gen, attempt, {"status": "failed", "reason": reason, "finished_at": time.time()})
        self.echo(f"trainer: generation {gen} attempt {attempt} failed ({reason[:200]}); "
                  f"generation {self.generation()} keeps serving")

    def register_generation(self, gen: int, attempt: int, model: Path, report: dict) -> None:
        msg = recovery.record_generation(self.store, gen, attempt, model, report)
        if msg:
            self.echo(msg)

    # -------------------------------------------------------------------------- stop rule

    def finished_trajectories(self) -> list:
        return finished(self.store.trajectories())

    @property
    def laddered(self) -> bool:
        return len(self.ladder.rungs()) > 1

    @property
    def sampler_control_path(self) -> Path:
        return self.rd.path / SAMPLER_CONTROL_FILE

    def write_sampler_control(self) -> None:
        """The current rung, for sampling tasks already running (they tighten to it at their next check step)."""
        from alal.al.rundir import write_json_atomic

        write_json_atomic(self.sampler_control_path, {"rho_threshold_eV": self.rho_rung, "written_at": time.time()})

    def window_times(self) -> list[float]:  # in start order, up to the oldest trajectory still running
        return window_times(self.store.trajectories(), [i for f in self.in_flight("sample") for i in f.info["ids"]],
                            rho_threshold_eV=self.rho_rung if self.laddered else None)

    def window_median(self) -> tuple[float, int]:
        return self.stop_rule.window_median(self.window_times())

    def check_stop(self) -> None:
        if self.stopping:
            return
        final_rung = self.ladder.is_final(self.rho_rung)
        if not final_rung:
            med, n = self.window_median()
            if n >= self.stop_rule.window and med >= self.ladder.step_median_ps:
                new = self.ladder.next(self.rho_rung)
                self.echo(f"threshold ladder: the last {n} trajectories at ρ threshold {self.rho_rung:.3g} eV/√atom survived a "
                          f"median {med:.3g} ps >= loop.tighten_median_ps = {self.ladder.step_median_ps:g} ps; new trajectories "
                          f"stop at {new:.3g} eV/√atom" + (" (the last rung)" if self.ladder.is_final(new) else ""))
                self.rho_rung = new
                self.write_sampler_control()
                final_rung = self.ladder.is_final(new)
        # an attempt lost with its batch job (cancelled, walltime, node gone) is requeued but is no oracle failure
        attempts = [a for a in self.store.attempts() if a.outcome != "lost"]
        decision = self.stop_rule.decide(self.window_times(), Counters(
            n_labels=self.labels_count(), generation=self.generation(), wall_s=self.wall_used_s(),
            n_attempts=len(attempts), n_failed_attempts=sum(1 for a in attempts if a.outcome != "ok")), final_rung=final_rung)
        if not decision.stop:
            return
        self.stopping, self.stop_message = decision.status, decision.message
        if decision.status == "failed":
            self.stop_message += f"; see 'alal status {self.rd.path} --failures'"

    # ---------------------------------------------------------------------------- progress

    def progress(self, force: bool = False) -> None:
        now = time.time()
        self.store.update(self.session_id, last_seen=now)
        if not force and now - self._last_progress < 15:
            return
        self._last_progress = now
        med, n = self.window_median()
        self.echo(progress_line(
            elapsed_s=now - self.t0, generation=self.generation(), n_labels=self.labels_count(),
            n_pending=self.pending_count(), n_failed=self.failed_count(), n_trajectories=len(self.finished_trajectories()),
            n_running=sum(len(f.info["ids"]) for f in self.in_flight("sample")), median_ps=med, n_window=n,
            stop_median_ps=self.cfg["loop.stop_median_ps"], wall_h=self.wall_used_s() / 3600,
            max_wall_h=self.cfg["loop.max_wall_h"],
            training=[(f.info["generation"], Path(f.info["task"]).with_suffix(".log")) for f in self.in_flight("train")],
            rung=(self.rho_rung, self.ladder.step_median_ps, self.ladder.is_final(self.rho_rung)) if self.laddered else None))

    # -------------------------------------------------------------------------------- main

    def run(self) -> Outcome:
        self.prepare()
        own_execution = self.execution is None
        if own_execution:
            e = self.cfg.section("execution")
            self.execution = Execution(self.rd.path, profile=e["profile"], workers=e["workers"], python=e["python"],
                                       echo=self.echo)
        self.echo(f"run {self.rd.path}: {self.execution.description}")
        try:
            self.recover()
            self.bootstrap()
            self._loop()
        except _Abort as abort:
            self.stopping, self.stop_message = "failed", str(abort)
            self._drain()
        finally:
            try:
                self.progress(force=True)
                if self.stopping:
                    self.store.update(self.session_id, stop_status=self.stopping,
                                      stop_message=self.stop_message[:400], stopped_at=time.time())
            finally:  # the batch jobs are cancelled even when the database is gone
                if own_execution:
                    self.execution.close()
                self.rd.unlock()
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
        landed = [f for f in self.flights if f.future in done]
        self.flights = [f for f in self.flights if f.future not in done]
        for f in landed:
            if f.kind == "label":
                self.finish_labels(f)
            elif f.kind == "sample":
                self.finish_sampling(f)
            else:
                self.finish_training(f)
        for f in self.in_flight("sample"):  # trajectories that ended in a running task go to the oracle now
            for p in recovery.new_trajectory_results(self.rd, f.info["ids"], f.info.setdefault("seen", set())):
                self.ingest_trajectory(p)
        self.flush_candidates()

    def _drain(self) -> None:
        while self.flights:
            self.wait_and_collect()
            self.progress()

    def outcome(self) -> Outcome:
        med, _ = self.window_median()
        status = self.stopping or "stopped"
        return Outcome(status=status, message=self.stop_message, generation=self.generation(),
                       n_labels=self.labels_count(), n_failed=self.failed_count(),
                       n_trajectories=len(self.finished_trajectories()), median_ps=med, wall_s=time.time() - self.t0)


SAMPLER_CONTROL_FILE = "sampler_control.json"  # the threshold ladder's current rung, read by running sampling tasks


class _Abort(Exception):
    pass


def run(cfg, run_dir, **kw) -> Outcome:
    return Loop(cfg, run_dir, **kw).run()


__all__ = ["Loop", "Outcome", "run"]
