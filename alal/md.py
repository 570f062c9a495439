"""Molecular dynamics as a list of stages, run by one of two engines with the same meaning.

A protocol is a list of :class:`Stage` objects (ensemble, length, targets, what to record). :func:`run_stages`
runs them in order on an ``Atoms`` object — positions, velocities and cell carry over from stage to stage and
are written back into the ``Atoms`` at the end — and returns one :class:`Trace` per stage. The same stage means
the same physics in both engines:

  ensemble   ASE (:class:`AseEngine`, any calculator)              LAMMPS (:class:`LammpsEngine`, EAM natively)
  nve        velocity Verlet                                        fix nve
  nvt        NoseHooverChainNVT (chain of 3)                         fix nvt (chain of 3)
  npt        IsotropicMTKNPT / MaskedMTKNPT (MTK, chains of 3)       fix npt iso / aniso / z (MTK, chains of 3)
  nph        velocity Verlet + Berendsen barostat (same formula)    fix nve + fix press/berendsen
  langevin   Langevin + FixCom, target ramped T_K -> T_end_K        fix nve + fix langevin zero yes (same ramp)
  npt_langevin  Langevin + Berendsen barostat                        fix nve + fix langevin + fix press/berendsen

npt_langevin has no thermostat or barostat oscillations (both couplings are first order), so a quantity such as
the potential energy settles within a few coupling times after a change of target: the coexistence protocol
measures energy slopes with it.

Reported temperatures are 2 E_kin / (n_dof k_B) with n_dof = 3 N − 3 in both engines; pressures include the
kinetic term. Units: Å, eV, fs for input, ps/K/GPa in traces.

Pick the engine with :func:`engine_for` (LAMMPS for a :class:`~alal.potentials.lammps.LammpsCalculator`,
ASE otherwise). Progress lines (stage, step, T, P, ETA) go to ``progress`` every ``PROGRESS_EVERY_S`` seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator, all_changes

from alal.errors import AlalError

ENSEMBLES = ("nve", "nvt", "npt", "nph", "langevin", "npt_langevin")
BAROSTATS = ("iso", "aniso", "z")
PROGRESS_EVERY_S = 15.0
BAR_PER_GPA = 1e4
# ASE velocities are Å per ASE time unit; LAMMPS metal velocities are Å/ps.
ASE_VEL_TO_A_PER_PS = 1000.0 * units.fs


@dataclass
class Stage:
    """One MD stage. Damping times in fs; ``sample_every``/``frame_every`` in steps (0 = no frames)."""

    ensemble: str
    steps: int
    T_K: float | None = None
    T_end_K: float | None = None  # langevin only: linear ramp from T_K to T_end_K over the stage
    P_GPa: float = 0.0
    barostat: str = "iso"  # npt / nph: "iso" (one volume), "aniso" (x, y, z independently) or "z" (z only)
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    bulk_modulus_GPa: float = 100.0  # nph: the Berendsen coupling's modulus (sets how fast the cell responds)
    sample_every: int = 10
    frame_every: int = 0
    pressure: bool = True  # sample the pressure
    forces: bool = False  # sample the mean force magnitude per atom (eV/Å)
    label: str = ""

    def validate(self) -> None:
        if self.ensemble not in ENSEMBLES:
            raise AlalError(f"unknown MD ensemble '{self.ensemble}': choose one of {', '.join(ENSEMBLES)}")
        if self.steps < 0 or self.sample_every < 1 or self.frame_every < 0:
            raise AlalError(f"stage '{self.label}': steps >= 0, sample_every >= 1 and frame_every >= 0 are needed")
        if self.ensemble not in ("nve", "nph") and (self.T_K is None or self.T_K <= 0):
            raise AlalError(f"stage '{self.label}' ({self.ensemble}) needs a positive temperature T_K")
        if self.T_end_K is not None and self.ensemble not in ("langevin", "npt_langevin"):
            raise AlalError(f"stage '{self.label}': temperature ramps (T_end_K) are for the langevin ensemble only")
        if self.barostat not in BAROSTATS:
            raise AlalError(f"unknown barostat '{self.barostat}': choose iso, aniso or z")

    def target_T(self, fraction: float) -> float:
        if self.T_end_K is None:
            return float(self.T_K)
        return float(self.T_K + (self.T_end_K - self.T_K) * fraction)


@dataclass
class Frame:
    """Positions (Å) and cell of one snapshot; ``t_ps`` from the start of its stage."""

    t_ps: float
    positions: np.ndarray
    cell: np.ndarray

    def atoms(self, symbol: str = "Al") -> Atoms:
        a = Atoms(f"{symbol}{len(self.positions)}", positions=self.positions, cell=self.cell, pbc=True)
        a.wrap()
        return a


@dataclass
class Trace:
    """What one stage recorded (arrays of equal length, one row per sample)."""

    label: str
    ensemble: str
    engine: str
    dt_fs: float
    n_atoms: int
    steps: int
    t_ps: np.ndarray
    T_K: np.ndarray
    P_GPa: np.ndarray
    V_A3: np.ndarray
    Epot_eV: np.ndarray
    Ekin_eV: np.ndarray
    lengths_A: np.ndarray  # (n, 3) cell lengths
    Fmean_eV_A: np.ndarray  # mean |F| per atom (NaN unless the stage asked for forces)
    frames: list[Frame] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def atom_steps_per_s(self) -> float:
        return self.n_atoms * self.steps / self.wall_s if self.wall_s > 0 else float("nan")


class _Recorder:
    """Collects samples of a stage and prints throttled progress lines."""

    def __init__(self, stage: Stage, n_atoms: int, dt_fs: float, n_dof: int, progress, engine: str):
        self.stage, self.n_atoms, self.dt_fs, self.n_dof = stage, n_atoms, dt_fs, n_dof
        self.progress, self.engine = progress, engine
        self.rows: list[tuple] = []
        self.frames: list[Frame] = []
        self.t0 = time.perf_counter()
        self.last_print = self.t0

    def add(self, step: int, ekin: float, epot: float, p_gpa: float, cell: np.ndarray,
            forces: np.ndarray | None = None) -> None:
        T = 2.0 * ekin / (self.n_dof * units.kB)
        lengths = np.linalg.norm(cell, axis=1)
        fmean = float(np.mean(np.linalg.norm(forces, axis=1))) if forces is not None else float("nan")
        self.rows.append((step * self.dt_fs * 1e-3, T, p_gpa, abs(np.linalg.det(cell)), epot, ekin, *lengths, fmean))
        now = time.perf_counter()
        if self.progress is not None and (now - self.last_print >= PROGRESS_EVERY_S):
            self.last_print = now
            done = step / max(self.stage.steps, 1)
            eta = (now - self.t0) * (1 - done) / max(done, 1e-9)
            self.progress(f"{self.stage.label or self.stage.ensemble}: step {step}/{self.stage.steps} "
                          f"({100 * done:.0f} %), T = {T:.0f} K, P = {p_gpa:.2f} GPa, ETA {eta:.0f} s")

    def add_frame(self, step: int, positions: np.ndarray, cell: np.ndarray) -> None:
        self.frames.append(Frame(step * self.dt_fs * 1e-3, np.array(positions, float), np.array(cell, float)))

    def trace(self) -> Trace:
        a = np.array(self.rows, float).reshape(-1, 10)
        return Trace(label=self.stage.label, ensemble=self.stage.ensemble, engine=self.engine, dt_fs=self.dt_fs,
                     n_atoms=self.n_atoms, steps=self.stage.steps, t_ps=a[:, 0], T_K=a[:, 1], P_GPa=a[:, 2],
                     V_A3=a[:, 3], Epot_eV=a[:, 4], Ekin_eV=a[:, 5], lengths_A=a[:, 6:9], Fmean_eV_A=a[:, 9],
                     frames=self.frames,
                     wall_s=time.perf_counter() - self.t0)


def _n_dof(n_atoms: int) -> int:
    return max(3 * n_atoms - 3, 1)


def _stage_seed(seed: int, index: int) -> int:
    """A positive seed per stage (LAMMPS's Marsaglia generator wants 0 < seed <= 900 000 000)."""
    return int((int(seed) * 7919 + 104729 * (index + 1)) % 899_999_999) + 1


def maxwell_boltzmann(atoms: Atoms, T_K: float, seed: int) -> None:
    """Random velocities at exactly ``T_K`` (n_dof = 3N − 3), zero total momentum; reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    m = atoms.get_masses()[:, None]
    p = rng.normal(size=(len(atoms), 3)) * np.sqrt(m * units.kB * T_K)
    p -= m * (p.sum(axis=0) / m.sum())  # zero total momentum
    ekin = 0.5 * np.sum(p**2 / m)
    target = 0.5 * max(3 * len(atoms) - 3, 1) * units.kB * T_K
    atoms.set_momenta(p * np.sqrt(target / ekin) if ekin > 0 else p)


def temperature(atoms: Atoms) -> float:
    """Instantaneous temperature with n_dof = 3N − 3 (as reported in traces)."""
    return 2.0 * atoms.get_kinetic_energy() / (_n_dof(len(atoms)) * units.kB)


def run_stages(atoms: Atoms, engine, stages: list[Stage], *, dt_fs: float, seed: int,
               progress: Callable[[str], None] | None = None) -> list[Trace]:
    """Run ``stages`` in order with ``engine``; ``atoms`` ends in the final state (positions, velocities, cell)."""
    if dt_fs <= 0:
        raise AlalError(f"the MD time step must be positive, not {dt_fs} fs")
    for s in stages:
        s.validate()
    return engine.run(atoms, stages, dt_fs=dt_fs, seed=seed, progress=progress)


def engine_for(calc, *, prefer: str = "auto"):
    """LAMMPS-native for LAMMPS calculators (unless ``prefer="ase"``), ASE dynamics for everything else."""
    from alal.potentials.lammps import LammpsCalculator

    if prefer not in ("auto", "ase", "lammps"):
        raise AlalError(f"unknown MD engine preference '{prefer}': choose auto, ase or lammps")
    if isinstance(calc, LammpsCalculator) and prefer != "ase":
        return LammpsEngine.from_calculator(calc)
    if prefer == "lammps":
        raise AlalError("the LAMMPS MD engine needs a LAMMPS (EAM) potential")
    return AseEngine(calc)


def measure_throughput(engine, atoms: Atoms, *, min_seconds: float = 1.0, max_steps: int = 5000,
                       dt_fs: float = 1.0, seed: int = 1) -> float:
    """Atom-steps per second of ``engine`` on a copy of ``atoms`` (NVE), set-up cost excluded.

    Runs k and 4k steps (k = 5, 20, 80, ...) until the longer run takes ``min_seconds``; the rate is
    3k N / (t(4k) − t(k)), so engine start-up (LAMMPS instance, neighbour lists, JIT) does not count.
    """
    def timed(steps: int) -> float:
        probe = atoms.copy()
        if probe.get_kinetic_energy() == 0:
            maxwell_boltzmann(probe, 300.0, seed)
        t0 = time.perf_counter()
        run_stages(probe, engine, [Stage("nve", steps, sample_every=steps, pressure=False, label="probe")],
                   dt_fs=dt_fs, seed=seed)
        return time.perf_counter() - t0

    k = 5
    while True:
        t_short, t_long = timed(k), timed(4 * k)
        if t_long >= min_seconds or 4 * k >= max_steps:
            return 3 * k * len(atoms) / max(t_long - t_short, 1e-9)
        k *= 4


class BerendsenNPH:
    """Velocity Verlet + Berendsen barostat: LAMMPS ``fix nve`` + ``fix press/berendsen`` step for step.

    After each step every barostatted axis is scaled by (1 − dt/τ_P · (P_target − P)/B)^(1/3) (see
    :func:`berendsen_rescale`); like LAMMPS, the next step starts from the forces computed before the rescaling.
    """

    def __init__(self, atoms: Atoms, dt: float, P_GPa: float, pdamp: float, bulk_modulus_GPa: float, barostat: str):
        self.atoms, self.dt, self.pdamp = atoms, dt, pdamp
        self.P = P_GPa * units.GPa
        self.B = bulk_modulus_GPa * units.GPa
        self.barostat = barostat
        self.forces = None
        self.nsteps = 0

    def step(self) -> None:
        atoms, dt = self.atoms, self.dt
        m = atoms.get_masses()[:, None]
        if self.forces is None:
            self.forces = atoms.get_forces(md=True)
        p = atoms.get_momenta() + 0.5 * dt * self.forces
        atoms.set_positions(atoms.get_positions() + dt * p / m)
        atoms.set_momenta(p)
        atoms.get_stress()  # one evaluation gives forces and stress (cached for get_forces below)
        self.forces = atoms.get_forces(md=True)
        atoms.set_momenta(atoms.get_momenta() + 0.5 * dt * self.forces)
        self.last_epot, self.last_P_GPa = berendsen_rescale(atoms, dt, self.P, self.pdamp, self.B, self.barostat)
        self.nsteps += 1


def berendsen_rescale(atoms: Atoms, dt: float, P: float, pdamp: float, B: float, barostat: str) -> tuple[float, float]:
    """One Berendsen barostat update (LAMMPS fix press/berendsen): scale each barostatted axis by
    (1 − dt/τ_P · (P_target − P)/B)^(1/3), P the pressure (iso) or diagonal stress (aniso, z) with the kinetic
    term. Returns the energy (eV) and pressure (GPa) before the rescaling, which is what LAMMPS reports."""
    sigma = atoms.get_stress(voigt=False, include_ideal_gas=True)
    epot, p_gpa = atoms.get_potential_energy(), -np.trace(sigma) / 3.0 / units.GPa
    current = -np.diag(sigma) if barostat != "iso" else np.full(3, -np.trace(sigma) / 3.0)
    mu = np.cbrt(1.0 - dt / pdamp * (P - current) / B)
    if barostat == "z":
        mu[:2] = 1.0
    atoms.set_cell(atoms.cell.array * mu[:, None], scale_atoms=True)
    return epot, p_gpa


class LangevinBerendsen:
    """Langevin thermostat + Berendsen barostat (LAMMPS fix nve + fix langevin + fix press/berendsen).

    The next step reuses the forces from before the rescaling (as LAMMPS does), so there is one force
    evaluation per step.
    """

    def __init__(self, langevin, dt: float, P_GPa: float, pdamp: float, bulk_modulus_GPa: float, barostat: str):
        self.langevin, self.atoms, self.dt = langevin, langevin.atoms, dt
        self.P, self.pdamp, self.B = P_GPa * units.GPa, pdamp, bulk_modulus_GPa * units.GPa
        self.barostat = barostat
        self.forces = None

    def set_temperature(self, **kw) -> None:
        self.langevin.set_temperature(**kw)

    def step(self) -> None:
        self.forces = self.langevin.step(self.forces)
        self.atoms.get_stress()  # energy, forces and stress from one evaluation at the new positions
        self.last_epot, self.last_P_GPa = berendsen_rescale(self.atoms, self.dt, self.P, self.pdamp, self.B,
                                                           self.barostat)


class WithStress(Calculator):
    """Asks the wrapped calculator for energy, forces and stress together.

    ASE's barostats request forces and stress separately; a calculator that computes stress only on request
    (ANI) would then be evaluated twice per step. One evaluation with all three is much cheaper.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        inner, wanted = self.inner, ["energy", "forces", "stress"]
        changes = inner.check_state(self.atoms)
        if changes:
            inner.reset()
        if any(p not in inner.results for p in wanted):
            inner.calculate(self.atoms, wanted, changes or system_changes)
        self.results = dict(inner.results)
        self.results.setdefault("free_energy", self.results["energy"])


class AseEngine:
    """Stages run with ASE integrators over any ASE calculator (ANI-Al, EMT, or a LAMMPS calculator for tests)."""

    name = "ase"

    def __init__(self, calc):
        self.calc = calc

    def calculator(self):
        """The calculator for static evaluations alongside the MD (the engine's own)."""
        return self.calc

    def run(self, atoms: Atoms, stages: list[Stage], *, dt_fs: float, seed: int, progress=None) -> list[Trace]:
        calc = WithStress(self.calc) if all(atoms.pbc) else self.calc
        atoms.calc = calc
        try:
            return [self._stage(atoms, s, dt_fs, _stage_seed(seed, i), progress) for i, s in enumerate(stages)]
        finally:
            atoms.calc = self.calc

    def _integrator(self, atoms: Atoms, s: Stage, dt_fs: float, seed: int):
        from ase.md.langevin import Langevin
        from ase.md.nose_hoover_chain import IsotropicMTKNPT, MaskedMTKNPT, NoseHooverChainNVT
        from ase.md.verlet import VelocityVerlet

        dt = dt_fs * units.fs
        if s.ensemble == "nve":
            return VelocityVerlet(atoms, timestep=dt)
        if s.ensemble == "nvt":
            return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=s.T_K, tdamp=s.tdamp_fs * units.fs)
        if s.ensemble == "npt":
            kw = dict(timestep=dt, temperature_K=s.T_K, pressure_au=s.P_GPa * units.GPa,
                      tdamp=s.tdamp_fs * units.fs, pdamp=s.pdamp_fs * units.fs)
            if s.barostat == "iso":
                return IsotropicMTKNPT(atoms, **kw)
            return MaskedMTKNPT(atoms, mask=(True, True, True) if s.barostat == "aniso" else (False, False, True), **kw)
        if s.ensemble == "nph":
            return BerendsenNPH(atoms, dt, s.P_GPa, s.pdamp_fs * units.fs, s.bulk_modulus_GPa, s.barostat)
        # the centre of mass is held by a FixCom constraint (set in _stage), as LAMMPS' "zero yes" does
        langevin = Langevin(atoms, timestep=dt, temperature_K=s.target_T(0.0), friction=1.0 / (s.tdamp_fs * units.fs),
                            fixcm=False, rng=np.random.RandomState(seed % (2**32 - 1)))
        if s.ensemble == "langevin":
            return langevin
        return LangevinBerendsen(langevin, dt, s.P_GPa, s.pdamp_fs * units.fs, s.bulk_modulus_GPa, s.barostat)

    def _stage(self, atoms: Atoms, s: Stage, dt_fs: float, seed: int, progress) -> Trace:
        from ase.constraints import FixCom

        n = len(atoms)
        rec = _Recorder(s, n, dt_fs, _n_dof(n), progress, self.name)
        saved = list(atoms.constraints)
        if s.ensemble in ("langevin", "npt_langevin"):
            atoms.set_constraint(saved + [FixCom()])
        try:
            self._loop(atoms, s, dt_fs, seed, rec)
        finally:
            atoms.set_constraint(saved)
        return rec.trace()

    def _loop(self, atoms: Atoms, s: Stage, dt_fs: float, seed: int, rec: _Recorder) -> None:
        dyn = self._integrator(atoms, s, dt_fs, seed)
        for step in range(1, s.steps + 1):
            if s.T_end_K is not None:
                dyn.set_temperature(temperature_K=s.target_T(step / s.steps))
            dyn.step()
            if step % s.sample_every == 0 or step == s.steps:
                if isinstance(dyn, (BerendsenNPH, LangevinBerendsen)):
                    epot, p_gpa = dyn.last_epot, dyn.last_P_GPa
                else:
                    epot, p_gpa = atoms.get_potential_energy(), float("nan")
                    if s.pressure or s.ensemble == "npt":
                        sigma = atoms.get_stress(voigt=False, include_ideal_gas=True)
                        p_gpa = -np.trace(sigma) / 3.0 / units.GPa
                rec.add(step, atoms.get_kinetic_energy(), epot, p_gpa, atoms.cell.array,
                        atoms.get_forces() if s.forces else None)
            if s.frame_every and step % s.frame_every == 0:
                rec.add_frame(step, atoms.get_positions(), atoms.cell.array)


