"""The potentials registry: every name loads, gives consistent energies/forces/stresses, and fails clearly."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from alal import potentials
from alal.errors import AlalError, BadStructure, DataFileMissing, UnknownName
from alal.structures import fcc_cubic
from conftest import needs_ani_al, needs_mishin

EAMS = [pytest.param("eam-mishin1999", marks=needs_mishin), "eam-mendelev2008", "eam-zhou2001"]


def strained_rattled_cell(seed: int = 0) -> Atoms:
    """A 32-atom FCC cell, sheared into a triclinic cell, rotated and rattled: no symmetry left to hide bugs."""
    atoms = fcc_cubic(4.05, 2)
    atoms.set_cell(atoms.cell.array + np.array([[0, 0, 0], [0.4, 0, 0], [0.3, 0.2, 0]]), scale_atoms=True)
    atoms.rotate(30, "z", rotate_cell=True)
    atoms.rattle(0.05, seed=seed)
    return atoms


def fd_forces(atoms: Atoms, indices, h: float = 1e-4) -> np.ndarray:
    out = []
    for i in indices:
        row = []
        for k in range(3):
            p = atoms.get_positions()
            p[i, k] += h
            atoms.set_positions(p)
            ep = atoms.get_potential_energy()
            p[i, k] -= 2 * h
            atoms.set_positions(p)
            em = atoms.get_potential_energy()
            p[i, k] += h
            atoms.set_positions(p)
            row.append(-(ep - em) / (2 * h))
        out.append(row)
    return np.array(out)


def fd_stress(atoms: Atoms, h: float = 1e-5) -> np.ndarray:
    """Voigt stress from symmetric strain derivatives of the energy, (1/V) dE/dε."""
    cell0 = atoms.cell.array.copy()
    vol = atoms.get_volume()
    out = []
    for i, j in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
        e = []
        for sign in (+1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] += sign * h / (1 if i == j else 2)
            eps[j, i] += 0 if i == j else sign * h / 2
            b = atoms.copy()
            b.calc = atoms.calc
            b.set_cell(cell0 @ (np.eye(3) + eps), scale_atoms=True)
            e.append(b.get_potential_energy())
        out.append((e[0] - e[1]) / (2 * h) / vol)
    return np.array(out)


@pytest.mark.parametrize("name", ["emt", *EAMS])
def test_classical_forces_and_stress_are_energy_derivatives(name):
    calc = potentials.load(name)
    atoms = strained_rattled_cell()
    atoms.calc = calc
    forces = atoms.get_forces()
    stress = atoms.get_stress()
    # Central differences with h = 1e-4 Å have O(h²) truncation error ~1e-7 eV/Å for these smooth potentials.
    np.testing.assert_allclose(forces[[0, 7]], fd_forces(atoms, [0, 7]), atol=2e-6)
    np.testing.assert_allclose(stress, fd_stress(atoms), atol=2e-7)
    assert np.abs(forces.sum(axis=0)).max() < 1e-8  # Newton's third law


@pytest.mark.parametrize("name", EAMS)
def test_lammps_calculator_follows_changed_positions_and_cells(name):
    """The in-place update path (scatter positions, change_box) gives the same numbers as a fresh build."""
    calc = potentials.load(name)
    a = strained_rattled_cell(1)
    a.calc = calc
    a.get_potential_energy()
    b = strained_rattled_cell(2)  # same atom count: the calculator updates instead of rebuilding
    b.calc = calc
    e_updated, f_updated = b.get_potential_energy(), b.get_forces()
    fresh = potentials.load(name)
    b2 = b.copy()
    b2.calc = fresh
    assert e_updated == pytest.approx(b2.get_potential_energy(), abs=1e-10)
    np.testing.assert_allclose(f_updated, b2.get_forces(), atol=1e-10)


def test_eam_in_lammps_matches_ase_pure_python_eam():
    """LAMMPS and ASE's own EAM implementation read the same setfl file: energies and forces must agree."""
    from ase.calculators.eam import EAM

    (path,) = potentials.potential_files("eam-mendelev2008")
    atoms = strained_rattled_cell(3)
    atoms.calc = potentials.load("eam-mendelev2008")
    e_lmp, f_lmp = atoms.get_potential_energy(), atoms.get_forces()
    ref = atoms.copy()
    ref.calc = EAM(potential=str(path), form="fs")
    # ASE interpolates the tables with its own splines, LAMMPS with its cubic interpolation: agreement to
    # ~1e-4 eV/atom and ~1e-3 eV/Å shows the same file is evaluated the same way, not bit-identical.
    assert e_lmp / len(atoms) == pytest.approx(ref.get_potential_energy() / len(atoms), abs=2e-4)
    np.testing.assert_allclose(f_lmp, ref.get_forces(), atol=5e-3)


