"""``alal validate --execution PROFILE.toml``: the validation suite's independent pieces as Parsl tasks.

The same cluster profiles as ``alal train --profile`` (:mod:`alal.al.execution`: provider ``slurm``, ``lsf``,
``pbspro`` or ``local``, one or more ``[executors.NAME]``). Pieces run on the executor that ``[profile]`` names
for the task kind ``validate`` (``validate = "gpu"``); a profile that names none runs them on the executor of
``label`` (which is the first executor when ``label`` is not named either).

A piece is one property for one potential, except properties that share state inside one potential's run and
would give other numbers apart: ``rdf`` reuses the liquid states of ``liquid_density`` (``SHARED_STATE``), so the
two form one piece when both are selected. Every piece is a Parsl ``python_app`` (:func:`piece_app`) that starts
one child process, ``python -m validation.distributed TASK.json`` (as the active-learning tasks do: a crash or a
hang inside C code costs that piece only, and the child dies with its worker), which rebuilds the potential from
its spec, runs the properties with the same code as the local run (:func:`validation.runner.run_property`), writes
kept structures straight into the run's staging folder and its result to ``TASK.result.json``. The driver waits for
every piece and assembles ``results.json`` exactly as the local run does (same keys, same order, same numbers);
``meta.execution`` records the profile and, per piece, the host and process that computed it.

MD runs are split further: the seeds and pressures of ``melting`` and the seeds of ``heat_cool`` are independent
runs created and combined inside one property's ``compute`` (:func:`validation.md.parallel.run_jobs`). Under an
execution profile each of them is a task of its own (:mod:`validation.md.remote`): the piece runs in passes, a pass
ends where the property asks for runs whose results are not known yet, the driver runs those as tasks (each in a
child process that rebuilds the potential's MD engine), and the next pass continues with their results (melting's
next round of pressures depends on the last). ``meta.execution`` lists every run with its host and process. Each
piece relaxes its potential's FCC lattice constant itself (deterministic: the same number in every piece); a
piece's later passes and its runs reuse the first pass's lattice constant and measured MD throughput, so quick-tier
budget decisions (a timing) are taken once per piece.

Requirements: potentials given as strings (registry names, model paths, ``module:callable``, entry points), since
a calculator object cannot be rebuilt in another process; the output folder (the staging folder beside it, where
pieces write) and the data folder (``ALAL_DATA_DIR``) on a file system that the workers see. The driver's
``ALAL_*`` settings are handed to every piece. Pieces start in the driver's working directory (relative model
paths work) with ``OMP_NUM_THREADS`` = the executor's ``cores_per_worker``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alal.errors import AlalError
from validation.md.remote import MAX_PASSES

TASK_KIND = "validate"
# Properties that must run in one process when selected together (the later ones read the earlier ones' state).
SHARED_STATE: tuple[tuple[str, ...], ...] = (("liquid_density", "rdf"),)


def pieces_of(props: list[str], skip: set[str] = frozenset()) -> list[list[str]]:
    """The independent pieces of one potential's run: properties in order, grouped by ``SHARED_STATE``."""
    groups: list[list[str]] = []
    for name in props:
        if name in skip:
            continue
        home = None
        for shared in SHARED_STATE:
            if name in shared:
                home = next((g for g in groups if any(m in shared for m in g)), None)
        if home is None:
            groups.append([name])
        else:
            home.append(name)
    return groups


def transport_spec(src) -> str | None:
    """The string that rebuilds ``src`` in another process (:func:`alal.potentials.sources.resolve`), or None."""
    from alal.potentials.sources import IMPORT_STRING

    if src.registry_name:
        return src.registry_name
    info = src.info or {}
    if isinstance(info.get("entry_point"), str):
        return info["entry_point"]
    source = info.get("source")
    if isinstance(source, str) and IMPORT_STRING.match(source):
        return source
    return None


