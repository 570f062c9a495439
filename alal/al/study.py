"""``alal study table1 RUN_DIR``: the paper's Table I on an active-learning run (``alal study heldout RUN_DIR``:
the final model on held-out sets labelled by the run's oracle, see :mod:`alal.al.heldout`).

The paper (Sec. IV) compares the AL-trained model with one trained on a near-equilibrium "FCC/Melt"
dataset, each tested on held-out parts of both datasets. Here:

  FCC/Melt dataset  snapshots of a 108-atom FCC cell heated 300 -> 1500 -> 300 K (equally spaced in time)
                    plus liquid snapshots at several temperatures and densities (pressures), labelled by the
                    run's oracle with the run's settings (source "fccmelt" in the run database; split
                    train/val/test by structure hash, as every label). The MD that produces the snapshots
                    (Langevin, NVT) is driven by: "lammps-eam" (Mendelev 2008 EAM, fitted to liquid Al and its
                    melting point, run natively in LAMMPS: fast; the default for Al), "model" (the run's final
                    model, as the paper's Fig. 6, where ANI-Al drove and DFT labelled) or "oracle" (the oracle
                    itself; ASE's EMT is pure Python, ~0.1 s per step for 108 atoms)
  FCC/Melt model    trained with the run's trainer settings on the FCC/Melt training split
  AL model          the run's final generation
  table             energy MAE/RMSE (meV/atom) and force-component MAE/RMSE (eV/Å) of both models on the
                    AL test split and on the FCC/Melt test split -> RUN_DIR/study/table1/table1.{json,md}
                    and the run report

Everything is idempotent: snapshots are deterministic (seeded), labels are keyed by structure hash and a
finished FCC/Melt model is reused.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from ase import Atoms, units

from alal.errors import AlalError
from alal.units import AMU_TO_G

PAPER = {
    "FCC/Melt trained": {"fccmelt": (2.0, 4.0, 0.04, 0.07), "al": (40, 110, 0.49, 1.53)},
    "AL trained": {"fccmelt": (1.4, 1.9, 0.03, 0.04), "al": (1.3, 1.9, 0.04, 0.06)},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("study", choices=["table1", "heldout", "confidence", "crystallisation"],
                   help="which study (table1: the paper's Table I; heldout: the final model on held-out random "
                        "cells, heat-cool snapshots and strained crystals labelled by the run's oracle; confidence: "
                        "a generation's errors on the end frames of trajectories that never became uncertain, "
                        "beside the frames it stopped on; crystallisation: do the student's and the teacher's own "
                        "dynamics form crystals on the same cells and schedules, uncertainty stop off)")
    p.add_argument("run_dir", help="an active-learning run directory with at least one model generation")
    p.add_argument("--generation", type=int, default=None, help="heldout, confidence, crystallisation: the generation to judge (default the last; "
                        "for confidence the last that sampled, for crystallisation the last model)")
    p.add_argument("--trajectories", type=int, default=12, help="crystallisation: trajectories per driver (default 12)")
    p.add_argument("--first-seed", type=int, default=1000, help="crystallisation: the first trajectory seed (default 1000)")
    p.add_argument("--t-max-ps", type=float, default=None, help="crystallisation: trajectory length (default the run's "
                   "sampler.t_max_ps)")
    p.add_argument("--quiet", action="store_true")


def run(args) -> int:
    echo = (lambda m: None) if args.quiet else (lambda m: print(m, flush=True))
    if args.study == "heldout":
        from alal.al.heldout import heldout, markdown

        print(markdown(heldout(Path(args.run_dir), args.generation, echo=echo)))
        return 0
    if args.study == "crystallisation":
        from alal.al.crystallisation import StudySettings, crystallisation, markdown as crystallisation_markdown

        settings = StudySettings(n_trajectories=args.trajectories, first_seed=args.first_seed, t_max_ps=args.t_max_ps)
        print(crystallisation_markdown(crystallisation(Path(args.run_dir), args.generation, settings, echo=echo)))
        return 0
    if args.study == "confidence":
        from alal.al.confidence import confidence, markdown as confidence_markdown

        print(confidence_markdown(confidence(Path(args.run_dir), args.generation, echo=echo)))
        return 0
    result = table1(Path(args.run_dir), echo=echo)
    print(result["markdown"])
    return 0


# ------------------------------------------------------------------------------------------- dataset


def fcc_heat_cool_snapshots(t1: dict, calc, seed: int) -> list[Atoms]:
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from alal.structures import fcc_cubic

    atoms = fcc_cubic(t1["fcc_lattice_A"], t1["fcc_cells"])
    atoms.calc = calc
    rng = np.random.default_rng(seed)
    T_lo, T_hi = t1["fcc_T_K"]
    MaxwellBoltzmannDistribution(atoms, temperature_K=T_lo, rng=rng)
    dt_ps = t1["timestep_fs"] * 1e-3
    n_steps = int(round(t1["fcc_duration_ps"] / dt_ps))
    every = max(1, n_steps // t1["fcc_snapshots"])
    dyn = Langevin(atoms, t1["timestep_fs"] * units.fs, temperature_K=T_lo, friction=0.01 / units.fs, fixcm=False, rng=rng)
    snaps = []
    for _ in dyn.irun(n_steps):
        n = dyn.nsteps
        frac = n / n_steps
        T = T_lo + (T_hi - T_lo) * (2 * frac if frac <= 0.5 else 2 * (1 - frac))
        dyn.set_temperature(temperature_K=T)
        if n > 0 and n % every == 0 and len(snaps) < t1["fcc_snapshots"]:
            a = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=True)
            a.wrap()
            snaps.append(a)
    return snaps


def liquid_snapshots(t1: dict, calc, seed: int) -> list[Atoms]:
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from alal.structures import fcc_cubic

    combos = [(T, rho) for T in t1["liquid_T_K"] for rho in t1["liquid_density_g_cm3"]]
    per = max(1, int(np.ceil(t1["liquid_snapshots"] / len(combos))))
    dt_ps = t1["timestep_fs"] * 1e-3
    snaps = []
    for k, (T, rho) in enumerate(combos):
        n_atoms = 4 * t1["fcc_cells"] ** 3
        mass_g = 26.9815385 * AMU_TO_G
        a_lat = (4 * mass_g / rho) ** (1 / 3) * 1e8  # Å, FCC cube at this density
        atoms = fcc_cubic(a_lat, t1["fcc_cells"])
        assert len(atoms) == n_atoms
        atoms.calc = calc
        rng = np.random.default_rng(seed + 1000 + k)
        T_melt = max(2.0 * T, 2500.0)
        MaxwellBoltzmannDistribution(atoms, temperature_K=T_melt, rng=rng)
        dyn = Langevin(atoms, t1["timestep_fs"] * units.fs, temperature_K=T_melt, friction=0.02 / units.fs,
                       fixcm=False, rng=rng)
        eq = int(round(t1["liquid_equilibration_ps"] / dt_ps))
        dyn.run(eq // 2)  # melt
        dyn.set_temperature(temperature_K=T)
        dyn.run(eq - eq // 2)  # equilibrate at T
        every = max(1, int(round(t1["liquid_spacing_ps"] / dt_ps)))
        for _ in range(per):
            if len(snaps) >= t1["liquid_snapshots"]:
                break
            dyn.run(every)
            a = Atoms(atoms.numbers, positions=atoms.get_positions(), cell=atoms.cell, pbc=True)
            a.wrap()
            a.info.update({"T_K": T, "density_g_cm3": rho})
            snaps.append(a)
    return snaps


def _lammps_md(cmds_setup: list[str], segments: list[tuple[int, float, float, int]], seed: int, dt_ps: float,
               n_keep: int) -> list[Atoms]:
    """Langevin NVT in LAMMPS with Mendelev's EAM. ``segments`` = [(steps, T_start, T_stop, snapshot_every)]:
    the thermostat target ramps linearly within each segment; snapshot_every = 0 takes none."""
    from alal.potentials import REGISTRY, potential_files
    from alal.potentials.lammps import new_lammps, pair_commands

    spec = REGISTRY["eam-mendelev2008"]
    (eam_file,) = potential_files(spec.name)  # the verified (pinned sha256) file of the registry
    lmp = new_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "boundary p p p", *cmds_setup,
                       "mass 1 26.9815385", *pair_commands(spec.pair_style, eam_file, ["Al"]),
                       "neighbor 1.0 bin", f"timestep {dt_ps!r}", "fix nve all nve"])
    snaps: list[Atoms] = []
    first = True
    for k, (steps, T0, T1, every) in enumerate(segments):
        if first:
            lmp.command(f"velocity all create {max(T0, 1.0)!r} {seed % 900000 + 1} mom yes rot yes dist gaussian")
            first = False
        lmp.command(f"fix lang all langevin {T0!r} {T1!r} 0.1 {(seed + 7 * k) % 900000 + 1} zero yes")
        step0 = int(lmp.get_thermo("step"))
        done = 0
        while done < steps:
            chunk = min(every, steps - done) if every else steps - done
            pre = "yes" if done == 0 else "no"  # set up after a fix change, then continue cheaply
            lmp.command(f"run {chunk} start {step0} stop {step0 + steps} pre {pre} post no")
            done += chunk
            if every and len(snaps) < n_keep:
                snaps.append(_lammps_atoms(lmp))
        lmp.command("unfix lang")
    lmp.close()
    return snaps


def _lammps_atoms(lmp) -> Atoms:
    import ctypes  # noqa: F401  (gather_atoms returns a ctypes array)

    n = lmp.get_natoms()
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3), shape=(3 * n,)).reshape(n, 3).copy()
    box = lmp.extract_box()  # (boxlo, boxhi, xy, yz, xz, periodicity, box_change)
    lo, hi = np.array(box[0]), np.array(box[1])
    a = Atoms(f"Al{n}", positions=x - lo, cell=np.diag(hi - lo), pbc=True)
    a.wrap()
    return a


def fcc_heat_cool_lammps(t1: dict, seed: int) -> list[Atoms]:
    n, a = t1["fcc_cells"], t1["fcc_lattice_A"]
    dt_ps = t1["timestep_fs"] * 1e-3
    steps = int(round(t1["fcc_duration_ps"] / dt_ps))
    half = steps // 2
    every = max(1, steps // t1["fcc_snapshots"])
    T_lo, T_hi = t1["fcc_T_K"]
    setup = [f"lattice fcc {a!r}", f"region box block 0 {n} 0 {n} 0 {n}", "create_box 1 box", "create_atoms 1 box"]
    return _lammps_md(setup, [(half, T_lo, T_hi, every), (steps - half, T_hi, T_lo, every)], seed, dt_ps,
                      t1["fcc_snapshots"])


def liquid_lammps(t1: dict, seed: int) -> list[Atoms]:
    combos = [(T, rho) for T in t1["liquid_T_K"] for rho in t1["liquid_density_g_cm3"]]
    per = max(1, int(np.ceil(t1["liquid_snapshots"] / len(combos))))
    dt_ps = t1["timestep_fs"] * 1e-3
    eq = int(round(t1["liquid_equilibration_ps"] / dt_ps))
    every = max(1, int(round(t1["liquid_spacing_ps"] / dt_ps)))
    snaps: list[Atoms] = []
    for k, (T, rho) in enumerate(combos):
        n = t1["fcc_cells"]
        a_lat = (4 * 26.9815385 * AMU_TO_G / rho) ** (1 / 3) * 1e8
        setup = [f"lattice fcc {a_lat!r}", f"region box block 0 {n} 0 {n} 0 {n}", "create_box 1 box", "create_atoms 1 box"]
        T_melt = max(2.0 * T, 2500.0)
        want = min(per, t1["liquid_snapshots"] - len(snaps))
        if want <= 0:
            break
        got = _lammps_md(setup, [(eq // 2, T_melt, T_melt, 0), (eq - eq // 2, T, T, 0), (want * every, T, T, every)],
                         seed + 1000 + k, dt_ps, want)
        for s in got:
            s.info.update({"T_K": T, "density_g_cm3": rho})
        snaps += got
    return snaps


# ----------------------------------------------------------------------------------------- the study


def table1(run_dir: Path, echo=print) -> dict:
    from alal.al import config as alconfig
    from alal.al.loop import TRAIN_SOURCES, Loop
    from alal.al.tasks import write_dataset
    from alal.al.rundir import RunDir, seed_for, write_json_atomic, write_text_atomic
    from alal.al.status import write_report
    from alal.al.trainer import TrainSettings, model_errors

    rd = RunDir(run_dir)
    if not rd.exists():
        raise AlalError(f"'{run_dir}' is not an alal run directory (no manifest.json)")
    manifest = rd.read_manifest()
    cfg = alconfig.from_dict(alconfig.undotted(manifest["config"]), where=f"'{rd.manifest_path}'")
    loop = Loop(cfg, rd.path, resume=True, echo=echo)
    loop.prepare()
    gen = loop.generation()
    if gen < 0:
        raise AlalError(f"run '{run_dir}' has no trained model yet; run 'alal train' first")
    al_model = rd.model(gen)
    out = rd.path / "study" / "table1"
    out.mkdir(parents=True, exist_ok=True)
    t1 = cfg.section("study.table1")
    driver = t1["md_driver"]
    if driver == "auto":
        driver = "lammps-eam" if cfg["run.element"] == "Al" else "model"
    if driver == "lammps-eam" and cfg["run.element"] != "Al":
        raise AlalError("study.table1.md_driver = 'lammps-eam' drives Al only; use 'model' or 'oracle'")
    seed = seed_for(cfg["run.seed"], "table1", t1["seed"])
    from alal.al.execution import Execution

    e = cfg.section("execution")
    loop.execution = Execution(rd.path, profile=e["profile"], workers=e["workers"], python=e["python"])
    try:
        have = loop.store.count(kind="structure", source="fccmelt")
        want = t1["fcc_snapshots"] + t1["liquid_snapshots"]
        if have < want and driver == "lammps-eam":
            t0 = time.time()
            echo(f"table1: FCC heat-cool ({t1['fcc_T_K'][0]:g} -> {t1['fcc_T_K'][1]:g} -> {t1['fcc_T_K'][0]:g} K, "
                 f"{t1['fcc_duration_ps']:g} ps, {4 * t1['fcc_cells'] ** 3} atoms) and liquid MD with the Mendelev EAM in LAMMPS")
            snaps, liq = fcc_heat_cool_lammps(t1, seed), liquid_lammps(t1, seed)
            echo(f"table1: {len(snaps)} FCC and {len(liq)} liquid snapshots ({time.time() - t0:.0f} s)")
            for i, a in enumerate(snaps + liq):
                loop.store.add_structure(a, source="fccmelt", generation=-1, traj_id="fcc" if i < len(snaps) else "liquid")
        elif have < want:
            if driver == "oracle":
                from alal.al.oracle import make_calculator

                calc = make_calculator(cfg.oracle_settings(), None)
            else:
                from alal.potentials import load

                calc = load(str(al_model), dtype="float32")
            t0 = time.time()
            echo(f"table1: FCC heat-cool trajectory ({t1['fcc_T_K'][0]:g} -> {t1['fcc_T_K'][1]:g} -> {t1['fcc_T_K'][0]:g} K, "
                 f"{t1['fcc_duration_ps']:g} ps, {4 * t1['fcc_cells'] ** 3} atoms, driven by the {driver})")
            snaps = fcc_heat_cool_snapshots(t1, calc, seed)
            echo(f"table1: {len(snaps)} FCC snapshots ({time.time() - t0:.0f} s); liquid at "
                 f"{t1['liquid_T_K']} K × {t1['liquid_density_g_cm3']} g/cm³")
            liq = liquid_snapshots(t1, calc, seed)
            echo(f"table1: {len(liq)} liquid snapshots ({time.time() - t0:.0f} s)")
            for i, a in enumerate(snaps + liq):
                loop.store.add_structure(a, source="fccmelt", generation=-1, traj_id="fcc" if i < len(snaps) else "liquid")
        _label_all(loop, echo)
        fm_rows = loop.store.labels(sources=("fccmelt",))
        fm_model = out / "model-fccmelt"
        if not (fm_model / "alal_model.json").is_file():
            dataset = out / "fccmelt-dataset.extxyz"
            write_dataset(dataset, fm_rows)
            settings = {k: (list(v) if isinstance(v, tuple) else v) for k, v in TrainSettings.from_config(cfg).__dict__.items()}
            threads = cfg["trainer.threads"] or loop.execution.default_train_threads()
            task = {"generation": 0, "attempt": 1, "dataset": str(dataset), "model_dir": str(fm_model),
                    "features_dir": str(rd.features), "settings": settings, "element": cfg["run.element"],
                    "seeds": [seed_for(seed, "member", m) % (2**31) for m in range(settings["n_members"])],
                    "data_seed": seed % (2**31), "init_model": None, "run_name": f"{cfg['run.name']}-fccmelt",
                    "threads": threads}
            task_path = out / "train-task.json"
            write_json_atomic(task_path, task)
            splits = {s: sum(1 for r in fm_rows if r.split == s) for s in ("train", "val", "test")}
            echo(f"table1: training the FCC/Melt model on {splits['train']} train / {splits['val']} val labels "
                 f"(log: {task_path.with_suffix('.log')})")
            status = loop.execution.submit("train", task_path, cfg["trainer.time_limit_s"], threads).result()
            if not (fm_model / "alal_model.json").is_file():
                raise AlalError(f"training the FCC/Melt model failed ({status.get('tail', '')[:300]})")
        echo("table1: evaluating both models on both test splits")
        tests = {"al": loop.store.labels(sources=TRAIN_SOURCES, split="test"), "fccmelt": loop.store.labels(sources=("fccmelt",), split="test")}
        results = {}
        for name, model in (("FCC/Melt trained", fm_model), ("AL trained", al_model)):
            results[name] = {}
            for test, rows in tests.items():
                if not rows:
                    raise AlalError(f"the {test} test split is empty; more labels are needed for Table I")
                results[name][test] = model_errors(model, [r.toatoms() for r in rows], [float(r.energy) for r in rows],
                                                   [np.asarray(r.forces) for r in rows])
    finally:
        loop.execution.close()
    data = {"al_model": str(al_model), "al_generation": gen, "fccmelt_model": str(fm_model), "md_driver": driver,
            "n_labels": {"al": loop.labels_count(), "fccmelt": len(fm_rows)},
            "n_test": {k: len(v) for k, v in tests.items()}, "oracle": cfg.oracle_settings(), "results": results,
            "paper": PAPER}
    md = _markdown(data)
    write_json_atomic(out / "table1.json", data)
    write_text_atomic(out / "table1.md", md)
    write_report(rd.path)
    return {"data": data, "markdown": md}


def _label_all(loop, echo) -> None:
    """Label every pending FCC/Melt structure through the loop's own labelling path (the run's own pending
    candidates are left to `alal train --resume`; the run's label budget does not apply to the study)."""
    t0 = time.time()
    loop.label_sources = ("fccmelt",)  # not the run's own leftovers, and outside the run's label budget
    loop.enforce_label_budget = False
    while True:
        pending = loop.pending_count()
        if not pending and not loop.flights:
            break
        loop.submit_labels()
        if loop.flights:
            loop.wait_and_collect()
        if time.time() - t0 > 15:
            t0 = time.time()
            echo(f"table1: labelling, {pending} pending")


