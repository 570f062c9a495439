"""Batched uncertainty-driven MD: B trajectories advanced together, one engine call per MD step.

Each trajectory is exactly what :func:`alal.al.sampler.run_trajectory` would run for its spec: the same
random cell, Eq. 2 schedule and dynamics RNG (all from ``seeds_for(spec.seed)``), the same Maxwell-Boltzmann
start, the same checks every ``check_every_steps`` steps with the same stop reasons and details, and the
same :class:`~alal.al.sampler.TrajectoryResult`. What is shared is only the work: ASE's Langevin integrator
(Vanden-Eijnden-Ciccotti, ase/md/langevin.py, ``fixcm=False``) is re-implemented on flat arrays holding the
atoms of all live trajectories, with per-atom noise coefficients (every trajectory has its own target
temperature), and all structures go to the engine in one ``evaluate_batch`` call per step.

Reproducing ASE bit for bit: every trajectory draws ``xi`` then ``eta`` (each (N, 3) standard normals) from
its own generator each step, as ``Langevin.step`` does, and every arithmetic expression below is ASE's,
evaluated element-wise in the same order, so for the same forces the same positions come out. Round-off can
then only enter through the forces (an engine batch may sum in another order than a single evaluation).

A trajectory that stops leaves the batch and the next spec takes its slot. New trajectories start only on
global steps that are multiples of ``check_every_steps``, so the check steps of all live trajectories line
up and one engine call per step serves them all (member forces on check steps only; on a check step that
refills slots, one more call evaluates the newcomers' first frames). A slot freed between check steps (an
engine error, t_max not a multiple of the interval) waits for the next check step. Engines without
``evaluate_batch`` (the torchani reference) get one engine per trajectory, evaluated in turn.

A threshold ladder's new rung reaches running trajectories: with ``settings.control_file`` set, the batch reads
that file at check steps (at most every ``CONTROL_POLL_S``) and holds every trajectory, running or new, to a
lower ``rho_threshold_eV`` found there. Each result records the threshold in force at its start and at its end.
"""

from __future__ import annotations

import os
import time
from typing import Iterable, Iterator

import numpy as np
from ase import Atoms, units

from alal.al.builder import BuilderSettings, random_cell
from alal.al.sampler import SamplerSettings, TrajectoryResult, TrajectorySpec, _Stop, check_blowup, seeds_for
from alal.al.schedule import Schedule
from alal.al.uncertainty import force_spread, rho, uncertainty_stop
from alal.errors import AlalError

TRACE_KEYS = ("t_ps", "rho_eV", "fspread_mean_eV_A", "fspread_max_eV_A", "T_target_K", "T_K", "epot_eV_per_atom")


class _Trajectory:
    """One live trajectory: its seeds, schedule, atoms, RNG, trace, and its rows in the batch's flat arrays."""

    def __init__(self, spec: TrajectorySpec, settings: SamplerSettings, builder: BuilderSettings):
        from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

        self.spec = spec
        self.t_wall0 = time.time()
        self.b_seed, s_seed, d_seed = seeds_for(spec.seed)
        self.schedule = Schedule.draw(
            np.random.default_rng(s_seed), T_start_K=settings.T_start_K, T_end_K=settings.T_end_K,
            T_mod_K=settings.T_mod_K, t0_ps=settings.t0_ps, t_max_ps=settings.t_max_ps,
        )
        self.atoms = random_cell(self.b_seed, builder)
        self.rng = np.random.default_rng(d_seed)
        # the same calls, in the same order, as run_trajectory: the same initial momenta from the same draws
        MaxwellBoltzmannDistribution(self.atoms, temperature_K=self.schedule.temperature_K(0.0), rng=self.rng)
        Stationary(self.atoms)
        self.n = len(self.atoms)
        # this trajectory's rows of the batch arrays; standalone until the batch packs them
        self.x = self.atoms.get_positions()
        self.p = self.atoms.get_momenta()
        self.m = self.atoms.get_masses()[:, None]
        self.f = np.zeros((self.n, 3))
        self.step = 0
        self.engine = None  # its own engine when the batch engine cannot evaluate a list of structures
        self.trace: dict[str, list] = {k: [] for k in TRACE_KEYS}
        self.candidate: np.ndarray | None = None  # positions of the frame that goes to the oracle
        self.previous = self.atoms.get_positions()  # positions at the last check passed (label_blowups)
        self.rho = 0.0
        self.rho_threshold_start = settings.rho_threshold_eV


