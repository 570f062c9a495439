"""GPAW calculations as independent jobs: a pool of serial workers, a per-calculation cache, progress with ETA.

Why a pool of serial GPAW processes: every reference property is many small, independent calculations
(1-12 atoms). Running them side by side, one per core, parallelises perfectly, needs no MPI launcher and loses
nothing to communication; ``mpiexec -n 2`` over k-points and 2 BLAS threads were both measured slower on this
kind of cell (see the report / README "DFT references"). Workers are spawned (not forked: GPAW and BLAS
threads do not survive a fork cleanly) with one BLAS/OpenMP thread each.

Jobs are submitted most expensive first (longest-processing-time scheduling keeps both cores busy until the
end). The cost model (irreducible k-points × atoms² × cutoff^1.5) is recalibrated on the fly from finished
jobs, which gives the ETA.

The cache (one JSON per calculation, keyed by structure hash, mesh, settings fingerprint and code versions)
makes an interrupted run resumable in the middle of a property; it lives outside the repository
(``$ALAL_CACHE_DIR/dft`` or ``~/.cache/alal/dft``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError
from alal.units import EV_PER_A3_TO_GPA
from validation.dft.records import structure_sha256, write_json_atomic
from validation.dft.settings import DFTSettings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class Job:
    """One GPAW calculation. ``key`` is unique within a run and human readable ("eos/fcc/V=16.500").

    ``settings`` overrides the runner's (the convergence study runs many settings in one pool).
    ``point_group=False`` keeps only time-reversal symmetry. Used for the tilted {111} fault cells: their
    rotations map the tilted third cell vector onto itself plus an in-plane lattice vector, and GPAW then
    forces all three FFT grid dimensions to the largest one (14×14×70 → 70×70×70 for six layers, 25× the work).
    Dropping the point group costs ~1.7× in k-points instead, and gives every point of a path the same k-set.

    ``kpoints_scaled`` (N×3, reduced coordinates of *this* cell's reciprocal vectors, equal weights) replaces the
    Γ-centred ``kpts`` mesh; ``kpts`` then only names the mesh the list was made from (records, cost). Used by
    the GSFE paths: the same Cartesian k-points for every tilt of the cell
    (:func:`validation.dft.settings.cartesian_kpoints`).
    """

    key: str
    atoms: Atoms
    kpts: tuple[int, int, int]
    stress: bool = False
    settings: DFTSettings | None = None
    point_group: bool = True
    kpoints_scaled: tuple[tuple[float, float, float], ...] | None = None


def default_cache_dir() -> Path:
    root = os.environ.get("ALAL_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "alal") / "dft"


def irreducible_kpoints(atoms: Atoms, kpts: Sequence[int], point_group: bool = True,
                        n_listed: int | None = None) -> int:
    """Number of irreducible k-points of a Γ-centred mesh (spglib, with time reversal): the cost driver.

    ``n_listed``: the job gives an explicit list of that many k-points (time reversal pairs them up)."""
    if n_listed is not None:
        return int(math.ceil((n_listed + 1) / 2))
    if not point_group:
        return int(math.ceil((np.prod(kpts) + 1) / 2))
    try:
        import spglib

        cell = (atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers)
        mapping, _ = spglib.get_ir_reciprocal_mesh(list(kpts), cell, is_shift=[0, 0, 0])
        return int(len(np.unique(mapping)))
    except Exception:  # noqa: BLE001 - only the ETA depends on it
        return int(math.ceil(np.prod(kpts) / 2))


def estimated_cost(job: Job, settings: DFTSettings) -> float:
    """Relative cost: irreducible k-points × atoms^1.5 × (cutoff/300 eV)^1.5 (plane waves ∝ cutoff^1.5).

    The atom exponent is measured, not theoretical: for 1-12 atoms GPAW's time per k-point grew as N^1.4.
    """
    n = len(job.atoms)
    listed = None if job.kpoints_scaled is None else len(job.kpoints_scaled)
    return irreducible_kpoints(job.atoms, job.kpts, job.point_group, listed) * max(n, 1) ** 1.5 * (settings.cutoff_eV / 300.0) ** 1.5


def cache_key(job: Job, settings: DFTSettings, code: dict) -> str:
    doc = {
        "structure": structure_sha256(job.atoms),
        "kpts": [int(k) for k in job.kpts],
        "stress": bool(job.stress),
        "point_group": bool(job.point_group),
        "settings": settings.fingerprint(),
        "code": {k: code.get(k) for k in ("gpaw", "gpaw_data", "setup_sha256", "libxc")},
    }
    if job.kpoints_scaled is not None:  # (absent otherwise: keys of mesh jobs stay what they were)
        listed = np.round(np.asarray(job.kpoints_scaled, float), 10) + 0.0  # + 0.0: no "-0.0" in the hash
        doc["kpoints_scaled_sha256"] = hashlib.sha256(json.dumps(listed.tolist()).encode()).hexdigest()
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def calculate(atoms_dict: dict, kpts: tuple[int, int, int], settings: DFTSettings, stress: bool,
              point_group: bool = True, kpoints_scaled=None) -> dict:
    """Run one GPAW calculation in this process; plain-JSON result.

    Top level (picklable) so that pool workers can run it. The energy is the variational free energy, which
    for cold smearing equals GPAW's zero-width extrapolation and is the energy the stress derives from.
    """
    from gpaw import GPAW

    atoms = Atoms(numbers=atoms_dict["numbers"], positions=atoms_dict["positions"], cell=atoms_dict["cell"],
                  pbc=atoms_dict["pbc"])
    t0, c0 = time.time(), time.process_time()
    params = settings.gpaw_parameters(kpts)
    if not point_group:
        params["symmetry"] = {"point_group": False}
    if kpoints_scaled is not None:
        params["kpts"] = np.asarray(kpoints_scaled, float)
    calc = GPAW(**params, txt=None)
    atoms.calc = calc
    try:
        energy = float(atoms.get_potential_energy(force_consistent=True))
        extrapolated = float(atoms.get_potential_energy())
        sigma = atoms.get_stress(voigt=True).tolist() if stress else None
    except Exception as exc:  # noqa: BLE001 - re-raised with the job's identity by the caller
        raise RuntimeError(f"GPAW failed: {type(exc).__name__}: {exc}") from None
    try:
        iterations = int(calc.get_number_of_iterations())
    except Exception:  # noqa: BLE001 - bookkeeping only
        iterations = None
    return {
        "energy_eV": energy,
        "energy_zero_width_eV": extrapolated,
        "stress_eV_A3": sigma,
        "fermi_level_eV": float(calc.get_fermi_level()),
        "n_ibz_kpoints": int(len(calc.get_ibz_k_points())),
        "scf_iterations": iterations,
        "wall_s": round(time.time() - t0, 3),
        "cpu_s": round(time.process_time() - c0, 3),
    }


def _atoms_dict(atoms: Atoms) -> dict:
    return {"numbers": atoms.numbers.tolist(), "positions": atoms.positions.tolist(),
            "cell": atoms.cell.array.tolist(), "pbc": atoms.pbc.tolist()}


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    # One BLAS/OpenMP thread per worker: the workers already use every core.
    for var in THREAD_VARIABLES:
        os.environ[var] = "1"
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def _fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


class JobRunner:
    """Runs lists of :class:`Job` with one settings object; keeps totals for the records."""

    def __init__(self, settings: DFTSettings, *, workers: int = 1, cache_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None):
        if workers < 1:
            raise AlalError(f"--workers must be at least 1 (got {workers})")
        self.settings = settings
        self.workers = int(workers)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.progress = progress or (lambda msg: None)
        self._code: dict | None = None

    @property
    def code(self) -> dict:
        if self._code is None:
            from validation.dft.records import code_versions

            self._code = code_versions()
        return self._code

    def run(self, jobs: Sequence[Job], title: str) -> dict[str, dict]:
        """Results by job key; each result has the job's mesh, structure hash and timing added."""
        keys = [j.key for j in jobs]
        if len(set(keys)) != len(keys):
            raise AlalError(f"{title}: duplicate job keys")
        results: dict[str, dict] = {}
        todo: list[tuple[Job, str, float]] = []
        twins: dict[str, list[Job]] = {}  # identical calculations under other keys: computed once
        for job in jobs:
            ckey = cache_key(job, self._settings(job), self.code)
            cached = self._cache_get(ckey)
            if cached is not None:
                results[job.key] = {**cached, "key": job.key, "cached": True}
            elif ckey in twins:
                twins[ckey].append(job)
            else:
                twins[ckey] = []
                todo.append((job, ckey, estimated_cost(job, self._settings(job))))
        if not todo:
            self.progress(f"[{title}] all {len(jobs)} calculations found in the cache")
            return {k: results[k] for k in keys}
        todo.sort(key=lambda t: -t[2])  # longest first
        total_cost = sum(t[2] for t in todo)
        n_twins = sum(len(v) for v in twins.values())
        self.progress(f"[{title}] {len(todo)} GPAW calculations ({len(jobs) - len(todo) - n_twins} cached, "
                      f"{n_twins} duplicates), "
                      f"{self.workers} worker{'s' if self.workers > 1 else ''}")
        started = time.time()
        done_cost, done_cpu = 0.0, 0.0

        def finished(job: Job, ckey: str, cost: float, res: dict) -> None:
            nonlocal done_cost, done_cpu
            res = {**res, "key": job.key, "kpts": [int(k) for k in job.kpts], "n_atoms": len(job.atoms),
                   "structure_sha256": structure_sha256(job.atoms)}
            self._cache_put(ckey, res)
            results[job.key] = {**res, "cached": False}
            for twin in twins.get(ckey, []):
                results[twin.key] = {**res, "key": twin.key, "cached": True}
            done_cost += cost
            done_cpu += res["cpu_s"]
            elapsed = time.time() - started
            # ETA from elapsed wall time per unit of estimated cost (captures machine load too).
            remaining = (total_cost - done_cost) * elapsed / max(done_cost, 1e-9)
            n_done = sum(1 for r in results.values() if not r.get("cached"))
            self.progress(f"[{title}] {n_done}/{len(todo)} {job.key}: E = {res['energy_eV']:.5f} eV, "
                          f"{res['n_ibz_kpoints']} k, {res['wall_s']:.1f} s | elapsed {_fmt_minutes(elapsed)}, "
                          f"ETA {_fmt_minutes(remaining)}")

        if self.workers == 1:
            for job, ckey, cost in todo:
                try:
                    res = calculate(_atoms_dict(job.atoms), job.kpts, self._settings(job), job.stress,
                                    job.point_group, job.kpoints_scaled)
                except RuntimeError as exc:
                    raise AlalError(f"{title}: {job.key}: {exc}") from None
                finished(job, ckey, cost, res)
        else:
            pool = _spawn_pool(min(self.workers, len(todo)))
            try:
                pending = {pool.submit(calculate, _atoms_dict(j.atoms), j.kpts, self._settings(j), j.stress,
                                       j.point_group, j.kpoints_scaled): (j, k, c)
                           for j, k, c in todo}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        job, ckey, cost = pending.pop(fut)
                        try:
                            res = fut.result()
                        except RuntimeError as exc:
                            for other in pending:
                                other.cancel()
                            raise AlalError(f"{title}: {job.key}: {exc}") from None
                        finished(job, ckey, cost, res)
            except BaseException:
                # Interrupted or failed: stop the workers now instead of letting them finish their jobs.
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        return {k: results[k] for k in keys}

    def _settings(self, job: Job) -> DFTSettings:
        return job.settings if job.settings is not None else self.settings

    # ---- cache
    def _cache_path(self, ckey: str) -> Path | None:
        return self.cache_dir / ckey[:2] / f"{ckey}.json" if self.cache_dir else None

    def _cache_get(self, ckey: str) -> dict | None:
        path = self._cache_path(ckey)
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:  # a damaged entry is recomputed
            return None

    def _cache_put(self, ckey: str, res: dict) -> None:
        path = self._cache_path(ckey)
        if path is not None:
            write_json_atomic(path, res)


def energy_per_atom(result: dict) -> float:
    return result["energy_eV"] / result["n_atoms"]


def stress_GPa(result: dict) -> np.ndarray:
    """Voigt stress (xx, yy, zz, yz, xz, xy) in GPa, ASE sign convention (positive = tensile)."""
    if result.get("stress_eV_A3") is None:
        raise AlalError(f"{result.get('key')}: no stress was computed")
    return np.asarray(result["stress_eV_A3"], float) * EV_PER_A3_TO_GPA


def calculation_record(result: dict) -> dict:
    """The per-calculation bookkeeping written into the reference files."""
    return {k: result.get(k) for k in ("key", "structure_sha256", "n_atoms", "kpts", "n_ibz_kpoints",
                                       "scf_iterations", "wall_s", "cpu_s", "cached")}
