"""The oracle: energy, forces and stress of a structure from an ASE calculator, with failures classified.

Kinds: ``emt`` (ASE's effective medium theory; demos and tests), ``gpaw`` (plane-wave DFT; cutoff, k-point
density, smearing and mixer from the config) and ``potential`` (any potential alal can load, by registry name,
model directory, ``package.module:callable`` or entry point, in float64: a teacher standing in for DFT, e.g. the
published ANI-Al for a discovery run that must fit in hours). Each attempt runs in its own child process
(``python -m alal.al.worker oracle IN OUT``) so that a hang can be killed at its time limit and a crash
cannot take the caller down; the child writes its result file atomically, and an existing result file is
collected instead of recomputed (that is how a resumed run picks up work finished while it was down).

Outcomes of an attempt:
  ok        energy, forces (and stress) finite
  scf       the SCF did not converge            -> retried with smaller mixing (and, later, wider smearing)
  non_finite  NaN/inf energy, forces or stress  -> retried like scf
  timeout   killed at oracle.time_limit_s       -> requeued unchanged
  crash     any other exception or a dead child -> quarantined (not retried)
Every attempt, failed or not, is recorded by the loop with its reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError

RETRYABLE = {"scf": "retry", "non_finite": "retry", "timeout": "requeue", "lost": "requeue"}


@dataclass
class OracleResult:
    hash: str
    attempt: int
    outcome: str
    reason: str = ""
    energy_eV: float | None = None
    forces_eV_A: list | None = None
    stress_eV_A3: list | None = None
    wall_s: float = 0.0
    settings: dict = field(default_factory=dict)
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "OracleResult":
        return cls(**json.loads(text))


@dataclass
class LabelTask:
    """One labelling attempt, the file ``input.json`` of its attempt directory (:func:`attempt_dir`): written by
    the loop (:func:`alal.al.tasks.label_inputs`), read by the oracle child (:func:`child_main`). The keys are the
    run directory's file format; ``faults``, ``want_stress`` and ``threads`` may be absent in a file (defaults)."""

    hash: str
    attempt: int
    settings: dict  # the calculator settings of this attempt (:func:`attempt_settings`)
    faults: dict  # injected failures, tests only
    want_stress: bool
    threads: int
    numbers: list
    positions: list
    cell: list
    pbc: list

    @classmethod
    def of(cls, atoms: Atoms, h: str, attempt: int, settings: dict, faults: dict | None = None,
           want_stress: bool = True, threads: int = 1) -> "LabelTask":
        return cls(hash=h, attempt=attempt, settings=settings, faults=faults or {}, want_stress=want_stress,
                   threads=threads, numbers=atoms.numbers.tolist(), positions=atoms.get_positions().tolist(),
                   cell=atoms.cell.array.tolist(), pbc=[bool(x) for x in atoms.pbc])

    def atoms(self) -> Atoms:
        return Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LabelTask":
        return cls(hash=d["hash"], attempt=d["attempt"], settings=d["settings"], faults=d.get("faults") or {},
                   want_stress=d.get("want_stress", True), threads=d.get("threads", 1), numbers=d["numbers"],
                   positions=d["positions"], cell=d["cell"], pbc=d["pbc"])

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str) -> "LabelTask":
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | Path) -> "LabelTask":
        return cls.from_json(Path(path).read_text())

    def write(self, path: str | Path) -> None:
        write_atomic(Path(path), self.to_json())

    def lost(self, outcome: str, reason: str, wall_s: float = 0.0) -> "OracleResult":
        """The result of this attempt when it produced none itself (timeout, crash, lost task)."""
        return OracleResult(hash=self.hash, attempt=self.attempt, outcome=outcome, reason=reason, wall_s=wall_s,
                            settings=self.settings)


# --------------------------------------------------------------------------------------- settings


def attempt_settings(base: dict, attempt: int, retry: dict) -> dict:
    """The calculator settings of attempt ``attempt`` (1-based). Retries after SCF/NaN failures soften the
    mixing (mixer_beta × factor, maxiter × 2); from attempt 3 on the smearing is widened as well."""
    s = dict(base)
    if s.get("kind") != "gpaw" or attempt <= 1:
        return s
    n = attempt - 1
    s["mixer_beta"] = base["mixer_beta"] * retry.get("retry_mixer_beta_factor", 0.5) ** n
    s["maxiter"] = int(base["maxiter"] * 2**n)
    if attempt >= 3:
        s["smearing_width_eV"] = base["smearing_width_eV"] * retry.get("retry_smearing_factor", 2.0) ** (attempt - 2)
    return s