CONTROL_POLL_S = 5.0  # how often (wall time, at check steps) a batch reads the run's sampler control file


def read_control(path: str | None) -> dict:
    """The run's sampler control file (written atomically by the loop), or {} when absent or unreadable."""
    import json

    if not path:
        return {}
    try:
        with open(path) as fh:
            d = json.load(fh)
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


class BatchSampler:
    """Runs trajectories of one model in batches (see the module docstring); :func:`run_batch` is the entry."""

    def __init__(self, settings: SamplerSettings, builder: BuilderSettings, *, model_dir: str, engine: str | None = None,
                 observer=None):
        """``observer(spec, t_ps, T_target_K, atoms)``, when given, sees every trajectory at each check step that
        passed (read-only: the atoms are the live ones); studies use it to keep frames."""
        from alal.potentials import default_ani_engine, load_ani_model

        self.settings = settings
        self.builder = builder
        self.model_dir = str(model_dir)
        self.model = load_ani_model(self.model_dir)
        self.engine_name = engine or default_ani_engine()  # by default what load() (and so run_trajectory) picks
        self.engine = self._new_engine()
        self.batched = hasattr(self.engine, "evaluate_batch")
        self.dt = settings.timestep_fs * units.fs
        self.dt_ps = settings.timestep_fs * 1e-3
        self.fr = settings.friction_per_fs / units.fs
        self.n_max = int(round(settings.t_max_ps / self.dt_ps))
        self.observer = observer
        self._control_read_at = float("-inf")

    def poll_control(self, force: bool = False) -> None:
        """Apply a lower ρ threshold from the run's control file (a threshold ladder's new rung) to every
        trajectory from now on; a higher one is ignored (a running trajectory is only ever held to more)."""
        if not self.settings.control_file or (not force and time.time() - self._control_read_at < CONTROL_POLL_S):
            return
        self._control_read_at = time.time()
        thr = read_control(self.settings.control_file).get("rho_threshold_eV")
        try:
            thr = float(thr)
        except (TypeError, ValueError):
            return
        if 0 < thr < self.settings.rho_threshold_eV:
            import dataclasses

            self.settings = dataclasses.replace(self.settings, rho_threshold_eV=thr)

    def _new_engine(self):
        # the engine ANICalculator would build for load(model_dir, dtype=..., device=...)
        from alal.potentials.ani import make_engine

        return make_engine(self.model, self.engine_name, self.settings.dtype, self.settings.device)

    # ------------------------------------------------------------------ the batch loop

    def run(self, specs: Iterable[TrajectorySpec], batch_size: int, progress=None) -> Iterator[TrajectoryResult]:
        if batch_size < 1:
            raise AlalError(f"the batch size must be >= 1, not {batch_size}")
        k = self.settings.check_every_steps
        pending = iter(specs)
        exhausted = False
        live: list[_Trajectory] = []
        g = 0  # global step; every live trajectory started on a multiple of k
        n_done, last_print = 0, time.time()
        while True:
            if not live:
                g = 0  # nothing running: the next trajectories set the phase of the check steps
            if g % k == 0:
                self.poll_control()
            if g % k == 0 and len(live) < batch_size and not exhausted:
                while len(live) < batch_size and not exhausted:
                    new = []
                    for spec in pending:
                        if os.path.realpath(str(spec.model_dir)) != os.path.realpath(self.model_dir):
                            raise AlalError(f"trajectory {spec.traj_id} is for model {spec.model_dir}, "
                                            f"this batch runs {self.model_dir}")
                        new.append(_Trajectory(spec, self.settings, self.builder))
                        if len(live) + len(new) == batch_size:
                            break
                    else:
                        exhausted = True
                    if not self.batched:
                        for tr in new:
                            tr.engine = self._new_engine()  # fresh: nothing carried over from the slot's last
                    for tr, out in zip(new, self._evaluate(new, member_forces=True)):
                        self._take_forces(tr, out)
                        res = self._after_evaluation(tr, out)
                        if res is None:
                            live.append(tr)
                        else:
                            n_done += 1
                            yield res
                self._pack(live)
            if not live:
                return
            self._half_step_positions(live)
            g += 1
            outs: dict[int, object] = {}
            for want_mf in (True, False):
                group = [tr for tr in live if self._wants_member_forces(tr.step) == want_mf]
                for tr, out in zip(group, self._evaluate(group, member_forces=want_mf)):
                    outs[id(tr)] = out
            for tr in live:
                self._take_forces(tr, outs[id(tr)])
            self._half_step_velocities(live)
            still = []
            for tr in live:
                res = self._after_evaluation(tr, outs[id(tr)])
                if res is None:
                    still.append(tr)
                else:
                    n_done += 1
                    yield res
            if len(still) != len(live):
                live = still
                self._pack(live)
            if progress is not None and live and time.time() - last_print > 15:
                last_print = time.time()
                t = [tr.step * self.dt_ps for tr in live]
                progress(f"batch of {len(live)}: {n_done} trajectories finished, running ones at "
                         f"{min(t):.2f}-{max(t):.2f}/{self.settings.t_max_ps:g} ps")

    @staticmethod
    def _take_forces(tr: _Trajectory, out) -> None:
        if not isinstance(out, Exception):
            tr.f[...] = out.forces

    def _wants_member_forces(self, step: int) -> bool:
        return step % self.settings.check_every_steps == 0 or step == self.n_max

    # ------------------------------------------------------------------ Langevin (ase/md/langevin.py, vectorised)

    def _pack(self, live: list[_Trajectory]) -> None:
        """Gather the live trajectories' rows into flat arrays; each trajectory keeps views of its rows."""
        if not live:
            return
        self.X = np.concatenate([tr.x for tr in live])
        self.P = np.concatenate([tr.p for tr in live])
        self.M = np.concatenate([tr.m for tr in live])
        self.F = np.concatenate([tr.f for tr in live])
        a = 0
        for tr in live:
            rows = slice(a, a + tr.n)
            tr.x, tr.p, tr.f = self.X[rows], self.P[rows], self.F[rows]
            a += tr.n
        self.XI = np.empty_like(self.X)
        self.ETA = np.empty_like(self.X)

    def _half_step_positions(self, live: list[_Trajectory]) -> None:
        """Langevin.step up to the force call: noise, first velocity half-step, new positions."""
        dt, fr, M = self.dt, self.fr, self.M
        # the target temperature of step s -> s+1 is T((s+1) dt), as run_trajectory's set_temperature sets it
        T = np.concatenate([np.full(tr.n, units.kB * tr.schedule.temperature_K((tr.step + 1) * self.dt_ps))
                            for tr in live])[:, None]
        a = 0
        for tr in live:  # each trajectory's own draws, in ASE's order: xi, then eta
            self.XI[a:a + tr.n] = tr.rng.standard_normal(size=(tr.n, 3))
            self.ETA[a:a + tr.n] = tr.rng.standard_normal(size=(tr.n, 3))
            a += tr.n
        # Langevin.updatevars with a per-atom temperature
        sigma = np.sqrt(2 * T * fr / M)
        self.c1 = dt / 2.0 - dt * dt * fr / 8.0
        self.c2 = dt * fr / 2 - dt * dt * fr * fr / 8.0
        c3 = np.sqrt(dt) * sigma / 2.0 - dt**1.5 * fr * sigma / 8.0
        c5 = dt**1.5 * sigma / (2 * np.sqrt(3))
        c4 = fr / 2.0 * c5
        rnd_pos = c5 * self.ETA
        self.rnd_vel = c3 * self.XI - c4 * self.ETA
        v = self.P / M  # atoms.get_velocities()
        v += self.c1 * self.F / M - self.c2 * v + self.rnd_vel
        x = self.X.copy()
        self.X[...] = x + dt * v + rnd_pos
        self.V = (self.X - x - rnd_pos) / dt
        for tr in live:
            tr.atoms.set_positions(tr.x)
            tr.step += 1

    def _half_step_velocities(self, live: list[_Trajectory]) -> None:
        """Langevin.step after the force call: second velocity half-step, momenta."""
        self.V += self.c1 * self.F / self.M - self.c2 * self.V + self.rnd_vel
        self.P[...] = self.V * self.M

    # ------------------------------------------------------------------ engine

    def _evaluate(self, group: list[_Trajectory], *, member_forces: bool) -> list:
        """An EngineResult, or the exception the structure raised, per trajectory (what ANICalculator would raise)."""
        from alal.potentials.inputs import check_structure

        if not group:
            return []
        outs: list = [None] * len(group)
        todo = []
        for i, tr in enumerate(group):
            try:
                if not getattr(self.engine, "checks_structure", False):
                    check_structure(tr.atoms, tuple(self.model.species))  # as ANICalculator does
            except Exception as exc:  # noqa: BLE001 - recorded per trajectory
                outs[i] = exc
            else:
                todo.append(i)
        if self.batched:
            self._evaluate_batch(group, todo, outs, member_forces)
        else:
            for i in todo:
                try:
                    outs[i] = group[i].engine.evaluate(group[i].atoms, forces=True, stress=False,
                                                       member_forces=member_forces)
                except Exception as exc:  # noqa: BLE001 - recorded per trajectory
                    outs[i] = exc
        for i, out in enumerate(outs):
            if isinstance(out, Exception):
                continue
            if out.forces is None:  # where ASE's get_forces would fail for run_trajectory
                outs[i] = RuntimeError("the engine returned no forces")
            elif not np.all(np.isfinite(out.forces)):
                outs[i] = AlalError("the ANI engine returned non-finite forces")  # ANICalculator's check
        return outs

    def _evaluate_batch(self, group, todo, outs, member_forces: bool) -> None:
        if not todo:
            return
        try:
            results = self.engine.evaluate_batch([group[i].atoms for i in todo], forces=True, stress=False,
                                                 member_forces=member_forces)
        except Exception as exc:  # noqa: BLE001
            # find the structures that fail on their own (a fresh engine each), record their exceptions and
            # evaluate the rest as a batch again, so the others' results come from the batch path as always
            failed = []
            for i in todo:
                try:
                    self._new_engine().evaluate(group[i].atoms, forces=True, stress=False, member_forces=member_forces)
                except Exception as own:  # noqa: BLE001
                    outs[i] = own
                    failed.append(i)
            if not failed:
                raise exc  # not any one structure's fault: an engine failure, not a trajectory's outcome
            self._evaluate_batch(group, [i for i in todo if i not in failed], outs, member_forces)
            return
        for i, res in zip(todo, results):
            outs[i] = res

    # ------------------------------------------------------------------ checks (run_trajectory's, per trajectory)

    def _after_evaluation(self, tr: _Trajectory, out) -> TrajectoryResult | None:
        """Apply run_trajectory's rules after the evaluation at ``tr.step``; the result if the trajectory ended."""
        # ASE counts a step once its forces are in: a failed evaluation leaves the step count one lower
        steps = max(tr.step - 1, 0) if isinstance(out, Exception) else tr.step
        try:
            if isinstance(out, Exception):
                raise out
            if self._wants_member_forces(tr.step):
                self._check(tr, out)
            if tr.step >= self.n_max:
                return self._result(tr, "t_max", "", steps)
            return None
        except _Stop as stop:
            return self._result(tr, stop.reason, stop.detail, steps)
        except Exception as exc:  # noqa: BLE001 - the engine refusing a structure is a blow-up, recorded
            reason = "blowup" if isinstance(exc, AlalError) else "error"
            return self._result(tr, reason, f"{type(exc).__name__}: {exc}"[:300], steps)

    def _check(self, tr: _Trajectory, res) -> None:
        s = self.settings
        atoms, n = tr.atoms, tr.n
        t_ps = tr.step * self.dt_ps
        forces, energies = res.forces, res.member_energies
        check_blowup(atoms, forces, energies, s, nearest_neighbour_distance)
        mf = res.member_forces
        fs_mean, fs_max = force_spread(mf) if mf is not None else (float("nan"), float("nan"))
        r = rho(energies, n)
        tr.rho = r
        atoms.set_momenta(tr.p)  # the temperature below is read from the atoms, as run_trajectory does
        trace = tr.trace
        trace["t_ps"].append(t_ps)
        trace["rho_eV"].append(r)
        trace["fspread_mean_eV_A"].append(fs_mean)
        trace["fspread_max_eV_A"].append(fs_max)
        trace["T_target_K"].append(tr.schedule.temperature_K(t_ps))
        trace["T_K"].append(float(atoms.get_temperature()))
        trace["epot_eV_per_atom"].append(float(np.mean(energies)) / n)
        stop = uncertainty_stop(r, fs_mean, fs_max, s, t_ps)
        if stop is not None:
            tr.candidate = atoms.get_positions()
            raise _Stop(stop[0], f"{stop[1]} at {t_ps:.3f} ps")
        tr.previous = atoms.get_positions()
        if self.observer is not None:
            self.observer(tr.spec, t_ps, trace["T_target_K"][-1], atoms)
        if time.time() - tr.t_wall0 > s.time_limit_s:
            raise _Stop("walltime", f"sampler.time_limit_s = {s.time_limit_s:g} s reached at {t_ps:.3f} ps")
        if s.deadline_unix is not None and time.time() > s.deadline_unix:
            raise _Stop("walltime", f"the loop's wall-time budget (loop.max_wall_h) ended at {t_ps:.3f} ps")

    def _result(self, tr: _Trajectory, reason: str, detail: str, steps: int) -> TrajectoryResult:
        from alal.structures import density_g_cm3

        atoms = tr.atoms
        candidate = tr.candidate
        if reason == "blowup" and self.settings.label_blowups:
            candidate = tr.previous
        if candidate is not None:
            candidate = Atoms(atoms.numbers, positions=candidate, cell=atoms.cell, pbc=True)
            candidate.wrap()
        final = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=True)
        return TrajectoryResult(
            traj_id=tr.spec.traj_id, seed=tr.spec.seed, generation=tr.spec.generation,
            schedule=tr.schedule.as_dict(), builder_seed=tr.b_seed, n_atoms=tr.n, density_g_cm3=density_g_cm3(atoms),
            steps=steps, t_reached_ps=steps * self.dt_ps, stop_reason=reason, detail=detail, candidate=candidate,
            final=final, rho_at_stop=tr.rho, trace={k: np.asarray(v, dtype=float) for k, v in tr.trace.items()},
            wall_s=time.time() - tr.t_wall0, engine=self.engine_name,
            rho_threshold_start_eV=tr.rho_threshold_start, rho_threshold_at_stop_eV=self.settings.rho_threshold_eV,
        )


