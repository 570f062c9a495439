"""FastANIEngine.evaluate_batch: B independent periodic systems in one pass equal B single-system evaluations.

The reference is the engine's own one-system path (itself checked against torchani in test_engine.py), run on
a separate engine so that its neighbour list never shares state with the batch's slots. The batch mixes sizes
(1, 4, 11, 32, 108 atoms), orthorhombic and triclinic cells, and cells smaller than the cutoff sphere (the
1- and 4-atom cells and the 11-atom triclinic one see atoms of several periodic images).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from conftest import needs_ani_al
from test_engine import cluster, slab, small_cubic, strained_triclinic

# batch vs one system: the same kernels on the same entries, so only summation order differs
# Round-off of one evaluation: a float32 atomic energy of ~-74 eV has an ulp of 7.6e-6 eV, so sums taken in a
# different order (batched vs single, torch's threads) may differ by a few ulp; 2e-5 eV/atom is ~3 ulp of
# |E|/atom (a failure seen at 1.01e-6 with 1e-6 was round-off, not a bug). float64 stays at 1e-11.
TOLERANCES = {
    "float64": {"energy_per_atom": 1e-11, "force": 1e-10, "stress": 1e-12},
    "float32": {"energy_per_atom": 2e-5, "force": 1e-5, "stress": 1e-7},
}
BACKENDS = ["native", "torch"]
DTYPES = ["float64", "float32"]


def random_triclinic(n: int, seed: int, r_min: float = 2.0) -> Atoms:
    """n atoms placed at random (minimum distance r_min, through periodic images) in a skewed cell of
    ~16.6 Å³/atom: for n = 11 the cell is ~6 Å across, well inside the cutoff sphere."""
    rng = np.random.default_rng(seed)
    side = (16.6 * n) ** (1 / 3)
    cell = side * (np.eye(3) + rng.uniform(-0.15, 0.15, (3, 3)))
    inv = np.linalg.inv(cell)
    positions: list[np.ndarray] = []
    while len(positions) < n:
        p = rng.uniform(0.0, 1.0, 3) @ cell
        if positions:
            frac = (np.asarray(positions) - p) @ inv
            d = (frac - np.round(frac)) @ cell
            if np.min(np.linalg.norm(d, axis=1)) < r_min:
                continue
        positions.append(p)
    return Atoms(f"Al{n}", positions=positions, cell=cell, pbc=True)


def rattled_fcc_108() -> Atoms:
    atoms = bulk("Al", "fcc", a=4.05, cubic=True).repeat((3, 3, 3))
    atoms.positions += np.random.default_rng(5).normal(0.0, 0.08, atoms.positions.shape)
    return atoms


def mixed_batch() -> list[Atoms]:
    return [small_cubic(), random_triclinic(11, seed=1), strained_triclinic(), rattled_fcc_108(),
            bulk("Al", "fcc", a=3.95)]


def _engine(model, backend: str, dtype: str):
    from alal.potentials.engine import FastANIEngine

    if backend == "native":
        from alal.potentials.engine import native

        if not native.available():
            pytest.skip("compiled kernels unavailable")
    engine = FastANIEngine(model, dtype=dtype, backend=backend)
    assert engine.backend.name == backend
    return engine


@pytest.fixture(scope="module")
def model():
    from alal.potentials import load_ani_model

    return load_ani_model("ani-al")


def assert_same(batch_results, singles, dtype, *, stress=True, member_forces=True):
    tol = TOLERANCES[dtype]
    assert len(batch_results) == len(singles)
    for b, (got, ref) in enumerate(zip(batch_results, singles)):
        n = len(ref.forces)
        assert got.forces.shape == (n, 3), b
        assert np.max(np.abs(got.member_energies - ref.member_energies)) / n < tol["energy_per_atom"], b
        np.testing.assert_allclose(got.atomic_energies, ref.atomic_energies, rtol=0, atol=tol["energy_per_atom"])
        np.testing.assert_allclose(got.forces, ref.forces, rtol=0, atol=tol["force"], err_msg=f"system {b}")
        if member_forces:
            assert got.member_forces.shape == (8, n, 3)
            np.testing.assert_allclose(got.member_forces, ref.member_forces, rtol=0, atol=tol["force"])
        if stress:
            np.testing.assert_allclose(got.stress, ref.stress, rtol=0, atol=tol["stress"], err_msg=f"system {b}")


# ------------------------------------------------------------------------------------------ batch == single


@needs_ani_al
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_equals_single_system_evaluations(backend, dtype, model):
    systems = mixed_batch()
    single = _engine(model, backend, dtype)
    refs = [single.evaluate(a, stress=True, member_forces=True) for a in systems]
    batched = _engine(model, backend, dtype)
    results = batched.evaluate_batch(systems, stress=True, member_forces=True)
    assert_same(results, refs, dtype)
    # the systems differ, so a mix-up of per-system segments (energies, cells, volumes) could not pass
    assert len({round(float(r.member_energies.mean() / len(a)), 4) for r, a in zip(results, systems)}) == len(systems)
    # forces-only (the sampler's call) gives the same forces and no stress
    plain = batched.evaluate_batch(systems)
    for got, ref in zip(plain, refs):
        assert got.stress is None and got.member_forces is None
        np.testing.assert_allclose(got.forces, ref.forces, rtol=0, atol=TOLERANCES[dtype]["force"])


@needs_ani_al
@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_of_mixed_periodicity(backend, model):
    """Clusters and slabs batch too (their stand-in cells are per system); stress only where periodic."""
    systems = [cluster(), small_cubic(), slab()]
    single = _engine(model, backend, "float64")
    refs = [single.evaluate(a, member_forces=True) for a in systems]
    assert_same(_engine(model, backend, "float64").evaluate_batch(systems, member_forces=True), refs, "float64",
                stress=False)


@needs_ani_al
def test_batch_of_one_is_the_single_system_path(model):
    atoms = strained_triclinic(seed=4)
    ref = _engine(model, "native", "float64").evaluate(atoms, stress=True, member_forces=True)
    (got,) = _engine(model, "native", "float64").evaluate_batch([atoms], stress=True, member_forces=True)
    for field in ("member_energies", "atomic_energies", "forces", "stress", "member_forces"):
        np.testing.assert_array_equal(getattr(got, field), getattr(ref, field))


@needs_ani_al
def test_empty_batch(model):
    assert _engine(model, "native", "float32").evaluate_batch([]) == []


# ------------------------------------------------------------------------------------------ neighbour lists


@needs_ani_al
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_slot_reuses_its_neighbour_list_and_rebuilds_alone(backend, model):
    rng = np.random.default_rng(0)
    systems = mixed_batch()
    engine = _engine(model, backend, "float64")
    single = _engine(model, backend, "float64")

    def check():
        results = engine.evaluate_batch(systems, stress=True)
        refs = [single.evaluate(a, stress=True) for a in systems]  # fresh list per system: the truth
        assert_same(results, refs, "float64", member_forces=False)

    def builds():
        return [nl.n_builds for nl in engine.batch_slots]

    check()
    assert builds() == [1] * len(systems)
    for _ in range(3):  # MD-like: small moves and a small change of one cell reuse every list
        for atoms in systems:
            atoms.positions += rng.normal(0.0, 0.02, atoms.positions.shape)
        systems[2].set_cell(systems[2].cell.array * 1.01, scale_atoms=True)
        check()
    assert builds() == [1] * len(systems)
    assert engine.stats.neighbor_builds == len(systems)
    # one atom of system 3 jumps 0.8 Å (more than half the 1 Å skin): that slot alone is rebuilt
    systems[3].positions[7] += [0.8, 0.0, 0.0]
    check()
    assert builds() == [1, 1, 1, 2, 1]
    # a slot that gets a different system (other atom count and cell) is rebuilt
    systems[0], systems[1] = systems[1], systems[0]
    check()
    assert builds() == [2, 2, 1, 2, 1]
    # a shorter batch uses the first slots; the single-system list is untouched by all of this
    short = engine.evaluate_batch(systems[:2])
    assert_same(short, [single.evaluate(a) for a in systems[:2]], "float64", stress=False, member_forces=False)
    assert builds() == [2, 2, 1, 2, 1] and engine.neighbors.n_builds == 0


# ------------------------------------------------------------------------------------------ bad input


@needs_ani_al
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "bad, index, message",
    [
        (Atoms("AlCu", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[8, 8, 8], pbc=True), 2, "contains Cu"),
        (Atoms("Al2", positions=[[0.1, 0, 0], [7.75, 0, 0]], cell=[8, 8, 8], pbc=True), 1,
         "0.350 Å apart.*on top of each other"),
        (Atoms("Al2", positions=[[0, 0, 0], [np.nan, 0, 0]], cell=[8, 8, 8], pbc=True), 0, "NaN"),
    ],
)
def test_bad_system_is_named_in_the_error(backend, bad, index, message, model):
    from alal.errors import BadStructure

    systems = [small_cubic(), strained_triclinic()]
    systems.insert(index, bad)
    engine = _engine(model, backend, "float32")
    with pytest.raises(BadStructure, match=f"^system {index} of the batch: .*{message}"):
        engine.evaluate_batch(systems)
    # the single-system path keeps its message without the prefix
    with pytest.raises(BadStructure, match=f"^(?!system).*{message}"):
        engine.evaluate(bad)


@needs_ani_al
def test_stress_of_a_non_periodic_system_in_a_batch_is_refused(model):
    from alal.errors import AlalError

    with pytest.raises(AlalError, match="^system 1 of the batch: .*periodic"):
        _engine(model, "native", "float64").evaluate_batch([small_cubic(), cluster()], stress=True)
