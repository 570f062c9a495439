"""``alal study heldout RUN_DIR``: errors of a run's model on held-out sets it never sampled from.

A discovery run is judged by what it produces, on data of kinds the loop was never shown. Three sets, built
deterministically from their own seeds (nothing from the run's database) and labelled in this process by the
run's own oracle (cheap oracles only: ``potential`` or ``emt``; a DFT oracle would need the loop's labelling
machinery on a cluster):

  random_cells       random disordered cells from the run's own builder settings, other seeds
  heat_cool          snapshots of a 108-atom FCC cell heated 300 -> 1500 -> 300 K, MD driven by the oracle
  strained_crystals  FCC, HCP and BCC cells under random strains (|ε| ≤ 4 %) with small displacements, and
                     FCC with a vacancy: the crystal physics (elastic constants, phase energies) in data form

Errors per set: energy MAE per atom both raw and with the constant offset removed (the mean energy error of
the set subtracted: a constant shift of the energy zero changes no force, structure or energy difference),
force-component MAE; and the verdict against the discovery targets (≤ 5 meV/atom after the offset, ≤ 0.08 eV/Å).
Written to RUN_DIR/study/heldout/heldout.{json,md}; the labelled sets are kept (sets.extxyz) and reused.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError

TARGET_ENERGY_MAE_meV_per_atom = 5.0  # issue 16: the discovered model against its teacher, offset removed
TARGET_FORCE_MAE_eV_A = 0.08
SETS = ("random_cells", "heat_cool", "strained_crystals")
SIZES = {"random_cells": 40, "heat_cool": 40, "strained_crystals": 40}


def random_cells(builder, seed: int, n: int) -> list[Atoms]:
    from alal.al.builder import random_cell
    from alal.al.rundir import seed_for

    return [random_cell(seed_for(seed, "heldout-random", i), builder) for i in range(n)]


def heat_cool(calc, seed: int, n: int) -> list[Atoms]:
    from alal.al.study import fcc_heat_cool_snapshots

    t1 = {"fcc_lattice_A": 4.04, "fcc_cells": 3, "fcc_T_K": [300.0, 1500.0], "fcc_duration_ps": 10.0,
          "fcc_snapshots": n, "timestep_fs": 2.0}
    return fcc_heat_cool_snapshots(t1, calc, seed)


def strained_crystals(seed: int, n: int) -> list[Atoms]:
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    bases = [("fcc", bulk("Al", "fcc", a=4.04, cubic=True).repeat(2)),       # 32 atoms
             ("hcp", bulk("Al", "hcp", a=2.86, c=4.67).repeat((3, 3, 2))),   # 36 atoms
             ("bcc", bulk("Al", "bcc", a=3.24, cubic=True).repeat(3))]       # 54 atoms
    out = []
    for k in range(n):
        name, base = bases[k % len(bases)]
        a = base.copy()
        if name == "fcc" and k % 6 == 0:
            del a[0]  # a vacancy
        eps = rng.uniform(-0.04, 0.04, size=(3, 3))
        eps = 0.5 * (eps + eps.T)
        a.set_cell(a.cell.array @ (np.eye(3) + eps), scale_atoms=True)
        a.positions += rng.normal(0.0, 0.03, size=a.positions.shape)
        a.wrap()
        a.info["kind"] = name
        out.append(a)
    return out


def build_sets(cfg, seed: int) -> dict[str, list[Atoms]]:
    from alal.al.builder import BuilderSettings
    from alal.al.oracle import make_calculator

    driver = make_calculator(cfg.oracle_settings(), None)
    return {"random_cells": random_cells(BuilderSettings.from_config(cfg), seed, SIZES["random_cells"]),
            "heat_cool": heat_cool(driver, seed, SIZES["heat_cool"]),
            "strained_crystals": strained_crystals(seed, SIZES["strained_crystals"])}


def label(frames: list[Atoms], settings: dict) -> list[Atoms]:
    """Oracle labels, in this process, as single-point results on copies of ``frames``."""
    from ase.calculators.singlepoint import SinglePointCalculator

    from alal.al.oracle import compute
    from alal.data import structure_hash

    out = []
    for a in frames:
        res = compute(a, structure_hash(a), 1, settings, want_stress=False)
        if not res.ok:
            raise AlalError(f"the oracle failed on a held-out structure ({res.outcome}: {res.reason[:200]})")
        b = a.copy()
        b.calc = SinglePointCalculator(b, energy=res.energy_eV, forces=np.asarray(res.forces_eV_A))
        out.append(b)
    return out


def errors(model_dir: Path, frames: list[Atoms]) -> dict:
    """Energy (raw and offset-removed) and force errors of the model on labelled frames (float64)."""
    from alal.potentials import load

    calc = load(str(model_dir), dtype="float64")
    de, df = [], []
    for ref in frames:
        a = Atoms(ref.numbers, positions=ref.positions, cell=ref.cell, pbc=ref.pbc)
        a.calc = calc
        de.append((a.get_potential_energy() - ref.get_potential_energy()) / len(a))
        df.append((a.get_forces() - ref.get_forces()).ravel())
    de = np.array(de) * 1000.0
    df = np.concatenate(df)
    return {"n_structures": len(frames),
            "energy_mae_meV_per_atom": float(np.mean(np.abs(de))),
            "energy_offset_meV_per_atom": float(np.mean(de)),
            "energy_mae_offset_removed_meV_per_atom": float(np.mean(np.abs(de - de.mean()))),
            "force_mae_eV_A": float(np.mean(np.abs(df))),
            "force_rmse_eV_A": float(np.sqrt(np.mean(df**2)))}


def verdict(err: dict) -> dict:
    return {"energy": "pass" if err["energy_mae_offset_removed_meV_per_atom"] <= TARGET_ENERGY_MAE_meV_per_atom else "fail",
            "forces": "pass" if err["force_mae_eV_A"] <= TARGET_FORCE_MAE_eV_A else "fail"}


def heldout(run_dir: Path, generation: int | None = None, echo=print) -> dict:
    from ase.io import read, write

    from alal.al import config as alconfig
    from alal.al.rundir import RunDir, seed_for, write_json_atomic, write_text_atomic

    rd = RunDir(run_dir)
    if not rd.exists():
        raise AlalError(f"'{run_dir}' is not an alal run directory (no manifest.json)")
    cfg = alconfig.from_dict(alconfig.undotted(rd.read_manifest()["config"]), where=f"'{rd.manifest_path}'")
    settings = cfg.oracle_settings()
    if settings["kind"] not in ("potential", "emt"):
        raise AlalError(f"held-out sets are labelled in this process: oracle kind '{settings['kind']}' is too "
                        "expensive for that (use a potential or emt oracle)")
    models = sorted(p for p in rd.models.glob("gen-*") if (p / "alal_model.json").is_file())
    if not models:
        raise AlalError(f"run '{run_dir}' has no trained generation yet")
    model = rd.model(generation) if generation is not None else models[-1]
    if not (model / "alal_model.json").is_file():
        raise AlalError(f"generation {generation} of '{run_dir}' has no model ({model})")
    out = rd.path / "study" / "heldout"
    out.mkdir(parents=True, exist_ok=True)
    sets_file = out / "sets.extxyz"
    t0 = time.time()
    if sets_file.is_file():
        frames = read(str(sets_file), index=":")
        sets = {name: [a for a in frames if a.info.get("set") == name] for name in SETS}
    else:
        echo("heldout: building random cells, a heat-cool trajectory (oracle-driven) and strained crystals")
        built = build_sets(cfg, seed_for(cfg["run.seed"], "heldout", 0))
        sets = {}
        for name, frames in built.items():
            sets[name] = label(frames, settings)
            for a in sets[name]:
                a.info["set"] = name
        tmp = sets_file.with_name(sets_file.name + ".tmp")
        write(str(tmp), [a for name in SETS for a in sets[name]], format="extxyz")
        tmp.replace(sets_file)
        echo(f"heldout: {sum(len(v) for v in sets.values())} structures labelled ({time.time() - t0:.0f} s)")
    results = {}
    for name in SETS:
        err = errors(model, sets[name])
        results[name] = {**err, "verdict": verdict(err)}
    everything = [a for name in SETS for a in sets[name]]
    results["all"] = {**errors(model, everything)}
    results["all"]["verdict"] = verdict(results["all"])
    data = {"model": str(model), "oracle": settings, "targets": {
        "energy_mae_offset_removed_meV_per_atom": TARGET_ENERGY_MAE_meV_per_atom,
        "force_mae_eV_A": TARGET_FORCE_MAE_eV_A}, "results": results}
    write_json_atomic(out / "heldout.json", data)
    write_text_atomic(out / "heldout.md", markdown(data))
    return data


def markdown(data: dict) -> str:
    lines = [f"## Held-out sets: {Path(data['model']).name} against its oracle ({data['oracle'].get('name', data['oracle']['kind'])})",
             "", "| set | structures | energy MAE (meV/atom) | offset (meV/atom) | MAE, offset removed | force MAE (eV/Å) | verdict |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, r in data["results"].items():
        v = r["verdict"]
        lines.append(f"| {name} | {r['n_structures']} | {r['energy_mae_meV_per_atom']:.2f} | {r['energy_offset_meV_per_atom']:+.2f} | "
                     f"{r['energy_mae_offset_removed_meV_per_atom']:.2f} | {r['force_mae_eV_A']:.3f} | "
                     f"energy {v['energy']}, forces {v['forces']} |")
    t = data["targets"]
    lines += ["", f"Targets: ≤ {t['energy_mae_offset_removed_meV_per_atom']:g} meV/atom (constant offset removed), "
                  f"≤ {t['force_mae_eV_A']:g} eV/Å."]
    return "\n".join(lines) + "\n"
