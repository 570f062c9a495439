"""The engine on models other than ANI-Al (what the trainer writes): other descriptor sizes, two species,
energies in eV, the model-directory format; plus the build system's failure path and device checks."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms

from test_engine import random_disordered_cell


def random_model(seed: int, species=("Al", "Cu"), hidden=(24, 16), members=3, *, uniform_shifts=False):
    """A random ANI ensemble in eV (energy_unit_eV = 1), with non-ANI-Al descriptor sizes."""
    from alal.potentials.ani_model import AEVParameters, ANIModel

    rng = np.random.default_rng(seed)
    if uniform_shifts:  # exactly representable, equally spaced shifts (the kernels' recurrence path)
        angular_shifts = [1.0 + 0.5 * k for k in range(6)]
        sections = [(k + 0.5) * np.pi / 4 for k in range(4)]
    else:  # ANI-1x-like linspace values (not exactly equally spaced in float32: the generic path)
        angular_shifts = list(np.linspace(0.9, 3.5, 4, endpoint=False))
        sections = list(np.linspace(0, np.pi, 8, endpoint=False) + np.pi / 16)
    aev = AEVParameters(
        radial_cutoff=5.2, angular_cutoff=3.5, radial_eta=16.0,
        radial_shifts=list(np.linspace(0.9, 5.2, 16, endpoint=False)),
        angular_eta=8.0, angular_zeta=32.0, angular_shifts=angular_shifts, angle_sections=sections,
    )
    n_in = aev.n_features(len(species))
    widths = [n_in, *hidden, 1]
    members_ = []
    for _ in range(members):
        nets = {}
        for sp in species:
            nets[sp] = [(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.1, b)) for a, b in zip(widths, widths[1:])]
        members_.append(nets)
    model = ANIModel(species=list(species), aev=aev, self_energies={sp: -1.5 - i for i, sp in enumerate(species)},
                     members=members_, celu_alpha=0.1, energy_unit_eV=1.0, name=f"random-{seed}")
    model.validate()
    return model


def mixed_cell(seed: int) -> Atoms:
    atoms = random_disordered_cell(seed, sides=(9.0, 10.0), density=(2.5, 3.5), r_min=1.9, max_atoms=40)
    symbols = np.where(np.random.default_rng(seed).random(len(atoms)) < 0.4, "Cu", "Al")
    atoms.set_chemical_symbols(symbols.tolist())
    return atoms


@pytest.mark.parametrize("uniform", [False, True])
@pytest.mark.parametrize("structure", ["mixed-cell", "mixed-cluster"])
def test_two_species_model_equals_torchani(uniform, structure):
    from alal.potentials.ani import TorchaniEngine
    from alal.potentials.engine import FastANIEngine

    model = random_model(1, uniform_shifts=uniform)
    atoms = mixed_cell(2)
    if structure == "mixed-cluster":
        atoms.pbc = False
        atoms.center(vacuum=3.0)
    periodic = all(atoms.pbc)
    ref = TorchaniEngine(model, dtype="float64").evaluate(atoms, stress=periodic, member_forces=True)
    backends = ["native", "torch"] if structure == "mixed-cell" and not uniform else ["native"]
    for backend in backends:
        res = FastANIEngine(model, dtype="float64", backend=backend).evaluate(atoms, stress=periodic, member_forces=True)
        assert np.max(np.abs(res.member_energies - ref.member_energies)) / len(atoms) < 1e-8, backend
        assert np.max(np.abs(res.member_forces - ref.member_forces)) < 1e-7, backend
        assert np.max(np.abs(res.forces - ref.forces)) < 1e-7, backend
        if periodic:
            assert np.max(np.abs(res.stress - ref.stress)) < 1e-8, backend
    res32 = FastANIEngine(model, dtype="float32").evaluate(atoms)
    assert np.max(np.abs(res32.forces - ref.forces)) < 1e-4


def test_trainer_model_directory_loads_with_the_fast_engine(tmp_path):
    from alal import potentials
    from alal.potentials.ani_model import save_model_dir
    from alal.potentials.engine import FastANIEngine

    model = random_model(3, species=("Al",), hidden=(16,), members=2)
    save_model_dir(model, tmp_path / "model")
    atoms = random_disordered_cell(7, sides=(9.0, 9.5), max_atoms=40)
    calc = potentials.load(str(tmp_path / "model"), dtype="float64")
    assert isinstance(calc.engine, FastANIEngine)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    ref = potentials.load(str(tmp_path / "model"), engine="torchani")
    atoms.calc = ref
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-8 * len(atoms))


def test_unknown_species_for_a_model_is_refused():
    from alal.errors import BadStructure
    from alal.potentials.engine import FastANIEngine

    engine = FastANIEngine(random_model(4, species=("Al",), hidden=(8,), members=2))
    with pytest.raises(BadStructure, match="contains Cu"):
        engine.evaluate(Atoms("AlCu", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[9, 9, 9], pbc=True))


def test_cuda_is_refused_clearly_without_a_gpu():
    import torch

    from alal.errors import AlalError
    from alal.potentials.engine import FastANIEngine

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(AlalError, match="CUDA"):
        FastANIEngine(random_model(5, species=("Al",), hidden=(8,), members=2), device="cuda")
    with pytest.raises(AlalError, match="backend"):
        FastANIEngine(random_model(5, species=("Al",), hidden=(8,), members=2), backend="opencl")


def test_failed_kernel_build_is_reported_clearly(tmp_path, monkeypatch):
    """A compiler that fails (here: `false`) gives NativeUnavailable with the command, nothing half-written."""
    from alal.potentials.engine import native

    monkeypatch.setenv("ALAL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(native.NativeUnavailable, match="compiling the engine kernels failed"):
        native.build()
    assert not list((tmp_path / "engine").glob("*.so"))


def test_engine_falls_back_to_torch_when_kernels_are_unavailable(monkeypatch):
    """With the kernels unavailable (here: disabled by ALAL_ENGINE_NATIVE=0) the engine warns, uses the torch
    backend and still computes the right thing."""
    from alal.potentials.engine import FastANIEngine

    monkeypatch.setenv("ALAL_ENGINE_NATIVE", "0")
    model = random_model(6, species=("Al",), hidden=(8,), members=2)
    with pytest.warns(RuntimeWarning, match="torch backend"):
        engine = FastANIEngine(model)
    assert engine.backend.name == "torch" and "ALAL_ENGINE_NATIVE" in engine.describe()["note"]
    atoms = random_disordered_cell(8, sides=(9.0, 9.5), max_atoms=30)
    monkeypatch.delenv("ALAL_ENGINE_NATIVE")
    native = FastANIEngine(model, dtype="float32").evaluate(atoms)
    fallback = engine.evaluate(atoms)
    assert np.max(np.abs(fallback.forces - native.forces)) < 1e-4