@dataclass
class Pieces:
    """What the pieces computed, read by the runner in its usual order."""

    profile: str
    provider: str
    executor: str
    outcomes: dict[tuple[str, str], tuple[dict, str | None]] = field(default_factory=dict)
    a0: dict[str, float] = field(default_factory=dict)
    walls: dict[str, float] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def outcome(self, label: str, prop: str) -> tuple[dict, str | None]:
        return self.outcomes[(label, prop)]

    def fcc_a0(self, label: str) -> float | None:
        return self.a0.get(label)

    def wall_time(self, label: str) -> float:
        """Seconds the potential's pieces computed, summed (they may have run side by side)."""
        return round(self.walls.get(label, 0.0), 2)

    def meta(self) -> dict:
        return {"profile": self.profile, "provider": self.provider, "executor": self.executor,
                "task_kind": TASK_KIND, "pieces": self.records}


@dataclass
class ExecutionPlan:
    """A loaded profile and the executor that runs validation pieces."""

    path: str
    profile: object  # alal.al.execution.Profile
    executor: str

    @classmethod
    def load(cls, path) -> "ExecutionPlan":
        from alal.al.config import ConfigError
        from alal.al.execution import load_profile

        try:
            profile = load_profile(path)
        except ConfigError as exc:
            raise AlalError(f"--execution: {exc} (give a cluster profile TOML like configs/cluster-slurm.toml)") \
                from None
        return cls(str(path), profile, profile.route(TASK_KIND))

    @property
    def threads(self) -> int:
        return int(self.profile.executors[self.executor]["cores_per_worker"])

    def check_transportable(self, sources) -> None:
        bad = [s.label for s in sources if transport_spec(s) is None]
        if bad:
            raise AlalError(f"--execution: potential{'s' if len(bad) > 1 else ''} {', '.join(bad)} cannot be rebuilt "
                            f"in another process (a calculator object or a Python factory); give registry names, "
                            f"model paths, 'package.module:callable' strings or entry points, or run without "
                            f"--execution")

    def run(self, sources, props: list[str], *, no_stress: set, tier: str, seed: int,
            potential_options: dict | None, staging: Path | None, log) -> Pieces:
        """Submit every piece (and its MD runs), wait for all of them, and return what they computed."""
        from validation import properties as property_registry
        from validation.runner import alal_environment

        pieces = Pieces(self.path, self.profile.provider, self.executor)
        if staging is not None:
            work = staging.parent / f"{staging.name}-pieces"
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
        else:
            work = Path(tempfile.mkdtemp(prefix=".alal-validate-pieces-", dir=Path.cwd()))
        try:
            states = []
            for src in sources:
                skip = ({p for p in props if p in property_registry.NEEDS_STRESS} if src.label in no_stress
                        else set())
                for group in pieces_of(props, skip):
                    task = {"kind": "piece", "label": src.label, "spec": transport_spec(src),
                            "options": potential_options or {}, "properties": group, "tier": tier, "seed": seed,
                            "staging": str(staging.resolve()) if staging is not None else None,
                            "env": alal_environment(), "cwd": str(Path.cwd()), "answered": [], "cache": {}}
                    states.append(_PieceState(len(states), src.label, group, work, task))
            if states:
                self._submit_and_wait(states, pieces, log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return pieces

    def _submit_and_wait(self, states: list["_PieceState"], pieces: Pieces, log) -> None:
        import logging

        import parsl
        from parsl.app.app import python_app

        from alal.al.execution import parsl_config

        logging.getLogger("parsl").setLevel(logging.WARNING)
        config = parsl_config(self.profile, states[0].work)
        with _parsl_scripts_on_path():
            dfk = parsl.DataFlowKernel(config)
            try:
                app = python_app(piece_app, executors=[self.executor], data_flow_kernel=dfk)
                log(f"{len(states)} validation pieces -> Parsl executor '{self.executor}' ({self.profile.provider}, "
                    f"profile {self.path})")
                pending: dict = {}  # future -> (piece, None for a pass or the index of one of its MD runs)

                def submit(state: _PieceState, run: int | None, path: Path) -> None:
                    pending[app(str(path), "", self.threads)] = (state, run)

                for state in states:
                    submit(state, None, state.next_pass())
                while pending:
                    finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                    for fut in finished:
                        state, run = pending.pop(fut)
                        status = _status_of(fut)
                        if run is None:
                            for k, path in self._after_pass(state, status, pieces, log):
                                submit(state, k, path)
                        elif self._after_run(state, run, status, pieces, log):
                            submit(state, None, state.next_pass())
                pieces.records = [state.record for state in states]
            finally:
                dfk.cleanup()

    def _after_pass(self, state: "_PieceState", status: dict, pieces: Pieces, log) -> list[tuple[int, Path]]:
        """Read a finished pass: the piece's results (done), or the MD runs it needs (returned, to submit)."""
        path = state.pass_path
        _relay_log(path, log)
        state.record.update(host=status.get("host"), rc=status.get("rc"), passes=state.passes)
        try:
            result = json.loads(path.with_suffix(".result.json").read_text())
        except (OSError, json.JSONDecodeError):
            why = status.get("error") or (f"exit status {status.get('rc')}" + (" (time limit)" if status.get(
                "timed_out") else ""))
            tail = status.get("tail") or ""
            state.fail(f"validation piece failed on {status.get('host') or 'its worker'}: {why}" + (
                f"; last output: {tail}" if tail else ""), pieces, log)
            return []
        state.wall_s += float(result["wall_time_s"])
        state.record.update(host=result["host"], pid=result["pid"], wall_time_s=round(state.wall_s, 3))
        needs = result.get("needs")
        if needs is None:
            state.finish(result, pieces, log)
            return []
        if state.passes >= MAX_PASSES:
            state.fail(f"validation piece asked for MD runs in {state.passes} passes (at most {MAX_PASSES}): "
                       f"a property that never ends", pieces, log)
            return []
        state.task["cache"] = result.get("cache") or {}
        log(f"[{state.label}] {needs['property']}: {needs['n_jobs']} MD run(s) -> tasks (pass {state.passes})")
        return state.run_tasks(needs)

    def _after_run(self, state: "_PieceState", k: int, status: dict, pieces: Pieces, log) -> bool:
        """Record a finished MD run; True when the piece's next pass can start (every run of this pass is done)."""
        path = state.run_paths[k]
        _relay_log(path, log)
        run = {"pass": state.passes, "function": state.needs["fn"], "index": k, "host": status.get("host"),
               "pid": None, "wall_time_s": None, "rc": status.get("rc")}
        try:
            meta = json.loads(path.with_suffix(".meta.json").read_text())
            run.update(host=meta["host"], pid=meta["pid"], wall_time_s=round(meta["wall_time_s"], 3))
            state.wall_s += float(meta["wall_time_s"])
        except (OSError, json.JSONDecodeError, KeyError):
            why = status.get("error") or f"exit status {status.get('rc')}"
            tail = status.get("tail") or ""
            run["error"] = (f"MD run {k + 1} of {state.needs['n_jobs']} ({state.needs['fn']}) failed on "
                            f"{status.get('host') or 'its worker'}: {why}" + (f"; last output: {tail}" if tail else ""))
        state.record["md_runs"].append(run)
        state.open_runs.discard(k)
        if state.open_runs:
            return False
        errors = [r["error"] for r in state.record["md_runs"] if r["pass"] == state.passes and "error" in r]
        if errors:
            state.fail(errors[0], pieces, log)
            return False
        state.task["answered"].append({"fn": state.needs["fn"], "n_jobs": state.needs["n_jobs"],
                                       "results": [str(state.run_paths[i].with_suffix(".pkl"))
                                                   for i in range(state.needs["n_jobs"])]})
        return True


class _PieceState:
    """One piece on its way through passes and MD runs; its ``record`` goes into ``meta.execution``."""

    def __init__(self, index: int, label: str, group: list[str], work: Path, task: dict):
        self.index, self.label, self.group, self.work, self.task = index, label, group, work, task
        self.passes = 0
        self.wall_s = 0.0
        self.pass_path: Path = work
        self.needs: dict = {}
        self.run_paths: dict[int, Path] = {}
        self.open_runs: set[int] = set()
        self.record = {"potential": label, "properties": group, "host": None, "pid": None, "wall_time_s": None,
                       "rc": None, "passes": 0, "md_runs": []}

    def next_pass(self) -> Path:
        self.passes += 1
        self.pass_path = self.work / f"piece-{self.index:03d}-pass{self.passes}.json"
        self.task["result"] = str(self.pass_path.with_suffix(".result.json").resolve())
        self.pass_path.write_text(json.dumps(self.task, indent=1))
        return self.pass_path

    def run_tasks(self, needs: dict) -> list[tuple[int, Path]]:
        self.needs, self.run_paths = needs, {}
        piece = {k: self.task[k] for k in ("label", "spec", "options", "tier", "seed", "env", "cwd")}
        out = []
        for k in range(needs["n_jobs"]):
            path = self.work / f"piece-{self.index:03d}-pass{self.passes}-run{k:03d}.json"
            task = {"kind": "md_run", **piece, "cache": self.task["cache"], "fn": needs["fn"], "jobs": needs["jobs"],
                    "index": k, "prefix": needs.get("prefix", ""), "result": str(path.with_suffix(".pkl").resolve()),
                    "meta": str(path.with_suffix(".meta.json").resolve())}
            path.write_text(json.dumps(task, indent=1))
            self.run_paths[k] = path
            out.append((k, path))
        self.open_runs = set(self.run_paths)
        return out

    def finish(self, result: dict, pieces: Pieces, log) -> None:
        for prop in self.group:
            pieces.outcomes[(self.label, prop)] = (result["entries"][prop], result["errors"].get(prop))
        if result.get("fcc_a0_A") is not None:
            pieces.a0.setdefault(self.label, result["fcc_a0_A"])
        pieces.walls[self.label] = pieces.walls.get(self.label, 0.0) + self.wall_s
        runs = len(self.record["md_runs"])
        log(f"[{self.label}] {', '.join(self.group)}: piece done in {self.wall_s:.1f} s (host {self.record['host']}, "
            f"pid {self.record['pid']}" + (f"; {runs} MD runs as tasks, {self.passes} passes)" if runs else ")"))

    def fail(self, message: str, pieces: Pieces, log) -> None:
        for prop in self.group:
            pieces.outcomes[(self.label, prop)] = ({"error": message, "wall_time_s": 0.0},
                                                   f"{self.label} / {prop}: {message}")
        log(f"[{self.label}] {', '.join(self.group)}: FAILED: {message}")
        self.record["error"] = message


def _status_of(fut) -> dict:
    try:
        return fut.result()
    except Exception as exc:  # noqa: BLE001 - a lost worker or a Parsl error: this task fails
        return {"rc": None, "error": f"{type(exc).__name__}: {exc}", "tail": "", "host": None}


def _relay_log(task_path: Path, log) -> None:
    """A task's own progress lines, into this run's log."""
    task_log = task_path.with_suffix(".log")
    if task_log.is_file():
        for line in task_log.read_text(errors="replace").splitlines():
            if line.strip():
                log(f"  | {line}")


@contextmanager
def _parsl_scripts_on_path():
    """While Parsl runs: this Python's ``bin`` on PATH when Parsl's scripts are only there
    (:func:`alal.al.execution.parsl_scripts_on_path`); PATH as it was afterwards."""
    from alal.al.execution import parsl_scripts_on_path

    old = os.environ.get("PATH")
    changed = parsl_scripts_on_path()
    try:
        yield
    finally:
        if changed:
            if old is None:
                os.environ.pop("PATH", None)
            else:
                os.environ["PATH"] = old


# ------------------------------------------------------------------------------------ the Parsl app (on a worker)


def piece_app(task_path: str, python: str, threads: int) -> dict:
    """Run ``python -m validation.distributed TASK`` (one piece) in a child process; return how it ended.

    A module-level function: Parsl ships it by reference, so the workers need this package importable.
    """
    from alal.al.oracle import _tail, spawn

    task = json.loads(Path(task_path).read_text())
    log = Path(task_path).with_suffix(".log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALAL_")}
    env.update(task.get("env") or {})
    t = str(max(1, int(threads)))
    env.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, OPENBLAS_NUM_THREADS=t, TORCHANI_NO_WARN_EXTENSIONS="1")
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("ALAL_MD_WORKERS", t)
    cwd = task.get("cwd")
    cmd = [python or sys.executable, "-m", "validation.distributed", task_path]
    t0 = time.time()
    with open(log, "ab") as fh:
        proc = spawn(cmd, stdout=fh, env=env, cwd=cwd if cwd and os.path.isdir(cwd) else None)
        rc = proc.wait()
    return {"rc": rc, "timed_out": False, "wall_s": time.time() - t0, "log": str(log), "tail": _tail(log, 600),
            "host": socket.gethostname()}


