"""The fast ANI engine against torchani (the reference) and against the physics it must obey.

Reference numbers are computed here by torchani's own modules on the published ANI-Al weights (float64),
once per structure (module fixture). Structures follow the issue: random disordered cells (the paper's
recipe: box sides 10.5-17 Å, density 1.80-4.05 g/cm³, r_min 1.8 Å), a strained triclinic cell, cells
smaller than twice the cutoff (1 and 4 atoms: many periodic images), plus a cluster and a slab.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from conftest import needs_ani_al

AL_MASS_G = 26.9815385 * 1.66053906660e-24

# tolerances of the issue
F64_ENERGY_PER_ATOM = 1e-8  # eV/atom
F64_FORCE = 1e-7  # eV/Å
F64_STRESS = 1e-8  # eV/Å³ (= 1.6e-6 GPa)
F32_FORCE = 1e-4  # eV/Å
F32_ENERGY_PER_ATOM = 1e-5  # eV/atom


# ------------------------------------------------------------------------------------------ structures


def random_disordered_cell(seed: int, *, sides=(10.5, 17.0), density=(1.80, 4.05), r_min=1.8, max_atoms=None) -> Atoms:
    """The paper's random cells: random box and density, atoms placed uniformly with a minimum distance."""
    rng = np.random.default_rng(seed)
    lengths = rng.uniform(*sides, size=3)
    rho = rng.uniform(*density)
    n = int(round(rho * np.prod(lengths) * 1e-24 / AL_MASS_G))
    if max_atoms:
        n = min(n, max_atoms)
    positions: list[np.ndarray] = []
    while len(positions) < n:
        p = rng.uniform(0.0, 1.0, 3) * lengths
        if positions:
            d = np.asarray(positions) - p
            d -= np.round(d / lengths) * lengths
            if np.min(np.einsum("ij,ij->i", d, d)) < r_min**2:
                continue
        positions.append(p)
    return Atoms(f"Al{n}", positions=positions, cell=np.diag(lengths), pbc=True)


def strained_triclinic(seed: int = 2) -> Atoms:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    strain = np.array([[0.03, 0.08, -0.05], [0.0, -0.02, 0.11], [0.06, 0.0, 0.04]])
    atoms.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.1, atoms.positions.shape)
    return atoms


def small_cubic() -> Atoms:
    atoms = bulk("Al", "fcc", a=4.0, cubic=True)
    atoms.positions += np.random.default_rng(1).normal(0.0, 0.1, atoms.positions.shape)
    return atoms


def cluster() -> Atoms:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 2))
    atoms.positions += np.random.default_rng(3).normal(0.0, 0.05, atoms.positions.shape)
    atoms.pbc = False
    atoms.center(vacuum=4.0)
    return atoms


def slab() -> Atoms:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((2, 2, 3))
    atoms.positions += np.random.default_rng(4).normal(0.0, 0.05, atoms.positions.shape)
    atoms.pbc = (True, True, False)
    atoms.center(vacuum=6.0, axis=2)
    return atoms


CASES = {
    "random-cell": lambda: random_disordered_cell(0),
    "random-cell-dense": lambda: random_disordered_cell(11, sides=(10.5, 11.5), density=(3.6, 4.05), max_atoms=96),
    "triclinic-strained": strained_triclinic,
    "primitive-1-atom": lambda: bulk("Al", "fcc", a=3.9),
    "cubic-4-atoms": small_cubic,
    "cluster": cluster,
    "slab": slab,
}


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def model():
    from alal.potentials import load_ani_model

    return load_ani_model("ani-al")


@pytest.fixture(scope="module")
def reference(model):
    """torchani float64 results per case (stress where periodic in 3D), computed once."""
    from alal.potentials.ani import TorchaniEngine

    ref = TorchaniEngine(model, dtype="float64")
    out = {}
    for name, build in CASES.items():
        atoms = build()
        out[name] = (atoms, ref.evaluate(atoms, forces=True, stress=all(atoms.pbc),
                                         member_forces=name == "triclinic-strained"))
    return out


@pytest.fixture(scope="module")
def engines(model):
    from alal.potentials.engine import FastANIEngine

    return {dtype: FastANIEngine(model, dtype=dtype) for dtype in ("float64", "float32")}


# ------------------------------------------------------------------------------------------ against torchani


@needs_ani_al
@pytest.mark.parametrize("case", list(CASES))
def test_float64_equals_torchani(case, reference, engines):
    atoms, ref = reference[case]
    res = engines["float64"].evaluate(atoms, forces=True, stress=all(atoms.pbc))
    n = len(atoms)
    assert np.max(np.abs(res.member_energies - ref.member_energies)) / n < F64_ENERGY_PER_ATOM
    assert np.max(np.abs(res.forces - ref.forces)) < F64_FORCE
    if all(atoms.pbc):
        assert np.max(np.abs(res.stress - ref.stress)) < F64_STRESS
    # per-atom energies add up to the member energies
    np.testing.assert_allclose(res.atomic_energies.sum(axis=1), res.member_energies, rtol=0, atol=1e-9)