_POTENTIAL_CALCULATORS: dict[str, object] = {}


def potential_identity(name: str) -> dict:
    """What defines the labels of a ``potential`` oracle: its name and, where it has data files, their sha256
    (so that labels of different weights never mix in one run). Raises AlalError for an unknown name."""
    from alal.potentials.sources import resolve

    from alal.potentials import is_path_like

    key = name.strip()
    if key not in _IDENTITIES:
        info = resolve(key).info
        # a model directory is recorded by absolute path: task processes may run in another folder
        label = str(Path(key).resolve()) if is_path_like(key) else key
        _IDENTITIES[key] = {"name": label, "dtype": "float64", "sha256": info.get("sha256")}
    return dict(_IDENTITIES[key])


_IDENTITIES: dict[str, dict] = {}


def _potential_calculator(settings: dict):
    """One calculator per labelling process and potential: a batch of labels pays the model load once."""
    from alal.potentials.sources import resolve

    name = settings["name"]
    if name not in _POTENTIAL_CALCULATORS:
        _POTENTIAL_CALCULATORS[name] = resolve(name).make_calculator(settings.get("dtype", "float64"))
    return _POTENTIAL_CALCULATORS[name]


def make_calculator(settings: dict, atoms: Atoms, txt: str | None = None):
    kind = settings["kind"]
    if kind == "potential":
        return _potential_calculator(settings)
    if kind == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    if kind == "gpaw":
        from gpaw import GPAW, PW, Mixer

        return GPAW(
            mode=PW(settings["ecut_eV"]),
            xc=settings["xc"],
            kpts={"density": settings["kpt_density_per_inv_A"], "gamma": bool(settings["kpts_gamma"])},
            occupations={"name": settings["smearing"], "width": settings["smearing_width_eV"]},
            mixer=Mixer(settings["mixer_beta"], settings["mixer_nmaxold"], settings["mixer_weight"]),
            maxiter=int(settings["maxiter"]),
            convergence={"energy": settings["convergence_energy_eV"], "density": settings["convergence_density"]},
            txt=txt,
        )
    raise AlalError(f"unknown oracle kind '{kind}'")


def check_available(settings: dict, element: str) -> None:
    """Fail early, with one clear sentence, when the oracle cannot run at all (before anything is written)."""
    if settings["kind"] == "emt":
        from ase.calculators.emt import parameters

        if element not in parameters:
            raise AlalError(f"the EMT oracle has no parameters for {element}")
        return
    if settings["kind"] == "potential":
        from alal.potentials.sources import probe, resolve

        try:
            probe(resolve(settings["name"]))
        except AlalError as exc:
            raise AlalError(f"oracle.kind = 'potential', oracle.name = '{settings['name']}': {exc}") from None
        return
    if settings["kind"] == "gpaw":
        try:
            from gpaw.setup_data import search_for_file
        except ImportError as exc:
            from alal.optional import GPAW_HINT

            raise AlalError(f"oracle.kind = 'gpaw' but GPAW cannot be imported ({exc}): {GPAW_HINT}") from None
        name = f"{element}.{settings['xc']}"
        try:
            search_for_file(name)
        except (RuntimeError, OSError):
            paths = os.environ.get("GPAW_SETUP_PATH", "(GPAW_SETUP_PATH unset)")
            raise AlalError(
                f"GPAW has no PAW setup '{name}' (searched the gpaw-data package and GPAW_SETUP_PATH={paths}); "
                "install gpaw-data or point GPAW_SETUP_PATH at a folder holding it"
            ) from None


def kpoint_mesh(settings: dict, atoms: Atoms) -> list[int]:
    """The Monkhorst-Pack mesh GPAW will use for ``atoms`` (for plans and cost estimates)."""
    from ase.calculators.calculator import kptdensity2monkhorstpack

    return [int(k) for k in kptdensity2monkhorstpack(atoms, settings["kpt_density_per_inv_A"], even=False)]


# ------------------------------------------------------------------------------------ in the child