def piece_context(task: dict, log):
    """The potential context of a piece (or of one of its MD runs), its cache seeded from earlier passes."""
    from alal.potentials.sources import resolve
    from validation.properties.base import PotentialContext
    from validation.references import load_references

    label = task["label"]
    src = resolve(task["spec"], label=label, options=task.get("options") or None)
    ctx = PotentialContext(name=label, tier=task["tier"], references=load_references(),
                           make_calculator=lambda dtype: src.make_calculator(dtype),
                           progress=lambda msg: log(f"[{label}] {msg}"), seed=task["seed"])
    ctx.cache.update(task.get("cache") or {})
    return ctx


def _write_json_atomic(path: Path, data: dict) -> None:
    from validation.properties.base import jsonable

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(data)))
    tmp.replace(path)


def run_piece(task: dict) -> int:
    """A pass of a piece: run its properties and write the result file, or the MD runs that the pass needs."""
    from validation.md.parallel import use_job_runner
    from validation.md.remote import JobsNeeded, ReplayRunner, portable_cache, write_pickle
    from validation.properties.base import A0_KEY
    from validation.runner import run_property

    def log(message: str) -> None:
        print(message, flush=True)

    ctx = piece_context(task, log)
    staging = Path(task["staging"]) if task.get("staging") else None
    result = Path(task["result"])
    entries, errors = {}, {}
    out = {"pid": os.getpid(), "host": socket.gethostname()}
    t0 = time.perf_counter()
    with use_job_runner(ReplayRunner(task.get("answered") or [])):
        for prop in task["properties"]:
            try:
                entries[prop], error = run_property(prop, ctx, staging, log)
            except JobsNeeded as need:
                jobs = result.with_name(result.name.replace(".result.json", ".jobs.pkl"))
                write_pickle(jobs, need.jobs)
                log(f"[{task['label']}] {prop}: {len(need.jobs)} MD run(s) of {need.fn_name} to run as tasks")
                out.update(needs={"property": prop, "fn": need.fn_name, "n_jobs": len(need.jobs), "jobs": str(jobs),
                                  "prefix": need.prefix},
                           cache=portable_cache(ctx.cache), wall_time_s=time.perf_counter() - t0)
                _write_json_atomic(result, out)
                return 0
            if error is not None:
                errors[prop] = error
    out.update(entries=entries, errors=errors, fcc_a0_A=ctx.cache.get(A0_KEY), wall_time_s=time.perf_counter() - t0)
    _write_json_atomic(result, out)
    return 0


def run_md_run(task: dict) -> int:
    """One MD run of a piece: rebuild the potential's MD engine, run, write the return value and where it ran."""
    from validation.md.common import md_engine
    from validation.md.remote import run_job

    ctx = piece_context(task, lambda message: print(message, flush=True))
    meta = run_job(task, lambda: md_engine(ctx))
    _write_json_atomic(Path(task["meta"]), meta)
    return 0


def main(argv: list[str] | None = None) -> int:
    from alal.al.oracle import die_with_parent

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m validation.distributed TASK.json", file=sys.stderr)
        return 2
    die_with_parent()
    os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
    task = json.loads(Path(argv[0]).read_text())
    return run_md_run(task) if task.get("kind") == "md_run" else run_piece(task)


if __name__ == "__main__":
    sys.exit(main())
