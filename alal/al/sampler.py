"""Uncertainty-driven nonequilibrium MD: one trajectory from a fresh random cell under the Eq. 2 schedule.

Langevin dynamics (ASE) with the target temperature reset every step from :class:`Schedule`. Every
``check_every_steps`` steps (and at t = 0) the ensemble is asked how unsure it is:

  ρ = σ_E/√N > rho_threshold_eV (if set)  -> stop, "uncertain": this frame goes to the oracle
                                            (start_grace_rho_threshold_eV before start_grace_ps, if set)
  force spread (max or mean over atoms) > threshold (if set) -> stop, "uncertain_forces" (to the oracle too)
  nearest neighbour < 1.5 Å, |F| > 50 eV/Å, NaN, calculator error -> stop, "blowup" (recorded; labelled
                                            only if label_blowups)
  t >= t_max                             -> stop, "t_max" (the model survived: a censored time)

The model is loaded through :func:`alal.potentials.load` (float32 by default), so MD runs on whatever ANI
engine the registry picks (the fast engine when installed). Everything random derives from one seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from alal.al.builder import BuilderSettings, random_cell
from alal.al.schedule import Schedule
from alal.al.uncertainty import force_spread, rho, uncertainty_stop

UNCERTAIN_REASONS = ("uncertain", "uncertain_forces")
EVENT_REASONS = UNCERTAIN_REASONS + ("blowup",)  # a weakness found; other reasons censor the time


@dataclass
class SamplerSettings:
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01
    T_start_K: tuple = (10.0, 1000.0)
    T_end_K: tuple = (10.0, 600.0)
    T_mod_K: tuple = (0.0, 2000.0)
    t0_ps: tuple = (10.0, 50.0)
    t_max_ps: float = 250.0
    check_every_steps: int = 10
    rho_threshold_eV: float = 0.01
    # a start grace (not in the paper; alal.al.uncertainty.rho_threshold_at): during a trajectory's first
    # start_grace_ps the looser start_grace_rho_threshold_eV applies (0 there = the config's rho_threshold_eV,
    # a threshold ladder's first rung, which stays the grace's even when the rung moves)
    start_grace_ps: float = 0.0
    start_grace_rho_threshold_eV: float = 0.0
    force_spread_threshold_eV_A: float = 0.0
    force_spread_statistic: str = "max"
    blowup_min_distance_A: float = 1.5
    blowup_max_force_eV_A: float = 50.0
    label_blowups: bool = False
    dtype: str = "float32"
    device: str = "cpu"
    time_limit_s: float = 3600.0
    batch_size: int = 32  # trajectories advanced together by alal.al.batch_sampler
    # not a config key: the loop's wall-time budget as a clock time (loop.max_wall_h); a trajectory still running
    # then ends as "walltime" (censored, its end frame kept) so a budget-stopped loop does not wait for t_max
    deadline_unix: float | None = None
    # not a config key: the run's sampler control file (``RUN_DIR/sampler_control.json``), which the loop rewrites
    # when a threshold ladder goes down a rung; the batched sampler reads it at check steps (at most every
    # CONTROL_POLL_S) and applies a lower rho_threshold_eV to the trajectories it is running, so trajectories
    # started at a looser rung do not run on to t_max past frames the run now wants labelled
    control_file: str | None = None

    @classmethod
    def from_config(cls, cfg) -> "SamplerSettings":
        s = cfg.section("sampler")
        settings = cls(**{k: (tuple(s[k]) if isinstance(s[k], list) else s[k]) for k in cls.__dataclass_fields__ if k in s})
        if settings.start_grace_ps > 0 and settings.start_grace_rho_threshold_eV <= 0:
            settings.start_grace_rho_threshold_eV = settings.rho_threshold_eV
        return settings


@dataclass
class TrajectorySpec:
    traj_id: str
    seed: int
    generation: int
    model_dir: str


@dataclass
class TrajectoryResult:
    traj_id: str
    seed: int
    generation: int
    schedule: dict
    builder_seed: int
    n_atoms: int
    density_g_cm3: float
    steps: int
    t_reached_ps: float
    stop_reason: str
    detail: str = ""
    candidate: Atoms | None = None
    final: Atoms | None = None
    rho_at_stop: float = 0.0
    trace: dict = field(default_factory=dict)
    wall_s: float = 0.0
    engine: str = ""
    rho_threshold_start_eV: float | None = None  # the ρ threshold in force when the trajectory started ...
    rho_threshold_at_stop_eV: float | None = None  # ... and when it ended (lower when a ladder rung came mid-run)

    @property
    def event(self) -> bool:
        """True when the trajectory ended on a model weakness (not censored)."""
        return self.stop_reason in EVENT_REASONS


class _Stop(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def check_blowup(atoms: Atoms, forces, energies, settings: SamplerSettings, min_distance_A) -> None:
    """Raise ``_Stop("blowup", ...)`` for NaNs, atoms closer than the limit or forces above it.

    ``min_distance_A(atoms, cutoff)`` is the nearest-neighbour distance (the batched sampler passes a faster one
    for its rectangular cells); shared so that both samplers stop on exactly the same rules and messages.
    """
    if not (np.all(np.isfinite(forces)) and np.all(np.isfinite(energies)) and np.all(np.isfinite(atoms.positions))):
        raise _Stop("blowup", "NaN in positions, forces or energies")
    dmin = min_distance_A(atoms, cutoff=settings.blowup_min_distance_A)
    if dmin < settings.blowup_min_distance_A:
        raise _Stop("blowup", f"nearest-neighbour distance {dmin:.3f} Å < {settings.blowup_min_distance_A} Å")
    fmax = float(np.max(np.linalg.norm(forces, axis=1)))
    if fmax > settings.blowup_max_force_eV_A:
        raise _Stop("blowup", f"|F| = {fmax:.1f} eV/Å > {settings.blowup_max_force_eV_A} eV/Å")


def seeds_for(seed: int) -> tuple[int, int, int]:
    """(builder, schedule, dynamics) seeds derived from a trajectory's seed."""
    ss = np.random.SeedSequence(seed)
    return tuple(int(c.generate_state(1)[0]) for c in ss.spawn(3))  # type: ignore[return-value]