def _markdown(d: dict) -> str:
    r = d["results"]
    o = d["oracle"]
    lines = [
        "## Table I: AL-trained vs FCC/Melt-trained models",
        "",
        f"Oracle {o['kind']}; AL model = generation {d['al_generation']} ({d['n_labels']['al']} labels), FCC/Melt model "
        f"trained on {d['n_labels']['fccmelt']} FCC/Melt labels (MD driven by the {d['md_driver']}); test sets: "
        f"{d['n_test']['al']} AL, {d['n_test']['fccmelt']} FCC/Melt structures. MAE/RMSE; paper values in brackets.",
        "",
        "| Model type | FCC/Melt test | AL test |",
        "| --- | --- | --- |",
        "| *Energy error (meV/atom)* | | |",
    ]
    for name in ("FCC/Melt trained", "AL trained"):
        cells = []
        for test in ("fccmelt", "al"):
            x = r[name][test]
            p = PAPER[name][test]
            cells.append(f"{x['energy_mae_meV_per_atom']:.2g}/{x['energy_rmse_meV_per_atom']:.2g} ({p[0]:g}/{p[1]:g})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    lines.append("| *Force component error (eV/Å)* | | |")
    for name in ("FCC/Melt trained", "AL trained"):
        cells = []
        for test in ("fccmelt", "al"):
            x = r[name][test]
            p = PAPER[name][test]
            cells.append(f"{x['force_mae_eV_A']:.2g}/{x['force_rmse_eV_A']:.2g} ({p[2]:g}/{p[3]:g})")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


__all__ = ["table1", "fcc_heat_cool_snapshots", "liquid_snapshots"]