@needs_ani_al
@pytest.mark.parametrize("case", list(CASES))
def test_float32_equals_torchani(case, reference, engines):
    atoms, ref = reference[case]
    res = engines["float32"].evaluate(atoms, forces=True, stress=all(atoms.pbc))
    n = len(atoms)
    assert np.max(np.abs(res.member_energies - ref.member_energies)) / n < F32_ENERGY_PER_ATOM
    assert np.max(np.abs(res.forces - ref.forces)) < F32_FORCE
    if all(atoms.pbc):
        assert np.max(np.abs(res.stress - ref.stress)) < 1e-5


@needs_ani_al
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_member_forces_equal_torchani(dtype, reference, engines):
    atoms, ref = reference["triclinic-strained"]
    res = engines[dtype].evaluate(atoms, forces=True, member_forces=True, stress=True)
    tol = F64_FORCE if dtype == "float64" else F32_FORCE
    assert res.member_forces.shape == (8, len(atoms), 3)
    assert np.max(np.abs(res.member_forces - ref.member_forces)) < tol
    np.testing.assert_allclose(res.member_forces.mean(axis=0), res.forces, rtol=0, atol=1e-12)
    assert np.max(np.abs(res.stress - ref.stress)) < (F64_STRESS if dtype == "float64" else 1e-5)


@needs_ani_al
@pytest.mark.parametrize("case", ["triclinic-strained", "cluster"])
def test_torch_backend_equals_torchani(case, reference, model):
    """The pure-torch backend (the CUDA code path, and the fallback without a compiler), run on the CPU."""
    from alal.potentials.engine import FastANIEngine

    atoms, ref = reference[case]
    engine = FastANIEngine(model, dtype="float64", backend="torch")
    res = engine.evaluate(atoms, forces=True, stress=all(atoms.pbc))
    assert engine.backend.name == "torch"
    assert np.max(np.abs(res.member_energies - ref.member_energies)) / len(atoms) < F64_ENERGY_PER_ATOM
    assert np.max(np.abs(res.forces - ref.forces)) < F64_FORCE
    if all(atoms.pbc):
        assert np.max(np.abs(res.stress - ref.stress)) < F64_STRESS


@needs_ani_al
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_aevs_equal_torchani_aev_computer(dtype, reference, engines, model):
    import torch

    from alal.potentials.ani_model import to_torchani

    atoms, _ = reference["random-cell-dense"]
    ani = to_torchani(model, dtype=torch.float64)
    species = torch.zeros((1, len(atoms)), dtype=torch.long)
    coords = torch.tensor(atoms.positions).unsqueeze(0)
    ref = ani.aev_computer(species, coords, torch.tensor(atoms.cell.array), torch.tensor([True] * 3))[0].numpy()
    ours = engines[dtype].aevs(atoms)
    tol = 1e-12 if dtype == "float64" else 1e-5
    assert ours.shape == ref.shape == (len(atoms), 96)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol * max(1.0, np.abs(ref).max()))


# ------------------------------------------------------------------------------------------ physics


@needs_ani_al
def test_forces_are_minus_energy_gradient(engines):
    atoms = random_disordered_cell(5, sides=(10.5, 11.0), max_atoms=60)
    engine = engines["float64"]
    forces = engine.evaluate(atoms).forces
    h = 1e-4
    rng = np.random.default_rng(0)
    for i in rng.choice(len(atoms), 4, replace=False):
        for k in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[i, k] += h
            minus.positions[i, k] -= h
            e_plus = engine.evaluate(plus, forces=False).member_energies.mean()
            e_minus = engine.evaluate(minus, forces=False).member_energies.mean()
            assert forces[i, k] == pytest.approx(-(e_plus - e_minus) / (2 * h), abs=2e-6)


@needs_ani_al
def test_stress_is_strain_derivative_of_energy(engines):
    atoms = strained_triclinic(seed=7)
    engine = engines["float64"]
    stress = engine.evaluate(atoms, stress=True).stress
    volume = atoms.get_volume()
    h = 1e-5
    for a, b in [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]:
        energies = []
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[a, b] += sign * h / 2
            eps[b, a] += sign * h / 2
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            energies.append(engine.evaluate(strained, forces=False).member_energies.mean())
        derivative = (energies[0] - energies[1]) / (2 * h) / volume
        assert stress[a, b] == pytest.approx(derivative, abs=1e-7)
        assert stress[a, b] == pytest.approx(stress[b, a], abs=1e-12)