@needs_ani_al
def test_ani_al_matches_torchani_own_neurochem_loader():
    """Our ANIModel → torchani path reproduces torchani's own NeuroChem model exactly (float64)."""
    import torch
    import torchani.neurochem as nc

    from alal.config import data_dir

    base = data_dir() / "ani-al" / "model-Al-75"
    info = nc.NeurochemInfo(base / "sae_linfit.dat", base / "rAl-7.0R_32-5.0A_a8-8.params", base / "train", 8)
    aev, nets, sae, symbols = nc.modules_from_info(info)
    reference = nc.ANI(symbols, aev, nets, sae).double()
    atoms = strained_rattled_cell(4)
    species = torch.tensor(atoms.get_atomic_numbers()).unsqueeze(0)
    coords = torch.tensor(atoms.get_positions()).unsqueeze(0)
    cell = torch.tensor(atoms.cell.array)
    pbc = torch.tensor([True, True, True])
    e_ref = reference((species, coords), cell=cell, pbc=pbc, ensemble_values=True).energies.reshape(-1)
    calc = potentials.load("ani-al", engine="torchani")
    atoms.calc = calc
    atoms.get_potential_energy()
    from alal.potentials.ani_model import HARTREE_TO_EV

    np.testing.assert_allclose(calc.results["member_energies"], e_ref.detach().numpy() * HARTREE_TO_EV, rtol=0,
                               atol=1e-9)
    assert calc.results["energy_std"] == pytest.approx(np.std(e_ref.detach().numpy() * HARTREE_TO_EV), abs=1e-9)


@needs_ani_al
def test_ani_al_forces_stress_and_ensemble_outputs():
    calc = potentials.load("ani-al", engine="torchani", member_forces=True)
    atoms = strained_rattled_cell(5)[:12]  # 12 atoms of a 32-atom cell: a small, irregular, periodic cell
    atoms.calc = calc
    f = atoms.get_forces()
    np.testing.assert_allclose(f[[0, 5]], fd_forces(atoms, [0, 5]), atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), fd_stress(atoms), atol=1e-7)
    calc.reset()  # the finite-difference helpers evaluated other structures with this calculator
    f = atoms.get_forces()
    r = calc.results
    assert r["member_energies"].shape == (8,)
    assert r["member_forces"].shape == (8, len(atoms), 3)
    np.testing.assert_allclose(r["member_forces"].mean(axis=0), f, atol=1e-9)
    assert r["energy"] == pytest.approx(r["member_energies"].mean(), abs=1e-12)
    assert r["energy_std"] > 0  # independently initialised members disagree somewhere


@needs_ani_al
def test_model_directory_round_trip(tmp_path):
    """A model saved in alal's format and loaded back by path gives the published model's energies."""
    from alal.potentials.ani_model import save_model_dir

    model = potentials.load_ani_model("ani-al")
    save_model_dir(model, tmp_path / "model")
    atoms = strained_rattled_cell(6)
    atoms.calc = potentials.load("ani-al", engine="torchani")
    e1 = atoms.get_potential_energy()
    atoms.calc = potentials.load(str(tmp_path / "model"), engine="torchani")
    assert atoms.get_potential_energy() == pytest.approx(e1, abs=1e-9)
    assert potentials.describe(str(tmp_path / "model")).sha256


def test_unknown_name_is_a_clear_error():
    with pytest.raises(UnknownName, match="unknown potential 'eam-nope'.*ani-al"):
        potentials.load("eam-nope")


def test_missing_data_file_names_file_place_and_origin(tmp_path, monkeypatch):
    monkeypatch.setenv("ALAL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALAL_OFFLINE", "1")
    potentials._load_ani_model.cache_clear()
    with pytest.raises(DataFileMissing) as err:
        potentials.load("ani-al")
    msg = str(err.value)
    assert "model-Al-75" in msg and str(tmp_path) in msg and "github.com/atomistic-ml/ani-al" in msg
    with pytest.raises(DataFileMissing, match="Al99.eam.alloy.*ctcms.nist.gov"):
        potentials.load("eam-mishin1999")


@pytest.mark.parametrize("name", ["emt", "eam-mendelev2008"])
def test_bad_structures_are_refused(name):
    calc = potentials.load(name)
    cu = bulk("Cu", "fcc", a=3.6, cubic=True)
    cu.calc = calc
    with pytest.raises(BadStructure, match="Cu"):
        cu.get_potential_energy()
    nan = bulk("Al", "fcc", a=4.05, cubic=True)
    nan.positions[1, 0] = np.nan
    nan.calc = calc
    with pytest.raises(BadStructure, match="NaN"):
        nan.get_potential_energy()
    overlap = bulk("Al", "fcc", a=4.05, cubic=True)
    overlap.positions[1] = overlap.positions[0] + 0.1
    overlap.calc = calc
    with pytest.raises(BadStructure, match="on top of each other"):
        overlap.get_potential_energy()
    flat = Atoms("Al2", positions=[[0, 0, 0], [1, 1, 0]], cell=[[3, 0, 0], [0, 3, 0], [0, 0, 0]], pbc=True)
    flat.calc = calc
    with pytest.raises(BadStructure, match="zero"):
        flat.get_potential_energy()


def test_describe_gives_citation_files_and_stable_hash():
    info = potentials.describe("eam-mendelev2008")
    assert "Mendelev" in info.citation and info.files[0].endswith("Al_mm.eam.fs")
    assert info.sha256 == potentials.describe("eam-mendelev2008").sha256 and len(info.sha256) == 64
    assert potentials.describe("eam-zhou2004").name == "eam-zhou2001"  # the alias resolves


def test_dtype_is_validated():
    with pytest.raises(AlalError, match="float32"):
        potentials.load("emt", dtype="float16")


def test_potentials_cli_lists_every_name(capsys):
    from alal.cli import main

    assert main(["potentials", "--no-hash"]) in (0, 1)  # 1 only if a data file is missing on this machine
    out = capsys.readouterr().out
    for name in potentials.names():
        assert name in out