def _fault(faults: dict, h: str, attempt: int) -> str | None:
    """A deterministic injected fault for (structure, attempt), or None."""
    from alal.data.hashing import unit_interval

    if not faults or faults.get("rate", 0.0) <= 0:
        return None
    if faults.get("only_first_attempt", True) and attempt > 1:
        return None
    u = unit_interval(h, salt=f"fault:{faults.get('seed', 0)}:{attempt}:")
    if u >= faults["rate"]:
        return None
    kinds = list(faults["kinds"])
    return kinds[int(unit_interval(h, salt=f"kind:{faults.get('seed', 0)}:{attempt}:") * len(kinds))]


def compute(atoms: Atoms, h: str, attempt: int, settings: dict, *, faults: dict | None = None,
            want_stress: bool = True, txt: str | None = None) -> OracleResult:
    """One labelling attempt in this process (what the child runs). Never raises for calculator failures."""
    import socket

    t0 = time.time()
    res = OracleResult(hash=h, attempt=attempt, outcome="crash", settings=settings, host=socket.gethostname())
    fault = _fault(faults or {}, h, attempt)
    try:
        if fault == "hang":
            time.sleep(10**6)
        if fault == "exception":
            raise RuntimeError("injected fault: calculator exception")
        if fault == "scf":
            from ase.calculators.calculator import SCFError

            raise SCFError("injected fault: SCF did not converge")
        a = atoms.copy()
        a.calc = make_calculator(settings, a, txt=txt)
        energy = float(a.get_potential_energy())
        forces = np.asarray(a.get_forces(), dtype=float)
        stress = _stress_or_none(a) if (want_stress and all(a.pbc)) else None
        if fault == "nan":
            energy = float("nan")
        bad = [name for name, x in (("energy", energy), ("forces", forces), ("stress", stress))
               if x is not None and not np.all(np.isfinite(x))]
        if bad:
            res.outcome, res.reason = "non_finite", f"non-finite {', '.join(bad)} from the calculator"
        else:
            res.outcome = "ok"
            res.energy_eV, res.forces_eV_A = energy, forces.tolist()
            res.stress_eV_A3 = None if stress is None else stress.tolist()
    except Exception as exc:  # noqa: BLE001 - every failure is classified and recorded
        res.outcome, res.reason = classify(exc)
        if res.outcome == "crash":
            res.reason += " | " + " / ".join(traceback.format_exc().strip().splitlines()[-3:])
    res.wall_s = time.time() - t0
    return res


def _stress_or_none(atoms: Atoms):
    """The stress, or None from a calculator that has none (a user's potential oracle may lack it)."""
    from ase.calculators.calculator import PropertyNotImplementedError

    try:
        return np.asarray(atoms.get_stress(voigt=True), dtype=float)
    except (PropertyNotImplementedError, NotImplementedError):
        return None


def classify(exc: BaseException) -> tuple[str, str]:
    names = {c.__name__ for c in type(exc).__mro__}
    text = f"{type(exc).__name__}: {exc}".strip()
    if names & {"KohnShamConvergenceError", "ConvergenceError", "SCFError"} or "did not converge" in str(exc).lower():
        return "scf", text[:400]
    return "crash", text[:400]


# ---------------------------------------------------------------------------------- in the parent


def write_input(path: Path, atoms: Atoms, h: str, attempt: int, settings: dict, faults: dict | None,
                want_stress: bool, threads: int) -> None:
    LabelTask.of(atoms, h, attempt, settings, faults, want_stress, threads).write(path)


def write_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def attempt_dir(work: Path, h: str, attempt: int) -> Path:
    return Path(work) / h[:2] / h / f"attempt-{attempt}"


def read_result(path: Path) -> OracleResult | None:
    try:
        return OracleResult.from_json(Path(path).read_text())
    except (OSError, ValueError, TypeError):
        return None


def run_attempt(input_path: Path, result_path: Path, *, time_limit_s: float, python: str | None = None,
                mpi_processes: int = 1) -> OracleResult:
    """One attempt in a child process with a hard time limit (see :func:`run_attempts`)."""
    return run_attempts([(Path(input_path), Path(result_path))], time_limit_s=time_limit_s, python=python,
                        mpi_processes=mpi_processes)[0]