def nearest_neighbour_distance(atoms: Atoms, cutoff: float) -> float:
    """:func:`alal.potentials.inputs.min_pair_distance` where it matters (below ``cutoff``), by brute-force minimum
    image for the builder's orthorhombic cells: at 64 atoms ~100x cheaper than ASE's neighbour list, which cost
    as much as the force call of a check step."""
    from alal.potentials.inputs import min_pair_distance

    cell = atoms.cell.array
    sides = np.diag(cell)
    # the nearest image is the rounded one for every pair closer than half the shortest side
    if not (all(atoms.pbc) and np.count_nonzero(cell - np.diag(sides)) == 0 and cutoff < 0.5 * sides.min()):
        return min_pair_distance(atoms, cutoff=cutoff)
    x = atoms.positions
    d = x[:, None, :] - x[None, :, :]
    d -= sides * np.round(d / sides)
    r2 = np.einsum("ijk,ijk->ij", d, d)
    np.fill_diagonal(r2, np.inf)
    return float(np.sqrt(r2.min())) if len(x) > 1 else float("inf")


def run_batch(specs: Iterable[TrajectorySpec], settings: SamplerSettings, builder: BuilderSettings, *,
              batch_size: int, model_dir: str, progress=None, engine: str | None = None) -> Iterator[TrajectoryResult]:
    """Run ``specs`` (all for the model in ``model_dir``) ``batch_size`` at a time; yield each trajectory's
    result as it finishes (not in spec order). Each result equals ``run_trajectory`` on its spec up to the
    round-off of batched force evaluation. ``engine``: the ANI engine ("alal", "torchani"; default: load()'s)."""
    yield from BatchSampler(settings, builder, model_dir=model_dir, engine=engine).run(specs, batch_size, progress)