# ------------------------------------------------------------------------------------------------- LAMMPS engine
class LammpsEngine:
    """Stages run natively inside LAMMPS (EAM family); orthorhombic periodic cells only."""

    name = "lammps"

    def __init__(self, pair_style: str, potential_file, element: str = "Al"):
        self.pair_style = pair_style
        self.potential_file = potential_file
        self.element = element

    @classmethod
    def from_calculator(cls, calc) -> "LammpsEngine":
        return cls(calc.pair_style, calc.potential_file, calc.element)

    def calculator(self):
        """A LAMMPS calculator with the same potential, for static evaluations alongside the MD."""
        from alal.potentials.lammps import LammpsCalculator

        return LammpsCalculator(self.pair_style, self.potential_file, element=self.element)

    def _setup(self, atoms: Atoms, dt_fs: float):
        from alal.potentials.lammps import new_lammps, pair_commands

        cell = atoms.cell.array
        if not all(atoms.pbc) or np.abs(cell - np.diag(np.diag(cell))).max() > 1e-9 or np.any(np.diag(cell) <= 0):
            raise AlalError("LAMMPS-native MD here needs a periodic orthorhombic cell (diagonal cell matrix)")
        if set(atoms.get_chemical_symbols()) != {self.element}:
            raise AlalError(f"LAMMPS-native MD here handles pure {self.element} only")
        lx, ly, lz = (float(v) for v in np.diag(cell))
        lmp = new_lammps()
        mass = float(atoms.get_masses()[0])
        # The OPT package's EAM kernels give the same forces (to round-off) ~20 % faster.
        suffix = ["suffix opt"] if lmp.has_style("pair", f"{self.pair_style}/opt") else []
        lmp.commands_list([
            *suffix,
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0", "boundary p p p",
            f"region cell block 0 {lx!r} 0 {ly!r} 0 {lz!r} units box", "create_box 1 cell", f"mass 1 {mass!r}",
            *pair_commands(self.pair_style, self.potential_file, [self.element]),
            "neighbor 1.0 bin", "neigh_modify every 1 delay 0 check yes",
            f"timestep {dt_fs * 1e-3!r}",
            "thermo_style custom step ke pe press vol lx ly lz", "thermo_modify lost error norm no",
        ])
        wrapped = atoms.copy()
        wrapped.wrap()
        x = wrapped.get_positions()
        v = atoms.get_velocities() * ASE_VEL_TO_A_PER_PS if atoms.get_momenta() is not None else np.zeros_like(x)
        n = len(atoms)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x.reshape(-1).tolist(), v.reshape(-1).tolist())
        if lmp.get_natoms() != n:
            raise AlalError(f"LAMMPS created {lmp.get_natoms()} of {n} atoms (positions outside the cell?)")
        return lmp

    @staticmethod
    def _gather(lmp, name: str, n: int) -> np.ndarray:
        return np.ctypeslib.as_array(lmp.gather_atoms(name, 1, 3), shape=(3 * n,)).reshape(n, 3).copy()

    @staticmethod
    def _cell(lmp) -> np.ndarray:
        lo, hi, xy, yz, xz, _, _ = lmp.extract_box()
        return np.diag(np.array(hi) - np.array(lo))

    def run(self, atoms: Atoms, stages: list[Stage], *, dt_fs: float, seed: int, progress=None) -> list[Trace]:
        lmp = self._setup(atoms, dt_fs)
        n = len(atoms)
        try:
            traces = [self._stage(lmp, n, s, dt_fs, _stage_seed(seed, i), progress) for i, s in enumerate(stages)]
            lo = np.array(lmp.extract_box()[0])
            cell = self._cell(lmp)
            atoms.set_cell(cell, scale_atoms=False)
            atoms.set_positions(self._gather(lmp, "x", n) - lo)
            atoms.set_velocities(self._gather(lmp, "v", n) / ASE_VEL_TO_A_PER_PS)
        finally:
            lmp.close()
        return traces

    def _fixes(self, s: Stage, seed: int) -> list[str]:
        T0 = s.T_K
        td, pd = s.tdamp_fs * 1e-3, s.pdamp_fs * 1e-3
        P = s.P_GPa * BAR_PER_GPA
        if s.ensemble == "nve":
            return ["fix md_int all nve"]
        if s.ensemble == "nvt":
            return [f"fix md_int all nvt temp {T0!r} {T0!r} {td!r}"]
        if s.ensemble == "npt":
            return [f"fix md_int all npt temp {T0!r} {T0!r} {td!r} {s.barostat} {P!r} {P!r} {pd!r}"]
        if s.ensemble == "nph":
            return ["fix md_int all nve",
                    f"fix md_baro all press/berendsen {s.barostat} {P!r} {P!r} {pd!r} "
                    f"modulus {s.bulk_modulus_GPa * BAR_PER_GPA!r}"]
        T1 = s.T_end_K if s.T_end_K is not None else T0
        fixes = ["fix md_int all nve", f"fix md_th all langevin {T0!r} {T1!r} {td!r} {seed} zero yes"]
        if s.ensemble == "npt_langevin":
            fixes.append(f"fix md_baro all press/berendsen {s.barostat} {P!r} {P!r} {pd!r} "
                         f"modulus {s.bulk_modulus_GPa * BAR_PER_GPA!r}")
        return fixes

    def _stage(self, lmp, n: int, s: Stage, dt_fs: float, seed: int, progress) -> Trace:
        fixes = self._fixes(s, seed)
        lmp.command("reset_timestep 0")
        lmp.commands_list(fixes)
        rec = _Recorder(s, n, dt_fs, _n_dof(n), progress, self.name)
        want_frames = s.frame_every > 0
        chunk = s.sample_every if not want_frames else int(np.gcd(s.sample_every, s.frame_every))
        step, first = 0, True
        try:
            if s.steps == 0:
                lmp.command("run 0 post no")
            while step < s.steps:
                k = min(chunk, s.steps - step)
                lmp.command(f"run {k} start 0 stop {s.steps} pre {'yes' if first else 'no'} post no")
                first = False
                step += k
                if step % s.sample_every == 0 or step == s.steps:
                    cell = self._cell(lmp)
                    rec.add(step, float(lmp.get_thermo("ke")), float(lmp.get_thermo("pe")),
                            float(lmp.get_thermo("press")) / BAR_PER_GPA, cell,
                            self._gather(lmp, "f", n) if s.forces else None)
                if want_frames and step % s.frame_every == 0:
                    lo = np.array(lmp.extract_box()[0])
                    rec.add_frame(step, self._gather(lmp, "x", n) - lo, self._cell(lmp))
        finally:
            for f in fixes:
                lmp.command(f"unfix {f.split()[1]}")
        return rec.trace()