def run_trajectory(spec: TrajectorySpec, settings: SamplerSettings, builder: BuilderSettings, *, calc=None,
                   progress=None, start_atoms: Atoms | None = None) -> TrajectoryResult:
    """Run one trajectory to its first uncertain frame, a blow-up or t_max."""
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    from alal.potentials.inputs import min_pair_distance
    from alal.structures import density_g_cm3

    t_wall0 = time.time()
    b_seed, s_seed, d_seed = seeds_for(spec.seed)
    schedule = Schedule.draw(
        np.random.default_rng(s_seed), T_start_K=settings.T_start_K, T_end_K=settings.T_end_K,
        T_mod_K=settings.T_mod_K, t0_ps=settings.t0_ps, t_max_ps=settings.t_max_ps,
    )
    atoms = start_atoms.copy() if start_atoms is not None else random_cell(b_seed, builder)
    if calc is None:
        from alal.potentials import load

        calc = load(spec.model_dir, dtype=settings.dtype, device=settings.device)
    atoms.calc = calc
    rng = np.random.default_rng(d_seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=schedule.temperature_K(0.0), rng=rng)
    Stationary(atoms)
    dt_ps = settings.timestep_fs * 1e-3
    dyn = Langevin(atoms, timestep=settings.timestep_fs * units.fs, temperature_K=schedule.temperature_K(0.0),
                   friction=settings.friction_per_fs / units.fs, fixcm=False, rng=rng)
    n_max = int(round(settings.t_max_ps / dt_ps))
    k = settings.check_every_steps
    n = len(atoms)
    trace = {k_: [] for k_ in ("t_ps", "rho_eV", "fspread_mean_eV_A", "fspread_max_eV_A", "T_target_K", "T_K",
                                "epot_eV_per_atom")}
    state = {"candidate": None, "previous": atoms.copy(), "rho": 0.0}
    last_print = [time.time()]

    def want_member_forces(flag: bool) -> None:
        if hasattr(calc, "want_member_forces"):
            calc.want_member_forces = flag

    def check(step: int) -> None:
        t_ps = step * dt_ps
        res = calc.results
        forces = res.get("forces")
        energies = res.get("member_energies")
        if forces is None or energies is None:
            raise _Stop("error", "the calculator returned no forces or member energies")
        check_blowup(atoms, forces, energies, settings, min_pair_distance)
        mf = res.get("member_forces")
        if mf is None:  # the engine ignored the request: evaluate once more with member forces
            from alal.potentials.ani import ANICalculator

            if isinstance(calc, ANICalculator):
                calc.want_member_forces = True
                calc.calculate(atoms, ["energy", "forces"])
                mf = calc.results.get("member_forces")
        fs_mean, fs_max = force_spread(mf) if mf is not None else (float("nan"), float("nan"))
        r = rho(energies, n)
        state["rho"] = r
        trace["t_ps"].append(t_ps)
        trace["rho_eV"].append(r)
        trace["fspread_mean_eV_A"].append(fs_mean)
        trace["fspread_max_eV_A"].append(fs_max)
        trace["T_target_K"].append(schedule.temperature_K(t_ps))
        trace["T_K"].append(float(atoms.get_temperature()))
        trace["epot_eV_per_atom"].append(float(np.mean(energies)) / n)
        stop = uncertainty_stop(r, fs_mean, fs_max, settings, t_ps)
        if stop is not None:
            state["candidate"] = atoms.copy()
            raise _Stop(stop[0], f"{stop[1]} at {t_ps:.3f} ps")
        state["previous"] = atoms.copy()
        if time.time() - t_wall0 > settings.time_limit_s:
            raise _Stop("walltime", f"sampler.time_limit_s = {settings.time_limit_s:g} s reached at {t_ps:.3f} ps")
        if settings.deadline_unix is not None and time.time() > settings.deadline_unix:
            raise _Stop("walltime", f"the loop's wall-time budget (loop.max_wall_h) ended at {t_ps:.3f} ps")
        if progress is not None and time.time() - last_print[0] > 15:
            last_print[0] = time.time()
            progress(f"{spec.traj_id}: {t_ps:.2f}/{settings.t_max_ps:g} ps, rho {r:.4f} eV, "
                     f"T {atoms.get_temperature():.0f} K (target {schedule.temperature_K(t_ps):.0f} K)")

    reason, detail, steps = "t_max", "", 0
    want_member_forces(True)
    try:
        for _ in dyn.irun(n_max):
            steps = dyn.nsteps
            if steps % k == 0:
                check(steps)
            want_member_forces((steps + 1) % k == 0)
            dyn.set_temperature(temperature_K=schedule.temperature_K((steps + 1) * dt_ps))
        if steps % k != 0:
            check(steps)
    except _Stop as stop:
        reason, detail = stop.reason, stop.detail
    except Exception as exc:  # noqa: BLE001 - the calculator refusing a structure is a blow-up, recorded
        from alal.errors import AlalError

        reason = "blowup" if isinstance(exc, AlalError) else "error"
        detail = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        want_member_forces(False)
    steps = dyn.nsteps
    candidate = state["candidate"]
    if reason == "blowup" and settings.label_blowups:
        candidate = state["previous"]
    if candidate is not None:
        candidate = Atoms(candidate.numbers, positions=candidate.get_positions(), cell=candidate.cell, pbc=True)
        candidate.wrap()
    final = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=True)
    return TrajectoryResult(
        traj_id=spec.traj_id, seed=spec.seed, generation=spec.generation, schedule=schedule.as_dict(),
        builder_seed=b_seed, n_atoms=n, density_g_cm3=density_g_cm3(atoms), steps=steps,
        t_reached_ps=steps * dt_ps, stop_reason=reason, detail=detail, candidate=candidate, final=final,
        rho_at_stop=state["rho"], trace={k_: np.asarray(v, dtype=float) for k_, v in trace.items()},
        wall_s=time.time() - t_wall0, engine=getattr(calc, "engine_name", type(calc).__name__),
        rho_threshold_start_eV=settings.rho_threshold_eV, rho_threshold_at_stop_eV=settings.rho_threshold_eV,
    )


def survival_curve(times_ps: list[float], events: list[bool], grid_ps: list[float]) -> list[float]:
    """Kaplan-Meier survival S(t) (probability that no uncertain frame has appeared by t) on ``grid_ps``;
    trajectories that reached t_max without an event are censored there."""
    order = np.argsort(times_ps)
    t = np.asarray(times_ps, dtype=float)[order]
    e = np.asarray(events, dtype=bool)[order]
    out = []
    for g in grid_ps:
        s, at_risk = 1.0, len(t)
        for ti, ei in zip(t, e):
            if ti > g:
                break
            if ei and at_risk > 0:
                s *= 1.0 - 1.0 / at_risk
            at_risk -= 1
        out.append(s)
    return out