# NVE bounds for 200 steps of 2 fs from 600 K (108 atoms, float32, skin 0.3 Å so the list is rebuilt during the
# run). Measured: fluctuation 1.2e-4 eV/atom (the 2 fs time step), drift 6e-6 eV/atom/ps.
NVE_FLUCTUATION_BOUND = 5e-4  # eV/atom, max |E(t) - E(0)|
NVE_DRIFT_BOUND = 1e-4  # eV/atom/ps, slope of a linear fit


@needs_ani_al
def test_nve_energy_is_conserved_across_neighbour_list_rebuilds():
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from alal import potentials

    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((3, 3, 3))
    atoms.calc = potentials.load("ani-al", dtype="float32", engine_options={"skin": 0.3})
    MaxwellBoltzmannDistribution(atoms, temperature_K=600, rng=np.random.default_rng(0))
    dt_fs = 2.0
    dyn = VelocityVerlet(atoms, timestep=dt_fs * units.fs)
    totals = []
    dyn.attach(lambda: totals.append(atoms.get_potential_energy() + atoms.get_kinetic_energy()), interval=1)
    dyn.run(200)
    totals = np.array(totals) / len(atoms)
    assert atoms.get_temperature() > 100  # it did move
    assert atoms.calc.engine.stats.neighbor_builds > 2  # and the list was rebuilt on the way
    assert np.max(np.abs(totals - totals[0])) < NVE_FLUCTUATION_BOUND
    slope = np.polyfit(np.arange(len(totals)) * dt_fs * 1e-3, totals, 1)[0]
    assert abs(slope) < NVE_DRIFT_BOUND


# ------------------------------------------------------------------------------------------ ensemble outputs


@needs_ani_al
def test_calculator_returns_ensemble_spread_per_structure_and_atom():
    from alal import potentials
    from alal.potentials.engine import FastANIEngine

    atoms = strained_triclinic()
    calc = potentials.load("ani-al", dtype="float32", member_forces=True)
    assert isinstance(calc.engine, FastANIEngine)
    atoms.calc = calc
    atoms.get_forces()
    r = calc.results
    assert r["member_energies"].shape == (8,)
    assert r["energy_std"] == pytest.approx(np.std(r["member_energies"]))
    assert r["energy"] == pytest.approx(np.mean(r["member_energies"]))
    assert r["member_atomic_energies"].shape == (8, len(atoms))
    np.testing.assert_allclose(r["energies"].sum(), r["energy"], rtol=1e-9)
    assert r["member_forces"].shape == (8, len(atoms), 3)
    assert r["force_std_per_atom"].shape == (len(atoms),) and np.all(r["force_std_per_atom"] > 0)


# ------------------------------------------------------------------------------------------ registry


@needs_ani_al
def test_registry_defaults_to_the_fast_engine_and_keeps_torchani():
    from alal import potentials
    from alal.potentials.ani import TorchaniEngine
    from alal.potentials.engine import FastANIEngine

    assert potentials.default_ani_engine() == "alal"
    calc = potentials.load("ani-al")
    assert isinstance(calc.engine, FastANIEngine) and calc.engine.dtype == "float64"
    assert potentials.load("ani-al", dtype="float32").engine.dtype == "float32"
    assert isinstance(potentials.load("ani-al", engine="torchani").engine, TorchaniEngine)


# ------------------------------------------------------------------------------------------ bad input


@needs_ani_al
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Atoms("AlCu", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[8, 8, 8], pbc=True), "contains Cu"),
        (lambda: Atoms("Al2", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[[4, 0, 0], [0, 4, 0], [4, 4, 0]], pbc=True),
         "zero volume"),
        (lambda: Atoms("Al2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[8, 8, 8], pbc=True), "NaN"),
        (lambda: Atoms("Al2", positions=[[0, 0, 0], [0.2, 0, 0]], cell=[8, 8, 8], pbc=True), "on top of each other"),
        (lambda: Atoms("Al", positions=[[0, 0, 0]], cell=[[3, 0, 0], [0, 0, 0], [0, 0, 3]], pbc=True), "zero"),
        (lambda: Atoms(cell=[8, 8, 8], pbc=True), "no atoms"),
    ],
)
def test_bad_input_gives_a_clear_error(make, message):
    from alal import potentials
    from alal.errors import BadStructure

    atoms = make()
    atoms.calc = potentials.load("ani-al", dtype="float32")
    with pytest.raises(BadStructure, match=message):
        atoms.get_forces()


@needs_ani_al
def test_overlap_through_periodic_image_is_caught(engines):
    from alal.errors import BadStructure

    atoms = Atoms("Al2", positions=[[0.1, 0, 0], [7.75, 0, 0]], cell=[8, 8, 8], pbc=True)  # 0.35 Å via the image
    with pytest.raises(BadStructure, match="apart"):
        engines["float32"].evaluate(atoms)


@needs_ani_al
def test_stress_of_a_non_periodic_structure_is_refused(engines):
    from alal.errors import AlalError

    with pytest.raises(AlalError, match="periodic"):
        engines["float64"].evaluate(cluster(), stress=True)
