"""The fast trainer path: same predictions and gradients as the reference (torchani autograd), same training."""

import dataclasses

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

from alal.al.builder import BuilderSettings, random_cell
from alal.al.contraction import contract, native_usable
from alal.al.descriptors import FeatureComputer
from alal.al.train_bench import benchmark_trainer, networks_bound_member_atoms_per_s
from alal.al.trainer import (Batch, Ensemble, PackedBatch, PackedStructure, Sample, TrainSettings, fit_self_energy,
                             loss_terms, predict, predict_packed, to_model, train)
from alal.errors import AlalError
from alal.potentials.ani_model import AEVParameters, to_torchani

AEV = AEVParameters.ani_al()
torch.set_num_threads(1)  # one thread per test process: on a shared 2-core runner more threads only spin
SMALL = BuilderSettings(side_A=(6.0, 7.5), density_g_cm3=(1.8, 4.05))
DIMS = [96, 96, 96, 64, 1]


@pytest.fixture(scope="module")
def data():
    computer = FeatureComputer(AEV)
    out = []
    for s in range(300, 340):
        a = random_cell(s, SMALL)
        a.calc = EMT()
        out.append((a, Sample(computer(a), a.get_potential_energy(), a.get_forces(), str(s))))
    return out


def packed(samples, ens, e0, native=False):
    return PackedBatch([PackedStructure(s, torch, "cpu", e0, ens.shift, ens.scale) for s in samples], torch,
                       native=native)


NATIVE = pytest.param(True, marks=pytest.mark.skipif(not native_usable("cpu", 8), reason="no C++ compiler"))


def standardised_ensemble(samples, n_members, seeds):
    x = np.concatenate([s.features.aev for s in samples]).astype(np.float64)
    return Ensemble(DIMS, n_members, 0.1, seeds, torch, "cpu", shift=x.mean(0), scale=np.maximum(x.std(0), 0.01))


@pytest.mark.parametrize("native", [False, NATIVE], ids=["torch", "native"])
def test_packed_predictions_equal_current_path_for_any_member_subset(data, native):
    samples = [s for _, s in data[:6]]
    ens = standardised_ensemble(samples, 3, [1, 2, 3])
    e_ref, f_ref = predict(ens, Batch(samples, torch, "cpu", 0.5), create_graph=False)
    batch = packed(samples, ens, 0.5, native)
    for members in ([0, 1, 2], [2], [0, 2]):
        e, f = predict_packed(ens, batch, members, create_graph=False)
        # the same float32 operations in another order: differences are rounding, ~1e-6 of the values
        assert torch.allclose(e, e_ref[members], rtol=1e-5, atol=1e-4), members
        assert torch.allclose(f.permute(2, 0, 1), f_ref[members], rtol=1e-5, atol=1e-5), members


@pytest.mark.parametrize("n_members", [1, 3, 8])
def test_native_contraction_equals_bmm_forward_and_backward(data, n_members):
    """The C++ kernels against the torch path, mixed cell sizes, any member count up to a SIMD vector."""
    if not native_usable("cpu", n_members):
        pytest.skip("no C++ compiler")
    samples = [s for _, s in data[:7]]
    ens = standardised_ensemble(samples, 1, [1])
    batch = packed(samples, ens, 0.0, native=True)
    assert len({x.shape[0] for x in batch.rad_drT}) > 1  # cells of different sizes
    gen = torch.Generator().manual_seed(n_members)
    g = torch.randn(n_members, batch.n_total_atoms, 96, generator=gen, dtype=torch.float32).requires_grad_(True)
    inv_scale = torch.rand(96, generator=gen) + 0.5
    args = (g, inv_scale, batch.rad_drT, batch.ang_JT, batch.atom_counts, 32)
    ours, ref = contract(*args, addresses=batch.native_addresses), contract(*args, addresses=None)
    weights = [torch.randn(t.shape, generator=gen) for t in ref]
    grads = []
    for out in (ours, ref):
        assert [tuple(t.shape) for t in out] == [tuple(t.shape) for t in ref]
        (grad,) = torch.autograd.grad(sum((t * w).sum() for t, w in zip(out, weights)), g)
        grads.append(grad)
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5 * b.abs().max().item())
    assert torch.allclose(grads[0], grads[1], rtol=1e-5, atol=1e-5 * grads[1].abs().max().item())
    assert grads[1].abs().max() > 0 and ref[1].abs().max() > 0


def test_native_contraction_is_used_only_where_it_applies(monkeypatch):
    assert not native_usable("cpu", 9)  # more members than one SIMD vector: the torch path
    assert not native_usable("meta", 2)  # not a CPU tensor
    monkeypatch.setenv("ALAL_TRAINER_NATIVE", "0")
    assert not native_usable("cpu", 2)