def run_attempts(items: list[tuple[Path, Path]], *, time_limit_s: float, python: str | None = None,
                 mpi_processes: int = 1) -> list[OracleResult]:
    """Run labelling attempts in a child process, one after another, each with a hard time limit.

    One child serves the whole list (process start-up is paid once); before each attempt it creates
    ``<result>.started``. When an attempt outlives ``time_limit_s`` the child is killed, the attempt is
    recorded as a timeout, and a fresh child continues with the rest; when the child dies, the attempt it
    was on is recorded as a crash. Existing result files are returned as they are (idempotent).
    """
    items = [(Path(i), Path(r)) for i, r in items]
    remaining = [(i, r) for i, r in items if read_result(r) is None]
    while remaining:
        for _, r in remaining:  # markers of an earlier, killed driver session would look like old starts
            r.with_name(r.name + ".started").unlink(missing_ok=True)
        first_in, first_res = remaining[0]
        first = LabelTask.read(first_in)
        list_file = first_res.with_name("batch.json")
        write_atomic(list_file, json.dumps([[str(i), str(r)] for i, r in remaining]))
        cmd = [python or sys.executable, "-m", "alal.al.worker", "oracle-batch", str(list_file)]
        if mpi_processes > 1:
            cmd = ["mpiexec", "-n", str(mpi_processes)] + cmd
        env = dict(os.environ)
        threads = str(first.threads)
        env.update(OMP_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        log = first_res.with_name("child.log")
        timed_out = False
        with open(log, "ab") as fh:
            proc = spawn(cmd, stdout=fh, env=env)
            while proc.poll() is None:
                running = next(((i, r) for i, r in remaining if read_result(r) is None), None)
                if running is None:
                    break
                started = running[1].with_name(running[1].name + ".started")
                try:
                    age = time.time() - started.stat().st_mtime
                except FileNotFoundError:
                    age = None
                if age is not None and age > time_limit_s:
                    _kill_group(proc)
                    res = LabelTask.read(running[0]).lost(
                        "timeout", f"no result within oracle.time_limit_s = {time_limit_s:g} s; killed", wall_s=age)
                    write_atomic(running[1], res.to_json())
                    timed_out = True
                    break
                time.sleep(0.05 if age is None or age < 2 else 0.25)
            if proc.poll() is None:
                if not timed_out:
                    proc.wait()
            rc = proc.returncode
        pending = [(i, r) for i, r in remaining if read_result(r) is None]
        if pending and not timed_out:
            # the child ended without a result for the attempt it was on: a crash (never retried in a loop)
            i, r = pending[0]
            res = LabelTask.read(i).lost(
                "crash", f"the labelling process died (exit code {rc}) without a result: {_tail(log)}")
            write_atomic(r, res.to_json())
            pending = pending[1:]
        remaining = pending
    return [read_result(r) for _, r in items]


def _tail(path: Path, n: int = 300) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip()
    except OSError:
        return ""
    return " / ".join(text[-n:].splitlines()[-3:])


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


def spawn(cmd: list[str], *, stdout, env: dict, cwd: str | None = None) -> subprocess.Popen:
    """Start a task process in its own session; it kills itself if we die (see :func:`die_with_parent`)."""
    env = dict(env)
    env["ALAL_PARENT_PID"] = str(os.getpid())
    return subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)


def die_with_parent() -> None:
    """Called first thing in a task process: SIGKILL us when the process that started us dies (Linux
    PR_SET_PDEATHSIG), so a killed driver leaves no orphans computing on. Done here rather than in a
    pre-exec hook, which is unsafe in a threaded parent."""
    parent = os.environ.get("ALAL_PARENT_PID")
    if not parent:
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)


def child_main(input_path: str, result_path: str) -> int:
    task = LabelTask.read(input_path)
    Path(result_path + ".started").touch()
    txt = str(Path(result_path).with_name("calculator.txt")) if task.settings["kind"] == "gpaw" else None
    res = compute(task.atoms(), task.hash, task.attempt, task.settings, faults=task.faults,
                  want_stress=task.want_stress, txt=txt)
    write_atomic(Path(result_path), res.to_json())
    return 0


def child_batch_main(list_file: str) -> int:
    for input_path, result_path in json.loads(Path(list_file).read_text()):
        if read_result(Path(result_path)) is None:
            child_main(input_path, result_path)
    return 0


def estimate_seconds(settings: dict, n_atoms: int, kpts: int = 1) -> float:
    """Rough wall time of one label on one core (for ``--dry-run`` only)."""
    if settings["kind"] in ("emt", "potential"):
        return 0.5 + 1e-4 * n_atoms  # mostly process start-up (a batch of labels shares one process)
    # GPAW PW: grows like N^2..N^3 with electrons; calibrated on a 1-atom cell (~5 s at 8x8x8 k)
    return 5.0 + 0.02 * (n_atoms**2.3) * max(kpts, 1) ** 0.9 / 8.0
