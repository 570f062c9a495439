"""The engine's neighbour list: the compiled cell list against ASE's, and the Verlet-skin reuse rules."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.neighborlist import primitive_neighbor_list

from conftest import needs_ani_al
from test_engine import cluster, random_disordered_cell, slab, small_cubic, strained_triclinic


def _kernels():
    from alal.potentials.engine import native

    try:
        return native.load()
    except native.NativeUnavailable as exc:  # pragma: no cover - machines without a compiler
        pytest.skip(f"compiled kernels unavailable: {exc}")


def _pairs(offsets, nbr, shift):
    centre = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    return sorted(zip(centre.tolist(), nbr.tolist(), map(tuple, shift.tolist())))


STRUCTURES = {
    "random": lambda: random_disordered_cell(3, max_atoms=80),
    "triclinic": strained_triclinic,
    "one-atom": lambda: bulk("Al", "fcc", a=4.05),
    "cubic-4": small_cubic,
    "hexagonal-skew": lambda: bulk("Al", "hcp", a=2.9, c=4.7),
    "unwrapped": lambda: _unwrapped(),
    "cluster": cluster,
    "slab": slab,
}


def _unwrapped():
    atoms = strained_triclinic()
    atoms.positions += np.random.default_rng(9).integers(-3, 4, (len(atoms), 1)) * atoms.cell[0]  # far outside
    return atoms


@pytest.mark.parametrize("name", list(STRUCTURES))
@pytest.mark.parametrize("cutoff", [5.0, 8.0])
def test_cell_list_finds_exactly_the_ase_pairs(name, cutoff):
    from alal.potentials.engine.neighbors import effective_cell

    atoms = STRUCTURES[name]()
    pbc = np.asarray(atoms.pbc)
    cell = effective_cell(atoms.cell.array, pbc, atoms.positions)
    offsets, nbr, shift, partner = _kernels().neighbor_list(atoms.positions, cell, pbc, cutoff, threads=2)
    i, j, S = primitive_neighbor_list("ijS", pbc, cell, atoms.positions, cutoff, self_interaction=False)
    assert _pairs(offsets, nbr, shift) == sorted(zip(i.tolist(), j.tolist(), map(tuple, S.tolist())))
    # partner is the reverse entry: an involution, same pair, opposite image
    centre = np.repeat(np.arange(len(atoms)), np.diff(offsets))
    assert np.all(partner[partner] == np.arange(len(nbr)))
    assert np.all(nbr[partner] == centre) and np.all(shift[partner] == -shift)


def test_ase_fallback_search_gives_the_same_list():
    from alal.potentials.engine.neighbors import ase_neighbor_list

    atoms = strained_triclinic()
    pbc = np.asarray(atoms.pbc)
    compiled = _kernels().neighbor_list(atoms.positions, atoms.cell.array, pbc, 7.5, threads=1)
    fallback = ase_neighbor_list(atoms.positions, atoms.cell.array, pbc, 7.5)
    assert _pairs(*compiled[:3]) == _pairs(*fallback[:3])
    offsets, nbr, shift, partner = fallback
    centre = np.repeat(np.arange(len(atoms)), np.diff(offsets))
    assert np.all(partner[partner] == np.arange(len(nbr)))
    assert np.all(nbr[partner] == centre) and np.all(shift[partner] == -shift)


# ------------------------------------------------------------------------------------------ Verlet reuse


@pytest.fixture(scope="module")
def model():
    from alal.potentials import load_ani_model

    return load_ani_model("ani-al")


def _fresh(model, atoms, **kw):
    from alal.potentials.engine import FastANIEngine

    return FastANIEngine(model, dtype="float64").evaluate(atoms, **kw)


@needs_ani_al
def test_list_is_reused_within_the_skin_and_gives_the_fresh_result(model):
    from alal.potentials.engine import FastANIEngine

    atoms = random_disordered_cell(4, max_atoms=70)
    engine = FastANIEngine(model, dtype="float64", skin=1.0)
    engine.evaluate(atoms)
    rng = np.random.default_rng(0)
    moved = atoms.copy()
    moved.positions += rng.uniform(-0.2, 0.2, moved.positions.shape)  # < skin/2 = 0.5 Å
    res = engine.evaluate(moved, stress=True)
    assert engine.neighbors.n_builds == 1
    ref = _fresh(model, moved, stress=True)
    np.testing.assert_allclose(res.forces, ref.forces, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.member_energies, ref.member_energies, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.stress, ref.stress, rtol=0, atol=1e-12)
    # one atom moving farther than skin/2 forces a rebuild
    moved.positions[0] += [0.6, 0.0, 0.0]
    res = engine.evaluate(moved)
    assert engine.neighbors.n_builds == 2
    np.testing.assert_allclose(res.forces, _fresh(model, moved).forces, rtol=0, atol=1e-12)


@needs_ani_al
def test_list_survives_cell_changes_npt_style(model):
    """A 1 % strain of the cell keeps the list (the bound accounts for it) and the result stays exact."""
    from alal.potentials.engine import FastANIEngine

    atoms = strained_triclinic()
    engine = FastANIEngine(model, dtype="float64", skin=1.0)
    engine.evaluate(atoms, stress=True)
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array @ (np.eye(3) + np.diag([0.01, -0.005, 0.008])), scale_atoms=True)
    res = engine.evaluate(strained, stress=True)
    assert engine.neighbors.n_builds == 1
    ref = _fresh(model, strained, stress=True)
    np.testing.assert_allclose(res.forces, ref.forces, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.stress, ref.stress, rtol=0, atol=1e-12)
    # a large volume change rebuilds
    big = atoms.copy()
    big.set_cell(atoms.cell.array * 1.15, scale_atoms=True)
    engine.evaluate(big)
    assert engine.neighbors.n_builds == 2


@needs_ani_al
def test_wrapping_positions_or_changing_structure_rebuilds(model):
    from alal.potentials.engine import FastANIEngine

    atoms = strained_triclinic()
    atoms.positions += 3.0  # some atoms outside the cell
    engine = FastANIEngine(model, dtype="float64")
    before = engine.evaluate(atoms)
    wrapped = atoms.copy()
    wrapped.wrap()
    after = engine.evaluate(wrapped)
    np.testing.assert_allclose(after.forces, before.forces, rtol=0, atol=1e-10)
    other = small_cubic()
    res = engine.evaluate(other)
    np.testing.assert_allclose(res.forces, _fresh(model, other).forces, rtol=0, atol=1e-12)
    assert engine.neighbors.n_builds == 3


@needs_ani_al
def test_zero_skin_rebuilds_on_every_move(model):
    from alal.potentials.engine import FastANIEngine

    atoms = small_cubic()
    engine = FastANIEngine(model, dtype="float64", skin=0.0)
    engine.evaluate(atoms)
    engine.evaluate(atoms)  # same positions: still valid
    atoms.positions[0, 0] += 1e-3
    engine.evaluate(atoms)
    assert engine.neighbors.n_builds == 2


def test_isolated_atom_and_empty_neighbourhoods():
    offsets, nbr, shift, partner = _kernels().neighbor_list(np.zeros((1, 3)), np.eye(3) * 20, np.zeros(3, bool), 7.0, 1)
    assert offsets.tolist() == [0, 0] and len(nbr) == 0
    atoms = Atoms("Al2", positions=[[0, 0, 0], [9, 0, 0]], cell=[30, 30, 30], pbc=False)
    offsets, nbr, *_ = _kernels().neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, 7.0, 1)
    assert len(nbr) == 0
