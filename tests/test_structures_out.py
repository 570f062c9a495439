"""Kept structures (relaxed cells, EOS minima, MD end frames) written as extended XYZ and read back.

Every frame must read back with ``ase.io.read`` with its atom count, and its energy must be the energy of exactly
those positions: consistent with the property's own numbers (static) or with a fresh evaluation (MD).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.io import read

from alal import potentials
from static_common import context, with_settings
from validation.properties.faults import MJ_M2_PER_EV_A2
from validation.properties.heat_cool import HeatCool
from validation.properties.liquid_density import LiquidDensity
from validation.properties.melting import MeltingLine
from validation.properties.melting import protocol_settings as melting_settings
from validation.properties.rdf import LiquidRDF
from validation.properties.surface import SurfaceEnergies
from validation.properties.vacancy import VacancyFormation
from validation.runner import run_validation
from validation.structures_out import safe_name, structures_dir, write_structures


def test_runner_writes_relaxed_vacancy_cells_and_slabs(tmp_path):
    out = tmp_path / "out"
    run_validation(["emt"], ["vacancy", "surface"], out=out, render=False, log=lambda m: None)
    for n in (2, 3, 4):  # the quick tier's supercells, one site removed
        (atoms,) = read(out / "structures" / "vacancy" / "emt" / f"{n}x{n}x{n}_relaxed.extxyz", index=":")
        assert len(atoms) == 4 * n**3 - 1
        assert atoms.info["potential"] == "emt" and atoms.info["property"] == "vacancy"
    for facet in ("111", "100", "110"):
        for layers in (6, 9, 12):  # one atom per layer
            atoms = read(out / "structures" / "surface" / "emt" / f"{facet}_{layers}layers_relaxed.extxyz")
            assert len(atoms) == layers


def test_relaxed_cells_carry_the_energies_the_property_used(tmp_path):
    ctx = context("emt")
    vac = with_settings(VacancyFormation, supercells=[2, 3]).run(ctx)
    surf = with_settings(SurfaceEnergies, n_layers=[5, 7]).run(ctx)
    written = write_structures(vac, tmp_path, "emt") + write_structures(surf, tmp_path, "emt")
    assert len(written) == 2 + 3 * 2
    conv = vac.data["convergence"]
    for n, sites, ef in zip((2, 3), conv["sites"], conv["Ef_eV"]):
        atoms = read(structures_dir(tmp_path, "vacancy", "emt") / f"{n}x{n}x{n}_relaxed.extxyz")
        assert len(atoms) == sites - 1
        # Ef = E(relaxed defect cell) − (N−1)/N E(perfect cell): the kept frame is the cell Ef was computed from
        e_perfect = atoms.info["E_perfect_supercell_eV"]
        assert atoms.get_potential_energy() - (sites - 1) / sites * e_perfect == pytest.approx(ef, abs=1e-9)
    emt = potentials.load("emt")
    for facet in ("111", "100", "110"):
        for n, gamma in zip((5, 7), surf.data["convergence"][facet]["gamma_mJ_m2"]):
            slab = read(structures_dir(tmp_path, "surface", "emt") / f"{facet}_{n}layers_relaxed.extxyz")
            assert len(slab) == n
            stored = slab.get_potential_energy()
            area = np.linalg.norm(np.cross(slab.cell[0], slab.cell[1]))
            e_bulk = slab.info["E_bulk_eV_per_atom"]
            assert (stored - n * e_bulk) / (2 * area) * MJ_M2_PER_EV_A2 == pytest.approx(gamma, abs=1e-6)
            # the stored energy belongs to the stored (relaxed) positions
            slab.calc = emt
            assert slab.get_potential_energy() == pytest.approx(stored, abs=1e-6)


def test_potential_paths_become_safe_distinct_folder_names(tmp_path):
    assert safe_name("eam-mishin1999") == "eam-mishin1999"  # registry names stay as they are
    path_like = safe_name("runs/x/models/gen-003")
    assert path_like.startswith("runs_x_models_gen-003-") and "/" not in path_like
    assert safe_name("runs_x/models/gen-003") != path_like  # same after replacement, still two folders
    assert not safe_name("../secret").startswith(".")
    res = with_settings(VacancyFormation, supercells=[2]).run(context("emt"))
    (path,) = write_structures(res, tmp_path, "runs/x/models/gen-003")
    assert path.parent == tmp_path / "structures" / "vacancy" / path_like
    assert read(path).info["potential"] == "runs/x/models/gen-003"  # the name as given, in every frame


def test_md_end_frames_are_the_states_their_energy_belongs_to(tmp_path):
    """Tiny versions of the four MD protocols on Mendelev 2008 (LAMMPS): one end frame per run, with velocities,
    and the stored energy is the potential's energy of the stored positions."""
    liquid = dict(n_cells=3, n_atoms=108, T_K=[1273.0], melt_ps=1.0, first_equil_ps=0.5, equil_ps=0.3,
                  production_ps=1.0, pdamp_fs=300.0)
    props = {
        "liquid_density": with_settings(LiquidDensity, **liquid),
        "rdf": with_settings(LiquidRDF, T_K=[1273.0], n_cells=3, n_atoms=108, equil_ps=0.2, n_frames=6,
                             frame_interval_ps=0.1, n_blocks=3, prep={**LiquidDensity().settings("quick"), **liquid}),
        "melting": with_settings(MeltingLine, rounds=[[{"P_GPa": 0.0, "lattice": "fcc", "seeds": 1}]],
                                 repeat={**melting_settings("quick")["repeat"], "fcc": [3, 3, 8]}, solid_ps=0.5,
                                 melt_ps=0.4, settle_ps=0.3, contact_ps=0.2, nph_ps=1.0, average_last_ps=0.5,
                                 max_attempts=1),
        "heat_cool": with_settings(HeatCool, heat_ps=1.0, cool_ps=1.0, seeds=1, frame_interval_ps=0.5),
    }
    expected = {"liquid_density": {"1273K_final": 108}, "rdf": {"1273K_final": 108},
                "melting": {"0GPa_fcc_seed0_attempt1_final": 288}, "heat_cool": {"seed0_final": 108}}
    ctx = context("eam-mendelev2008")
    calc = potentials.load("eam-mendelev2008")
    for name, prop in props.items():
        result = prop.run(ctx)
        assert not result.data.get("skipped"), result.notes
        paths = write_structures(result, tmp_path, ctx.name)
        assert {p.stem: len(read(p)) for p in paths} == expected[name]
        for path in paths:
            atoms = read(path)
            stored = atoms.get_potential_energy()
            assert np.abs(atoms.get_velocities()).max() > 0  # an MD state, velocities included
            atoms.calc = calc
            # positions are written with 8 decimals: 1e-8 Å × forces of a few eV/Å over ~300 atoms is ~1e-6 eV
            assert atoms.get_potential_energy() == pytest.approx(stored, abs=1e-5)
