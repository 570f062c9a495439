"""``alal train CONFIG --test-stage builder|oracle|trainer|sampler``: one stage, this config, a few seconds.

Each smoke test runs the real stage code on tiny inputs in a temporary folder, prints what it did and
returns 0 when the stage works (1 otherwise). Nothing is written to a run directory.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms


def run_stage(cfg, stage: str) -> int:
    import torch

    from alal.al.execution import local_cores

    torch.set_num_threads(max(1, local_cores() // 2))  # as a training task would run
    with tempfile.TemporaryDirectory(prefix=f"alal-smoke-{stage}-") as tmp:
        ok = {"builder": _builder, "oracle": _oracle, "trainer": _trainer, "sampler": _sampler}[stage](cfg, Path(tmp))
    print(f"stage {stage}: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


def _cells(cfg, n: int):
    from alal.al.builder import BuilderSettings, random_cell
    from alal.al.rundir import seed_for

    b = BuilderSettings.from_config(cfg)
    return [random_cell(seed_for(cfg["run.seed"], "smoke", i), b) for i in range(n)]


def _builder(cfg, tmp: Path) -> bool:
    from alal.al.builder import BuilderSettings
    from alal.potentials.inputs import min_pair_distance
    from alal.structures import density_g_cm3

    b = BuilderSettings.from_config(cfg)
    ok = True
    for a in _cells(cfg, 5):
        sides = np.diag(a.cell.array)
        dmin = min_pair_distance(a, cutoff=b.r_min_A * 2)
        one_atom = density_g_cm3(Atoms(b.element, cell=a.cell, pbc=True))
        good = (all(b.side_A[0] <= x <= b.side_A[1] for x in sides) and dmin >= b.r_min_A
                and abs(density_g_cm3(a) - a.info["target_density_g_cm3"]) <= 0.5 * one_atom + 1e-12)
        ok &= good
        print(f"  cell {' × '.join(f'{x:.2f}' for x in sides)} Å, {len(a)} atoms, {density_g_cm3(a):.3f} g/cm³ "
              f"(target {a.info['target_density_g_cm3']:.3f}), nearest pair {dmin:.3f} Å  {'ok' if good else 'BAD'}")
    return ok


def _label(cfg, tmp: Path, atoms, i: int):
    from alal.al import oracle as orc
    from alal.data.hashing import structure_hash

    h = structure_hash(atoms)
    d = orc.attempt_dir(tmp, h, 1)
    d.mkdir(parents=True)
    orc.write_input(d / "input.json", atoms, h, 1, cfg.oracle_settings(), {}, True, cfg["oracle.threads"])
    return orc.run_attempt(d / "input.json", d / "result.json", time_limit_s=cfg["oracle.time_limit_s"],
                           mpi_processes=cfg["oracle.mpi_processes"])


def _oracle(cfg, tmp: Path) -> bool:
    from alal.al.oracle import check_available

    check_available(cfg.oracle_settings(), cfg["run.element"])
    atoms = min(_cells(cfg, 3), key=len)
    res = _label(cfg, tmp, atoms, 0)
    if not res.ok:
        print(f"  {len(atoms)} atoms: {res.outcome}: {res.reason}")
        return False
    f = np.array(res.forces_eV_A)
    print(f"  {len(atoms)} atoms: E = {res.energy_eV / len(atoms):.4f} eV/atom, max |F| = {np.linalg.norm(f, axis=1).max():.3f} eV/Å, "
          f"stress (eV/Å³) = {np.round(res.stress_eV_A3, 4).tolist() if res.stress_eV_A3 else None}, {res.wall_s:.1f} s")
    return True


def _tiny_model(cfg, tmp: Path, n: int = 16):
    from alal.al.descriptors import FeatureComputer
    from alal.al.trainer import Sample, TrainSettings, train
    from alal.potentials.ani_model import AEVParameters, save_model_dir

    aev = AEVParameters.ani_al()
    fc = FeatureComputer(aev)
    samples = []
    for i, a in enumerate(_cells(cfg, n)):
        res = _label(cfg, tmp / "oracle", a, i)
        if res.ok:
            samples.append(Sample(fc(a), res.energy_eV, np.array(res.forces_eV_A)))
    settings = TrainSettings.from_config(cfg)
    settings.max_epochs, settings.batch_size, settings.patience_epochs = 15, 4, 15
    t0 = time.time()
    losses = []
    model, report = train(samples[:-3], samples[-3:], settings, aev=aev, element=cfg["run.element"],
                          seeds=list(range(settings.n_members)),
                          progress=lambda e, n_, v, a_, dt: losses.append(v))
    path = save_model_dir(model, tmp / "model")
    return path, losses, time.time() - t0, report


def _trainer(cfg, tmp: Path) -> bool:
    from alal.potentials import load

    path, losses, wall, report = _tiny_model(cfg, tmp)
    calc = load(str(path))
    a = _cells(cfg, 1)[0]
    a.calc = calc
    e = a.get_potential_energy()
    print(f"  {report.n_train} train / {report.n_val} val labels, {report.epochs} epochs in {wall:.1f} s; median val loss "
          f"{losses[0]:.4g} -> {min(losses):.4g}; model at {path} loads, E = {e / len(a):.4f} eV/atom, "
          f"ensemble spread {calc.results['energy_std']:.4f} eV")
    return bool(min(losses) < losses[0] and np.isfinite(e))


def _sampler(cfg, tmp: Path) -> bool:
    from alal.al.builder import BuilderSettings
    from alal.al.sampler import SamplerSettings, TrajectorySpec, run_trajectory

    path, _, _, _ = _tiny_model(cfg, tmp)
    s = SamplerSettings.from_config(cfg)
    s.t_max_ps = min(s.t_max_ps, 100 * s.timestep_fs * 1e-3)
    s.rho_threshold_eV = 1e9  # run the full short trajectory
    t0 = time.time()
    r = run_trajectory(TrajectorySpec("smoke", 1, 0, str(path)), s, BuilderSettings.from_config(cfg))
    wall = time.time() - t0
    print(f"  {r.n_atoms} atoms, {r.steps} steps ({r.t_reached_ps:.3f} ps) in {wall:.1f} s ({wall / max(r.steps, 1) * 1e3:.1f} ms/step, "
          f"engine {r.engine}); stop: {r.stop_reason} {r.detail}; rho {np.round(r.trace['rho_eV'], 4).tolist()[:6]} eV")
    return r.stop_reason in ("t_max", "blowup", "uncertain")