@pytest.mark.parametrize("native", [False, NATIVE], ids=["torch", "native"])
def test_fast_loss_gradients_equal_torchani_autograd(data, native):
    """Energy, forces and the parameter gradients of the Eq. 1 loss, against autograd through torchani."""
    atoms = [a for a, _ in data[:3]]
    samples = [s for _, s in data[:3]]
    settings = TrainSettings(n_members=2, force_weight_A2=0.1)  # a larger force weight: both terms matter
    ens = standardised_ensemble(samples, 2, [7, 8])
    e0 = fit_self_energy(samples)
    batch = packed(samples, ens, e0, native)
    energies, forces_last = predict_packed(ens, batch, [0, 1], create_graph=True)
    loss, e_term, f_term = loss_terms(energies, forces_last, batch, settings, members_last=True)
    forces = forces_last.permute(2, 0, 1)
    (loss.sum() / len(samples)).backward()

    ani = to_torchani(to_model(ens, AEV, "Al", e0, 0.1, "t"), dtype=torch.float64)
    ref_loss = 0.0
    for a, s, k in zip(atoms, samples, range(3)):
        c = torch.tensor(a.positions, dtype=torch.float64).unsqueeze(0).requires_grad_(True)
        out = ani((torch.full((1, len(a)), 13), c), cell=torch.tensor(a.cell.array), pbc=torch.tensor([True] * 3),
                  ensemble_values=True)
        for m in range(2):
            (g,) = torch.autograd.grad(out.energies[m].sum(), c, create_graph=True)
            e_err = out.energies[m, 0] - s.energy_eV
            f_err = ((-g[0] - torch.as_tensor(s.forces_eV_A)) ** 2).sum()
            ref_loss = ref_loss + e_err**2 + settings.force_weight_A2 * f_err / len(a)
            # float32 training path vs float64 torchani (see test_al_trainer): 2e-4 eV/Å, 2e-4 eV/atom
            assert np.allclose(-g[0].detach().numpy(), forces[m, batch.structure_of_atom == k].detach().numpy(),
                               atol=2e-4)
            assert abs(out.energies[m, 0].item() - e0 * len(a) - energies[m, k].item()) < 2e-4 * len(a)
    (ref_loss / len(samples)).backward()
    assert np.isclose(ref_loss.item(), loss.sum().item(), rtol=1e-4)
    assert e_term.sum() > 0.01 * loss.sum() and f_term.sum() > 0.01 * loss.sum()  # both terms are tested

    sh, sc = ens.shift.double(), ens.scale.double()
    for m in range(2):
        ref = [p.grad for p in ani.neural_networks.members[m].parameters()]
        ours = [p.grad.double() for p in ens.parameters(m)]
        assert [tuple(r.shape) for r in ref] == [tuple(o.shape) for o in ours]
        # torchani holds the first layer with the standardisation folded in: W' = W/scale, b' = b − W'·shift
        ref[0] = ref[0] / sc - torch.outer(ref[1], sh / sc)
        for r, o in zip(ref, ours):
            # float32 against float64: float32 rounding (~1e-7 relative) accumulated over a few thousand
            # terms stays under 1e-4; a wrong or missing term of the gradient is O(1)
            assert (o - r).norm() <= 1e-4 * r.norm(), (m, tuple(r.shape))


def emt_split(data, n_train, n_val):
    samples = [s for _, s in data]
    return samples[:n_train], samples[n_train: n_train + n_val]


def test_fast_and_current_paths_converge_to_the_same_validation_loss(data):
    tr, va = emt_split(data, 30, 10)
    settings = TrainSettings(n_members=4, max_epochs=300, patience_epochs=25, lr_patience_epochs=8, batch_size=4)
    losses = {}
    for impl in ("current", "fast"):
        s = dataclasses.replace(settings, implementation=impl)
        _, report = train(tr, va, s, aev=AEV, element="Al", seeds=[1, 2, 3, 4], data_seed=3)
        assert report.epochs < settings.max_epochs  # converged: early stopping ended it
        losses[impl] = float(np.mean(report.best_val_loss))
        if impl == "fast":
            stopped = [h for h in report.history if h["active"] < settings.n_members]
            assert stopped, "a member stopped before the last one"
            # a stopped member is left out: no training loss, and its validation loss is its last one
            m = next(i for i, t in enumerate(report.history[-1]["train_loss"]) if t is None)
            vals = [h["val_loss"][m] for h in report.history if h["train_loss"][m] is None]
            assert len(set(vals)) == 1
    assert abs(losses["fast"] - losses["current"]) <= 0.05 * losses["current"], losses


def test_batches_past_the_cache_budget_are_repacked_with_the_same_result(data):
    tr, va = emt_split(data, 12, 4)
    settings = TrainSettings(n_members=2, max_epochs=4, batch_size=4)
    reports = []
    for budget in (settings.max_cached_bytes, 1):  # 1 byte: the first structure is kept, the others re-packed
        s = dataclasses.replace(settings, max_cached_bytes=budget)
        reports.append(train(tr, va, s, aev=AEV, element="Al", seeds=[1, 2], data_seed=0)[1])
    assert [h["val_loss"] for h in reports[0].history] == [h["val_loss"] for h in reports[1].history]


def test_unknown_implementation_is_refused(data):
    tr, va = emt_split(data, 4, 2)
    with pytest.raises(AlalError, match="implementation"):
        train(tr, va, TrainSettings(n_members=1, implementation="gpu"), aev=AEV, element="Al", seeds=[1])


def test_benchmark_reports_both_paths_and_the_bound(data):
    samples = [s for _, s in data[:20]]
    settings = TrainSettings(n_members=2, batch_size=4)
    r = benchmark_trainer(samples, settings, epochs=2)
    bound = networks_bound_member_atoms_per_s(samples, settings, repeats=1)
    for impl in ("current", "fast"):
        assert r[impl]["epochs"] == 2 and r[impl]["seconds_per_epoch"] > 0
        assert r[impl]["member_atoms_per_s"] > 0 and np.isfinite(r[impl]["final_val_loss"])
        assert r[impl]["networks_bound_member_atoms_per_s"] == r["networks_bound_member_atoms_per_s"]
    assert bound > 0 and r["n_train"] + r["n_val"] == len(samples)
