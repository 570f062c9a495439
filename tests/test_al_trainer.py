"""Descriptors (AEV + Jacobian) and the ensemble trainer, on real EMT labels."""

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

from alal.al.builder import BuilderSettings, random_cell
from alal.al.descriptors import ARRAYS, FeatureCache, FeatureComputer, build_aev_computer
from alal.al.trainer import Batch, Ensemble, Sample, TrainSettings, errors, predict, train
from alal.potentials.ani_model import AEVParameters, load_model_dir, save_model_dir, to_torchani

AEV = AEVParameters.ani_al()
torch.set_num_threads(1)  # one thread per test process: on a shared 2-core runner more threads only spin
SMALL = BuilderSettings(side_A=(6.0, 7.5), density_g_cm3=(1.8, 4.05))


@pytest.fixture(scope="module")
def computer():
    return FeatureComputer(AEV)


def test_closed_form_jacobian_equals_autodiff(computer):
    auto = FeatureComputer(AEV, method="autodiff")
    a = random_cell(11, BuilderSettings(side_A=(5.5, 5.6), density_g_cm3=(2.7, 2.7)))
    x, y = computer(a), auto(a)
    for k in ARRAYS:
        # both float64 inside, stored as float32: 2e-6 is a few float32 ulps of the largest entries (~0.5)
        assert np.allclose(getattr(x, k), getattr(y, k), atol=2e-6), k


def test_aev_and_forces_match_torchani_autograd(computer):
    """The precomputed Jacobian gives exactly the forces torchani gets by differentiating through the AEV."""
    a = random_cell(12, SMALL)
    feats = computer(a)
    aev = build_aev_computer(AEV)
    coords = torch.tensor(a.positions).unsqueeze(0).requires_grad_(True)
    ref = aev(torch.zeros(1, len(a), dtype=torch.long), coords, torch.tensor(a.cell.array), torch.tensor([True] * 3))[0]
    assert np.allclose(ref.detach().numpy(), feats.aev, atol=1e-5)  # float32 storage of O(1) AEV terms
    ens = Ensemble([96, 96, 96, 64, 1], 2, 0.1, [1, 2], torch, "cpu")
    model_nets = ens.state()
    batch = Batch([Sample(feats, 0.0, np.zeros((len(a), 3)))], torch, "cpu", 0.0)
    energies, forces = predict(ens, batch, create_graph=False)
    # the same networks in torchani, float64, forces by autograd through torchani's AEV
    from alal.al.trainer import to_model

    model = to_model(ens, AEV, "Al", 0.0, 0.1, "t")
    ani = to_torchani(model, dtype=torch.float64)
    c = torch.tensor(a.positions, dtype=torch.float64).unsqueeze(0).requires_grad_(True)
    out = ani((torch.full((1, len(a)), 13), c), cell=torch.tensor(a.cell.array), pbc=torch.tensor([True] * 3),
              ensemble_values=True)
    for m in range(2):
        (g,) = torch.autograd.grad(out.energies[m].sum(), c, retain_graph=True)
        # float32 training path vs float64 torchani: float32 rounding through 3 layers of width 96 is ~1e-5 eV
        # per atom; 2e-4 eV/Å and 2e-4 eV/atom leave 10x room, while a wrong Jacobian term is off by > 1e-2
        assert np.allclose(-g[0].numpy(), forces[m].detach().numpy(), atol=2e-4)
        assert np.isclose(out.energies[m].item(), energies[m, 0].item(), atol=2e-4 * len(a))
    assert len(model_nets) == 2


def test_feature_cache_round_trip(tmp_path, computer):
    cache = FeatureCache(tmp_path, AEV)
    a = random_cell(13, SMALL)
    f1 = cache.get("abc", a)
    f2 = cache.get("abc", a)  # from disk
    assert all(np.array_equal(getattr(f1, k), getattr(f2, k)) for k in ARRAYS)


def emt_samples(computer, seeds):
    out = []
    for s in seeds:
        a = random_cell(s, SMALL)
        a.calc = EMT()
        out.append(Sample(computer(a), a.get_potential_energy(), a.get_forces()))
    return out


def test_training_on_emt_labels_reduces_test_error(tmp_path, computer):
    torch.manual_seed(0)
    data = emt_samples(computer, range(100, 126))
    tr, va, te = data[:16], data[16:20], data[20:]
    settings = TrainSettings(n_members=2, max_epochs=30, patience_epochs=30, batch_size=4)
    seeds = [1, 2]
    ens0 = Ensemble([96, 96, 96, 64, 1], 2, 0.1, seeds, torch, "cpu")
    from alal.al.trainer import fit_self_energy

    before = errors(ens0, te, fit_self_energy(tr), torch, "cpu")
    model, report = train(tr, va, settings, aev=AEV, element="Al", seeds=seeds)
    ens1 = Ensemble([96, 96, 96, 64, 1], 2, 0.1, [0] * 2, torch, "cpu", init=model)
    after = errors(ens1, te, model.self_energies["Al"], torch, "cpu")
    # 30 epochs on 16 labels must at least halve the error of the random initial networks (a broken loss or
    # gradient leaves it near the start); forces: any improvement.
    assert after["energy_rmse_meV_per_atom"] < 0.5 * before["energy_rmse_meV_per_atom"]
    assert after["force_rmse_eV_A"] < before["force_rmse_eV_A"]
    assert report.epochs >= 1 and len(report.member_epochs) == 2
    # the checkpoint is an alal model directory that the registry loads, with the same predictions
    path = save_model_dir(model, tmp_path / "gen-000")
    from alal.potentials import load

    calc = load(str(path), dtype="float64")
    from alal.al.trainer import model_errors

    atoms = [random_cell(s, SMALL) for s in range(120, 126)]
    for a in atoms:
        a.calc = EMT()
    viaload = model_errors(path, atoms, [a.get_potential_energy() for a in atoms], [a.get_forces() for a in atoms])
    # the loaded model evaluates in float64 through the engine, the trainer in float32: rtol 1e-3 of the error
    # itself (0.05 meV/atom absolute) is float32 rounding, far below the errors compared (tens of meV/atom)
    assert np.isclose(viaload["energy_rmse_meV_per_atom"], after["energy_rmse_meV_per_atom"], rtol=1e-3, atol=0.05)
    assert np.isclose(viaload["force_rmse_eV_A"], after["force_rmse_eV_A"], rtol=1e-3, atol=1e-4)
    assert load_model_dir(path).energy_unit_eV == 1.0 and calc.model.n_members == 2


def test_members_start_from_their_own_seeds():
    ens = Ensemble([96, 96, 96, 64, 1], 3, 0.1, [5, 6, 5], torch, "cpu")
    s = ens.state()
    assert not np.allclose(s[0][0][0], s[1][0][0])
    assert np.allclose(s[0][0][0], s[2][0][0])  # same seed, same start
