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

What is not split further: the MD seeds and pressures of ``melting`` (and the temperatures of ``heat_cool``) are
independent runs, but they are created and combined inside one property's ``compute``; they run side by side
*within* their piece (:mod:`validation.md.parallel`, up to the worker's ``cores_per_worker`` processes, or
``ALAL_MD_WORKERS``), not as Parsl tasks of their own. Each piece relaxes its potential's FCC lattice constant
itself (deterministic: the same number in every piece); quick-tier MD budget decisions for ASE-driven potentials
read a throughput measured in each piece (a timing, so it varies between runs anyway).

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
from concurrent.futures import as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alal.errors import AlalError

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
        """Submit every piece, wait for all of them, and return what they computed."""
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
            tasks = []
            for src in sources:
                skip = ({p for p in props if p in property_registry.NEEDS_STRESS} if src.label in no_stress
                        else set())
                for group in pieces_of(props, skip):
                    path = work / f"piece-{len(tasks):03d}.json"
                    task = {"label": src.label, "spec": transport_spec(src), "options": potential_options or {},
                            "properties": group, "tier": tier, "seed": seed,
                            "staging": str(staging.resolve()) if staging is not None else None,
                            "result": str(path.with_suffix(".result.json").resolve()),
                            "env": alal_environment(), "cwd": str(Path.cwd())}
                    path.write_text(json.dumps(task, indent=1))
                    tasks.append((src.label, group, path))
            if tasks:
                self._submit_and_wait(tasks, work, pieces, log)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return pieces

    def _submit_and_wait(self, tasks, work: Path, pieces: Pieces, log) -> None:
        import logging

        import parsl
        from parsl.app.app import python_app

        from alal.al.execution import parsl_config

        logging.getLogger("parsl").setLevel(logging.WARNING)
        config = parsl_config(self.profile, work)
        with _parsl_scripts_on_path():
            dfk = parsl.DataFlowKernel(config)
            try:
                app = python_app(piece_app, executors=[self.executor], data_flow_kernel=dfk)
                log(f"{len(tasks)} validation pieces -> Parsl executor '{self.executor}' ({self.profile.provider}, "
                    f"profile {self.path})")
                futures = {app(str(path), "", self.threads): i for i, (_l, _g, path) in enumerate(tasks)}
                done: dict[int, dict] = {}
                for fut in as_completed(futures):
                    i = futures[fut]
                    label, group, path = tasks[i]
                    try:
                        status = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a lost worker or a Parsl error: this piece fails
                        status = {"rc": None, "error": f"{type(exc).__name__}: {exc}", "tail": "", "host": None}
                    done[i] = self._collect(label, group, path, status, pieces, log)
                pieces.records = [done[i] for i in range(len(tasks))]
            finally:
                dfk.cleanup()

    def _collect(self, label: str, group: list[str], path: Path, status: dict, pieces: Pieces, log) -> dict:
        result_path = path.with_suffix(".result.json")
        piece_log = path.with_suffix(".log")
        if piece_log.is_file():  # the piece's own progress lines, into this run's log
            for line in piece_log.read_text(errors="replace").splitlines():
                if line.strip():
                    log(f"  | {line}")
        record = {"potential": label, "properties": group, "host": status.get("host"), "pid": None,
                  "wall_time_s": None, "rc": status.get("rc")}
        try:
            result = json.loads(result_path.read_text())
        except (OSError, json.JSONDecodeError):
            why = status.get("error") or (f"exit status {status.get('rc')}" + (" (time limit)" if status.get(
                "timed_out") else ""))
            tail = status.get("tail") or ""
            message = f"validation piece failed on {status.get('host') or 'its worker'}: {why}" + (
                f"; last output: {tail}" if tail else "")
            for prop in group:
                pieces.outcomes[(label, prop)] = ({"error": message, "wall_time_s": 0.0},
                                                  f"{label} / {prop}: {message}")
            log(f"[{label}] {', '.join(group)}: FAILED: {message}")
            record["error"] = message
            return record
        for prop in group:
            entry = result["entries"][prop]
            pieces.outcomes[(label, prop)] = (entry, result["errors"].get(prop))
        if result.get("fcc_a0_A") is not None:
            pieces.a0.setdefault(label, result["fcc_a0_A"])
        pieces.walls[label] = pieces.walls.get(label, 0.0) + float(result["wall_time_s"])
        record.update(host=result["host"], pid=result["pid"], wall_time_s=round(result["wall_time_s"], 3))
        log(f"[{label}] {', '.join(group)}: piece done in {result['wall_time_s']:.1f} s "
            f"(host {result['host']}, pid {result['pid']})")
        return record


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


def run_piece(task_path: str | Path) -> int:
    """The child process: rebuild the potential, run the piece's properties, write the result file."""
    from alal.potentials.sources import resolve
    from validation.properties.base import A0_KEY, PotentialContext, jsonable
    from validation.references import load_references
    from validation.runner import run_property

    task = json.loads(Path(task_path).read_text())
    label = task["label"]
    src = resolve(task["spec"], label=label, options=task.get("options") or None)

    def log(message: str) -> None:
        print(message, flush=True)

    ctx = PotentialContext(name=label, tier=task["tier"], references=load_references(),
                           make_calculator=lambda dtype: src.make_calculator(dtype),
                           progress=lambda msg: log(f"[{label}] {msg}"), seed=task["seed"])
    staging = Path(task["staging"]) if task.get("staging") else None
    entries, errors = {}, {}
    t0 = time.perf_counter()
    for prop in task["properties"]:
        entries[prop], error = run_property(prop, ctx, staging, log)
        if error is not None:
            errors[prop] = error
    out = {"pid": os.getpid(), "host": socket.gethostname(), "entries": entries, "errors": errors,
           "fcc_a0_A": ctx.cache.get(A0_KEY), "wall_time_s": time.perf_counter() - t0}
    result = Path(task["result"])
    tmp = result.with_name(result.name + ".tmp")
    tmp.write_text(json.dumps(jsonable(out)))
    tmp.replace(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    from alal.al.oracle import die_with_parent

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m validation.distributed TASK.json", file=sys.stderr)
        return 2
    die_with_parent()
    os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
    return run_piece(argv[0])


if __name__ == "__main__":
    sys.exit(main())
