"""Train an ensemble of ANI networks on energies and forces (paper Eq. 1), float32, Adam, early stopping.

Each member is a torchani ``AtomicNetwork`` (input 96 → hidden 96-96-64 → 1, CELU α = 0.1) initialised from
its own seed. All members train side by side on the same batches (their losses are independent: one
backward pass serves all); each has its own learning rate, plateau decay and early stopping on the
validation split, and keeps its best-validation weights.

Loss per structure (units: E in eV, f in eV/Å, ℓ0 in Å², M atoms):
  L = (Ê − E)² + (ℓ0/M) Σ_j |f̂_j − f_j|²          energy_loss = "total"    (paper Eq. 1, ℓ0 = 0.01 Å²)
  L = ((Ê − E)/M)² + (ℓ0/M) Σ_j |f̂_j − f_j|²       energy_loss = "per_atom"
averaged over the structures of a batch. Self energies come from a linear fit E ≈ Σ_s n_s e_s on the
training split; the networks learn the remainder. The result is an :class:`ANIModel` in eV
(``energy_unit_eV`` = 1) for :func:`alal.potentials.ani_model.save_model_dir`.

Two implementations of an epoch (``TrainSettings.implementation``), same minibatches, same loss, same
early stopping: "fast" (default) converts every structure to torch tensors once, assembles batches by
concatenation, contracts with the member axis innermost (the C++ kernels of :mod:`alal.al.contraction` on
the CPU), steps a fused Adam and leaves stopped members out of the computation;
"current" assembles batches from numpy every epoch and computes all members (kept as the reference).
Memory of the fast path: about 40 kB per atom of packed AEV + Jacobian (cells of 32-128 atoms at
2.2-3.2 g/cm³), kept up to ``max_cached_bytes``; structures past it are packed again at each use.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from alal.al.descriptors import Features
from alal.errors import AlalError
from alal.potentials.ani_model import AEVParameters, ANIModel


STD_FLOOR = 0.01  # features that hardly vary in the training set are not blown up by the standardisation


@dataclass
class Sample:
    """One training structure: its features, energy (eV), forces (eV/Å) and identity."""

    features: Features
    energy_eV: float
    forces_eV_A: np.ndarray
    hash: str = ""

    @property
    def n_atoms(self) -> int:
        return self.features.n_atoms

    def layout(self, cache: bool = True) -> "Layout":
        """The padded Jacobian; with ``cache`` it is kept here and replaces the features' Jacobian arrays."""
        if getattr(self, "_layout", None) is not None:
            return self._layout
        if not cache:
            return Layout(self.features)
        self._layout = Layout(self.features)
        self.features.rad_dr = self.features.ang_J = None  # now held (padded) by the layout only
        return self._layout


@dataclass
class TrainSettings:
    n_members: int = 8
    hidden_layers: tuple[int, ...] = (96, 96, 64)
    celu_alpha: float = 0.1
    energy_loss: str = "total"
    force_weight_A2: float = 0.01
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    lr_decay_factor: float = 0.5
    lr_patience_epochs: int = 10
    patience_epochs: int = 30
    max_epochs: int = 400
    batch_size: int = 16
    device: str = "cpu"
    # "fast": structures packed into torch tensors once, stopped members left out of the computation;
    # "current": batches assembled from numpy every epoch, all members computed (the reference)
    implementation: str = "fast"
    # packed training structures are kept up to about this many bytes; the rest are re-packed at each use
    max_cached_bytes: int = 4 << 30

    @classmethod
    def from_config(cls, cfg) -> "TrainSettings":
        t, m = cfg.section("trainer"), cfg.section("model")
        return cls(
            n_members=m["n_members"], hidden_layers=tuple(m["hidden_layers"]), celu_alpha=m["celu_alpha"],
            energy_loss=t["energy_loss"], force_weight_A2=t["force_weight_A2"], learning_rate=t["learning_rate"],
            min_learning_rate=t["min_learning_rate"], lr_decay_factor=t["lr_decay_factor"],
            lr_patience_epochs=t["lr_patience_epochs"], patience_epochs=t["patience_epochs"],
            max_epochs=t["max_epochs"], batch_size=t["batch_size"], device=t["device"],
            implementation=t["implementation"],
        )


@dataclass
class TrainReport:
    epochs: int
    wall_s: float
    n_train: int
    n_val: int
    self_energy_eV: float
    best_val_loss: list[float]
    member_epochs: list[int]
    val_errors: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


# ----------------------------------------------------------------------------------------- batching


class Layout:
    """One structure's Jacobian laid out per centre atom and padded (computed once, reused every epoch)."""

    def __init__(self, f: Features):
        A, P = f.n_atoms, len(f.rad_i)
        R = f.rad_dr.shape[1]
        centres = np.concatenate([f.rad_i, f.rad_j]).astype(np.int64)
        pairs = np.concatenate([np.arange(P), np.arange(P)])
        slot, K = _slots(centres, A)
        self.rad_pair = np.full((A, K), -1, dtype=np.int64)
        self.rad_pair[centres, slot] = pairs
        self.rad_dr = np.zeros((A, R, K), dtype=np.float32)
        self.rad_dr[centres, :, slot] = f.rad_dr[pairs]
        ac = f.ang_center.astype(np.int64)
        aslot, S = _slots(ac, A)
        F_ang = f.ang_J.shape[1]
        self.ang_pair = np.full((A, S), -1, dtype=np.int64)
        self.ang_pair[ac, aslot] = f.ang_pair
        self.ang_J = np.zeros((A, F_ang, S, 3), dtype=np.float32)
        self.ang_J[ac, :, aslot, :] = f.ang_J
        self.K, self.S, self.P = K, S, P


class Batch:
    """Several structures' features concatenated (atom and pair indices offset), as torch tensors.

    The Jacobian is laid out per centre atom and padded (``(A, K, ·)``), so the force contraction is two
    batched matrix products over atoms instead of many small gathers.
    """

    def __init__(self, samples: list[Sample], torch, device, self_energy: float):
        f = [s.features for s in samples]
        lay = [s.layout() for s in samples]
        n_atoms = np.array([x.n_atoms for x in f])
        atom_off = np.concatenate([[0], np.cumsum(n_atoms)[:-1]])
        n_pairs = np.array([x.P for x in lay])
        pair_off = np.concatenate([[0], np.cumsum(n_pairs)[:-1]])
        cat = np.concatenate
        A, P = int(n_atoms.sum()), int(n_pairs.sum())
        R = lay[0].rad_dr.shape[1]
        F_ang = lay[0].ang_J.shape[1]
        K = max(x.K for x in lay)
        S = max(x.S for x in lay)
        rad_pair = np.full((A, K), P, dtype=np.int64)  # P = a dummy pair (dropped)
        rad_dr = np.zeros((A, R, K), dtype=np.float32)
        ang_pair = np.full((A, S), P, dtype=np.int64)
        ang_J = np.zeros((A, F_ang, S, 3), dtype=np.float32)
        for x, a0, p0, n in zip(lay, atom_off, pair_off, n_atoms):
            sl = slice(a0, a0 + n)
            rad_pair[sl, : x.K] = np.where(x.rad_pair >= 0, x.rad_pair + p0, P)
            rad_dr[sl, :, : x.K] = x.rad_dr
            ang_pair[sl, : x.S] = np.where(x.ang_pair >= 0, x.ang_pair + p0, P)
            ang_J[sl, :, : x.S, :] = x.ang_J
        t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
        self.n_structures = len(samples)
        self.n_total_atoms, self.n_total_pairs, self.n_radial = A, P, R
        self.n_atoms = t(n_atoms)
        self.aev = t(cat([x.aev for x in f]))
        self.structure_of_atom = t(np.repeat(np.arange(len(f)), n_atoms), torch.long)
        self.rad_i = t(cat([x.rad_i + o for x, o in zip(f, atom_off)]), torch.long)
        self.rad_j = t(cat([x.rad_j + o for x, o in zip(f, atom_off)]), torch.long)
        self.rad_unit = t(cat([x.rad_unit for x in f]))
        self.rad_pair = t(rad_pair.reshape(-1), torch.long)
        self.rad_dr = t(rad_dr)  # (A, R, K)
        self.ang_pair = t(ang_pair.reshape(-1), torch.long)
        self.ang_J = t(ang_J.reshape(A, F_ang, S * 3))  # (A, F_ang, S*3)
        self.K, self.S = K, S
        self.energy = t(np.array([s.energy_eV - self_energy * s.n_atoms for s in samples]), torch.float64)
        self.forces = t(cat([s.forces_eV_A for s in samples]))


def _slots(centres: np.ndarray, n_atoms: int) -> tuple[np.ndarray, int]:
    """Position of each entry within its centre's group, and the largest group size."""
    order = np.argsort(centres, kind="stable")
    counts = np.bincount(centres, minlength=n_atoms)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty_like(centres)
    slot[order] = np.arange(len(centres)) - starts[centres[order]]
    return slot, max(int(counts.max(initial=0)), 1)


def batches(samples: list[Sample], batch_size: int, rng: np.random.Generator | None, torch, device, e0: float):
    order = np.arange(len(samples)) if rng is None else rng.permutation(len(samples))
    for k in range(0, len(order), batch_size):
        yield Batch([samples[i] for i in order[k: k + batch_size]], torch, device, e0)


class PackedStructure:
    """One structure as torch tensors for the fast path, built once and reused every epoch.

    The Jacobian is laid out per centre atom as in :class:`Layout`, transposed so that the member axis
    comes last in the contraction of :func:`predict_packed`: ``rad_drT`` (A, K, R), ``ang_JT`` (A, S·3,
    F_ang); pair indices are local, −1 for padding. AEVs are stored standardised with the ensemble's
    shift and scale (fixed during training).
    """

    def __init__(self, sample: Sample, torch, device, self_energy: float, shift, scale):
        lay = sample.layout(cache=False)
        f = sample.features
        t = lambda a, dt=torch.float32: torch.as_tensor(a, dtype=dt, device=device)  # noqa: E731
        A = f.n_atoms
        self.n_atoms, self.n_pairs, self.K, self.S = A, lay.P, lay.K, lay.S
        self.aev_standardised = (t(f.aev) - shift) / scale
        self.energy = sample.energy_eV - self_energy * A
        self.forces = t(sample.forces_eV_A)
        self.rad_i, self.rad_j = t(f.rad_i, torch.long), t(f.rad_j, torch.long)
        self.rad_unit = t(f.rad_unit)
        self.rad_pair = t(lay.rad_pair, torch.long)  # (A, K)
        self.rad_drT = t(lay.rad_dr).transpose(1, 2).contiguous()  # (A, K, R)
        self.ang_pair = t(lay.ang_pair, torch.long)  # (A, S)
        self.ang_JT = t(lay.ang_J.reshape(A, lay.ang_J.shape[1], -1)).transpose(1, 2).contiguous()  # (A, S*3, F_ang)

    def nbytes(self) -> int:
        return sum(v.element_size() * v.numel() for v in vars(self).values() if hasattr(v, "element_size"))


class PackedBatch:
    """Packed structures as one batch (atom and pair indices offset); the same contents as :class:`Batch`.

    The Jacobians are not copied: :func:`predict_packed` contracts each structure's own (unpadded beyond
    its largest slot count) block and concatenates the products, which are small.
    """

    def __init__(self, structures: list[PackedStructure], torch, *, native: bool = False):
        x0 = structures[0]
        n_atoms = [x.n_atoms for x in structures]
        A, P = sum(n_atoms), sum(x.n_pairs for x in structures)
        self.n_structures, self.n_total_atoms, self.n_total_pairs = len(structures), A, P
        self.n_radial = x0.rad_drT.shape[2]
        cat = torch.cat
        dev = x0.forces.device
        self.n_atoms = torch.tensor(n_atoms, dtype=torch.float32, device=dev)
        self.structure_of_atom = torch.repeat_interleave(torch.arange(len(structures), device=dev),
                                                         self.n_atoms.long())
        self.aev_standardised = cat([x.aev_standardised for x in structures])
        self.energy = torch.tensor([x.energy for x in structures], dtype=torch.float64, device=dev)
        self.forces = cat([x.forces for x in structures])
        atom_off = np.cumsum([0] + n_atoms)
        pair_off = np.cumsum([0] + [x.n_pairs for x in structures])
        self.atom_counts = n_atoms
        self.rad_i = cat([x.rad_i + int(o) for x, o in zip(structures, atom_off)])
        self.rad_j = cat([x.rad_j + int(o) for x, o in zip(structures, atom_off)])
        self.rad_unit = cat([x.rad_unit for x in structures] + [x0.rad_unit.new_zeros(1, 3)])  # (P+1, 3)
        # padded slots point at the dummy pair P (row P of the scatter targets, dropped)
        self.rad_pair = cat([torch.where(x.rad_pair >= 0, x.rad_pair + int(o), P).reshape(-1)
                             for x, o in zip(structures, pair_off)])
        self.ang_pair = cat([torch.where(x.ang_pair >= 0, x.ang_pair + int(o), P).reshape(-1)
                             for x, o in zip(structures, pair_off)])
        self.rad_drT = [x.rad_drT for x in structures]
        self.ang_JT = [x.ang_JT for x in structures]
        # the native contraction's per-atom addresses into those blocks (None: the torch path)
        from alal.al.contraction import Addresses

        self.native_addresses = (Addresses(self.rad_drT), Addresses(self.ang_JT)) if native else None


# -------------------------------------------------------------------------------------------- model


class Ensemble:
    """M independent networks evaluated together (weights stacked per layer at each call)."""

    def __init__(self, layer_dims: list[int], n_members: int, celu_alpha: float, seeds: list[int], torch, device,
                 init: ANIModel | None = None, species: str = "Al", shift=None, scale=None):
        from torchani.nn import AtomicNetwork

        self.torch = torch
        self.alpha = celu_alpha
        # input standardisation x̂ = (x − shift)/scale, folded into the first layer when the model is written
        n_in = layer_dims[0]
        self.shift = torch.as_tensor(np.zeros(n_in) if shift is None else shift, dtype=torch.float32, device=device)
        self.scale = torch.as_tensor(np.ones(n_in) if scale is None else scale, dtype=torch.float32, device=device)
        self.members = []  # list of lists of (W, b) Parameters
        for m in range(n_members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seeds[m]))
                net = AtomicNetwork(layer_dims, activation=torch.nn.CELU(alpha=celu_alpha), bias=True)
            linears = list(net.layers) + [net.final_layer]
            layers = []
            for k, lin in enumerate(linears):
                w, b = lin.weight.detach().clone(), lin.bias.detach().clone()
                if init is not None and m < init.n_members:
                    w0, b0 = init.members[m][species][k]
                    if tuple(w0.shape) == tuple(w.shape):
                        w0, b0 = np.asarray(w0, dtype=np.float64), np.asarray(b0, dtype=np.float64)
                        if k == 0:  # unfold the stored first layer for this standardisation (exact)
                            sh, sc = self.shift.double().cpu().numpy(), self.scale.double().cpu().numpy()
                            b0 = b0 + w0 @ sh
                            w0 = w0 * sc[None, :]
                        w, b = torch.as_tensor(w0, dtype=torch.float32), torch.as_tensor(b0, dtype=torch.float32)
                layers.append((torch.nn.Parameter(w.float().to(device)), torch.nn.Parameter(b.float().to(device))))
            self.members.append(layers)

    def parameters(self, m: int):
        return [p for wb in self.members[m] for p in wb]

    def atomic_energies(self, x, members: list[int] | None = None, standardised: bool = False):
        """x: (M, A, F) → (M, A), for all members or for the listed ones (then M = len(members)).

        ``standardised``: x is already (AEV − shift)/scale.
        """
        torch = self.torch
        mems = self.members if members is None else [self.members[m] for m in members]
        n_layers = len(mems[0])
        h = x if standardised else (x - self.shift) / self.scale
        for k in range(n_layers):
            W = torch.stack([mem[k][0] for mem in mems])  # (M, out, in)
            b = torch.stack([mem[k][1] for mem in mems])  # (M, out)
            h = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))
            if k < n_layers - 1:
                h = torch.nn.functional.celu(h, alpha=self.alpha)
        return h.squeeze(-1)

    def state(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        """Weights as stored in a model (standardisation folded into the first layer)."""
        sh, sc = self.shift.double().cpu().numpy(), self.scale.double().cpu().numpy()
        out = []
        for mem in self.members:
            layers = [(w.detach().cpu().double().numpy().copy(), b.detach().cpu().double().numpy().copy()) for w, b in mem]
            w0, b0 = layers[0]
            w0 = w0 / sc[None, :]
            layers[0] = (w0, b0 - w0 @ sh)
            out.append(layers)
        return out

    def raw_state(self) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        return [[(w.detach().clone(), b.detach().clone()) for w, b in mem] for mem in self.members]

    def load_member(self, m: int, layers) -> None:
        """Restore member ``m`` from :meth:`raw_state` (standardised-input weights)."""
        torch = self.torch
        with torch.no_grad():
            for (w, b), (w0, b0) in zip(self.members[m], layers):
                w.copy_(w0)
                b.copy_(b0)


def predict(ens: Ensemble, batch: Batch, *, create_graph: bool):
    """Energies (M, S) in eV (without self energy) and forces (M, A, 3) in eV/Å for a batch."""
    torch = ens.torch
    M = len(ens.members)
    A, P, R = batch.n_total_atoms, batch.n_total_pairs, batch.n_radial
    x = batch.aev.unsqueeze(0).expand(M, -1, -1).clone().requires_grad_(True)
    e_atom = ens.atomic_energies(x)  # (M, A)
    energies = torch.zeros(M, batch.n_structures, dtype=e_atom.dtype, device=e_atom.device)
    energies = energies.index_add(1, batch.structure_of_atom, e_atom)
    (g,) = torch.autograd.grad(e_atom.sum(), x, create_graph=create_graph)  # (M, A, F): dE/dAEV
    g = g.transpose(0, 1)  # (A, M, F)
    # radial: s_p = sum over both atoms of p of g[:R] . dterm_p/dr
    t_rad = torch.bmm(g[:, :, :R], batch.rad_dr)  # (A, M, K)
    s = torch.zeros(M, P + 1, dtype=g.dtype, device=g.device)
    s = s.index_add(1, batch.rad_pair, t_rad.permute(1, 0, 2).reshape(M, -1))[:, :P]
    dD = s.unsqueeze(-1) * batch.rad_unit  # (M, P, 3)
    # angular: per centre atom, g[R:] times the Jacobian of each of its slots
    t_ang = torch.bmm(g[:, :, R:], batch.ang_J).reshape(A, M, batch.S, 3)  # (A, M, S, 3)
    extra = torch.zeros(M, P + 1, 3, dtype=g.dtype, device=g.device)
    extra = extra.index_add(1, batch.ang_pair, t_ang.permute(1, 0, 2, 3).reshape(M, -1, 3))[:, :P]
    dD = dD + extra
    dEdr = torch.zeros(M, A, 3, dtype=dD.dtype, device=dD.device)
    dEdr = dEdr.index_add(1, batch.rad_i, dD).index_add(1, batch.rad_j, -dD)
    return energies, -dEdr


def predict_packed(ens: Ensemble, batch: PackedBatch, members: list[int], *, create_graph: bool):
    """:func:`predict` for the listed members only, on a :class:`PackedBatch`: energies (M, S) and forces
    (A, 3, M), members last (the layout of the whole contraction; its backward then stays contiguous)."""
    from alal.al.contraction import contract

    torch = ens.torch
    M = len(members)
    A, P, R = batch.n_total_atoms, batch.n_total_pairs, batch.n_radial
    x = batch.aev_standardised.unsqueeze(0).expand(M, -1, -1).clone().requires_grad_(True)
    e_atom = ens.atomic_energies(x, members, standardised=True)  # (M, A)
    energies = e_atom.new_zeros(M, batch.n_structures).index_add(1, batch.structure_of_atom, e_atom)
    (g,) = torch.autograd.grad(e_atom.sum(), x, create_graph=create_graph)  # (M, A, F): dE/dAEV standardised
    t_rad, t_ang = contract(g, 1.0 / ens.scale, batch.rad_drT, batch.ang_JT, batch.atom_counts, R,
                            addresses=batch.native_addresses)
    # radial: s_p = sum over both atoms of p of g[:R] . dterm_p/dr, then along the pair's unit vector
    s = g.new_zeros(P + 1, M).index_add(0, batch.rad_pair, t_rad)
    # angular: per centre atom, g[R:] times the Jacobian of each of its slots, added to the slot's pair
    dD = g.new_zeros(P + 1, 3, M).index_add(0, batch.ang_pair, t_ang.reshape(-1, 3, M))
    dD = (dD + s.unsqueeze(1) * batch.rad_unit.unsqueeze(-1))[:P]  # (P, 3, M): dE/dD_p
    dEdr = g.new_zeros(A, 3, M).index_add(0, batch.rad_i, dD).index_add(0, batch.rad_j, -dD)
    return energies, -dEdr


def loss_terms(energies, forces, batch: Batch, settings: TrainSettings, *, members_last: bool = False):
    """Per-member loss (M,) averaged over the batch's structures (paper Eq. 1).

    ``forces`` (M, A, 3), or (A, 3, M) with ``members_last`` (:func:`predict_packed`'s layout).
    """
    dE = energies.double() - batch.energy.unsqueeze(0)  # (M, S)
    if settings.energy_loss == "per_atom":
        dE = dE / batch.n_atoms.double().unsqueeze(0)
    e_term = dE**2
    if members_last:
        f_err = ((forces - batch.forces.unsqueeze(-1)) ** 2).sum(1).T  # (M, A)
    else:
        f_err = ((forces - batch.forces.unsqueeze(0)) ** 2).sum(-1)  # (M, A)
    f_sum = f_err.new_zeros(energies.shape).index_add(1, batch.structure_of_atom, f_err)
    f_term = settings.force_weight_A2 * f_sum.double() / batch.n_atoms.double().unsqueeze(0)
    return (e_term + f_term).sum(1), e_term.sum(1), f_term.sum(1)


def fit_self_energy(samples: list[Sample]) -> float:
    """Least-squares e in E ≈ N·e (one element)."""
    n = np.array([s.n_atoms for s in samples], dtype=float)
    e = np.array([s.energy_eV for s in samples], dtype=float)
    return float(np.dot(n, e) / np.dot(n, n))


def train(train_set: list[Sample], val_set: list[Sample], settings: TrainSettings, *, aev: AEVParameters,
          element: str, seeds: list[int], init: ANIModel | None = None, name: str = "alal-model",
          progress=None, data_seed: int = 0) -> tuple[ANIModel, TrainReport]:
    """Train an ensemble; returns the model (best validation weights per member) and a report."""
    import torch

    if len(train_set) < 1 or len(val_set) < 1:
        raise AlalError(f"training needs labels in both splits (train {len(train_set)}, val {len(val_set)})")
    if len(seeds) != settings.n_members:
        raise AlalError("one seed per ensemble member is needed")
    if settings.implementation not in ("fast", "current"):
        raise AlalError(f"trainer implementation must be 'fast' or 'current', not {settings.implementation!r}")
    device = torch.device(settings.device)
    t_start = time.time()
    e0 = fit_self_energy(train_set)
    n_features = train_set[0].features.aev.shape[1]
    dims = [n_features, *settings.hidden_layers, 1]
    x = np.concatenate([s.features.aev for s in train_set]).astype(np.float64)
    shift = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), STD_FLOOR)
    ens = Ensemble(dims, settings.n_members, settings.celu_alpha, seeds, torch, device, init=init, species=element,
                   shift=shift, scale=scale)
    M = settings.n_members
    fast = settings.implementation == "fast"
    groups = [{"params": ens.parameters(m), "lr": settings.learning_rate} for m in range(M)]
    # the fast path steps all members' parameters in one fused kernel (the same Adam update, measured
    # ~0.1-0.3 s less per epoch on 500 cells); the reference path keeps torch's default loop
    opt = torch.optim.Adam(groups, fused=True) if fast else torch.optim.Adam(groups)
    rng = np.random.default_rng(data_seed)
    if fast:
        epochs = _FastEpochs(ens, opt, train_set, val_set, settings, rng, torch, device, e0)
    else:
        val_batches = list(batches(val_set, max(settings.batch_size, 32), None, torch, device, e0))
    best = [math.inf] * M
    best_state = ens.raw_state()
    best_epoch = [0] * M
    since_best = [0] * M
    since_decay = [0] * M
    active = [True] * M
    history = []
    epoch = 0
    for epoch in range(1, settings.max_epochs + 1):
        t_epoch = time.time()
        if fast:
            train_loss, val_loss = epochs.run([m for m in range(M) if active[m]])
        else:
            train_loss = torch.zeros(M, dtype=torch.float64)
            for batch in batches(train_set, settings.batch_size, rng, torch, device, e0):
                energies, forces = predict(ens, batch, create_graph=True)
                loss, _, _ = loss_terms(energies, forces, batch, settings)
                opt.zero_grad(set_to_none=True)
                (loss.sum() / batch.n_structures).backward()
                opt.step()
                train_loss += loss.detach().cpu()
            train_loss = (train_loss / len(train_set)).tolist()
            val_loss = evaluate_loss(ens, val_batches, settings, len(val_set))
        for m in range(M):
            if not active[m]:
                continue
            if val_loss[m] < best[m] * (1 - 1e-4):
                best[m] = float(val_loss[m])
                best_state[m] = [(w.detach().clone(), b.detach().clone()) for w, b in ens.members[m]]
                best_epoch[m] = epoch
                since_best[m] = since_decay[m] = 0
            else:
                since_best[m] += 1
                since_decay[m] += 1
                group = opt.param_groups[m]
                if since_decay[m] >= settings.lr_patience_epochs:
                    group["lr"] = max(group["lr"] * settings.lr_decay_factor, settings.min_learning_rate)
                    since_decay[m] = 0
                if since_best[m] >= settings.patience_epochs:
                    active[m] = False
                    group["lr"] = 0.0  # a stopped member no longer moves (Adam with lr 0)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss.tolist(),
                        "active": sum(active), "epoch_s": time.time() - t_epoch})
        if progress is not None:
            progress(epoch, settings.max_epochs, float(np.median(val_loss)), sum(active), time.time() - t_epoch)
        if not any(active):
            break
    for m in range(M):
        ens.load_member(m, best_state[m])
    model = to_model(ens, aev, element, e0, settings.celu_alpha, name)
    report = TrainReport(
        epochs=epoch, wall_s=time.time() - t_start, n_train=len(train_set), n_val=len(val_set), self_energy_eV=e0,
        best_val_loss=best, member_epochs=best_epoch, history=history,
    )
    report.val_errors = errors(ens, val_set, e0, torch, device)
    return model, report


class _FastEpochs:
    """The fast path's epochs: structures packed once, only active members computed.

    Minibatches are drawn exactly as in the current path (a new random partition every epoch, from the
    same generator); only their assembly is cheaper: every structure is converted to torch tensors once
    (:class:`PackedStructure`, kept up to ``settings.max_cached_bytes``; structures past it are converted
    again each time they are used) and a batch is a concatenation of them.

    Members that stopped early take no part in the forward and backward passes or the optimizer step
    (no gradient: Adam skips them); their validation loss is the last one computed (their weights no
    longer change) and their training loss is reported as None.
    """

    def __init__(self, ens, opt, train_set, val_set, settings, rng, torch, device, e0):
        self.ens, self.opt, self.settings, self.rng, self.torch = ens, opt, settings, rng, torch
        self.train_set = train_set
        self.pack = lambda s: PackedStructure(s, torch, device, e0, ens.shift, ens.scale)  # noqa: E731
        from alal.al.contraction import native_usable

        self.native = native_usable(device, len(ens.members))
        self.cached: list[PackedStructure | None] = []
        used = 0
        for s in train_set:
            x = self.pack(s) if used < settings.max_cached_bytes else None
            used += x.nbytes() if x is not None else 0
            self.cached.append(x)
        vs = max(settings.batch_size, 32)
        self.val = [PackedBatch([self.pack(s) for s in val_set[k: k + vs]], torch, native=self.native)
                    for k in range(0, len(val_set), vs)]
        self.n_val = len(val_set)
        self.val_loss = np.zeros(len(ens.members))

    def run(self, members: list[int]) -> tuple[list, np.ndarray]:
        torch, ens, settings = self.torch, self.ens, self.settings
        train_loss = torch.zeros(len(members), dtype=torch.float64)
        order = self.rng.permutation(len(self.train_set))
        for k in range(0, len(order), settings.batch_size):
            batch = PackedBatch([self.cached[i] or self.pack(self.train_set[i])
                                 for i in order[k: k + settings.batch_size]], torch, native=self.native)
            energies, forces = predict_packed(ens, batch, members, create_graph=True)
            loss, _, _ = loss_terms(energies, forces, batch, settings, members_last=True)
            self.opt.zero_grad(set_to_none=True)
            (loss.sum() / batch.n_structures).backward()
            self.opt.step()
            train_loss += loss.detach().cpu()
        total = torch.zeros(len(members), dtype=torch.float64)
        for batch in self.val:
            energies, forces = predict_packed(ens, batch, members, create_graph=False)
            total += loss_terms(energies.detach(), forces.detach(), batch, settings, members_last=True)[0].cpu()
        self.val_loss[members] = (total / self.n_val).numpy()
        per_member: list = [None] * len(ens.members)
        for i, m in enumerate(members):
            per_member[m] = float(train_loss[i]) / len(self.train_set)
        return per_member, self.val_loss.copy()


def evaluate_loss(ens: Ensemble, val_batches: list[Batch], settings: TrainSettings, n: int) -> np.ndarray:
    import torch

    total = torch.zeros(len(ens.members), dtype=torch.float64)
    for batch in val_batches:
        energies, forces = predict(ens, batch, create_graph=False)
        loss, _, _ = loss_terms(energies.detach(), forces.detach(), batch, settings)
        total += loss.cpu()
    return (total / n).numpy()


def errors(ens: Ensemble, samples: list[Sample], e0: float, torch, device) -> dict:
    """Ensemble-mean energy (meV/atom) and force-component (eV/Å) MAE/RMSE on ``samples``."""
    if not samples:
        return {}
    de, df = [], []
    for batch in batches(samples, 32, None, torch, device, e0):
        energies, forces = predict(ens, batch, create_graph=False)
        e = energies.detach().mean(0).double()
        f = forces.detach().mean(0)
        de.append(((e - batch.energy) / batch.n_atoms.double()).cpu().numpy())
        df.append((f - batch.forces).cpu().numpy().ravel())
    return error_summary(np.concatenate(de), np.concatenate(df))


def error_summary(de_eV_per_atom: np.ndarray, df_eV_A: np.ndarray) -> dict:
    de = np.asarray(de_eV_per_atom) * 1000.0
    df = np.asarray(df_eV_A)
    return {
        "n_structures": int(de.size),
        "energy_mae_meV_per_atom": float(np.mean(np.abs(de))),
        "energy_rmse_meV_per_atom": float(np.sqrt(np.mean(de**2))),
        "force_mae_eV_A": float(np.mean(np.abs(df))),
        "force_rmse_eV_A": float(np.sqrt(np.mean(df**2))),
    }


def to_model(ens: Ensemble, aev: AEVParameters, element: str, e0: float, celu_alpha: float, name: str) -> ANIModel:
    members = [{element: layers} for layers in ens.state()]
    return ANIModel(
        species=[element], aev=aev, self_energies={element: e0}, members=members, activation="celu",
        celu_alpha=celu_alpha, energy_unit_eV=1.0, name=name,
        citation="alal active-learning run (after Smith et al., Nat. Commun. 12, 1257 (2021))",
    )


def model_errors(model_dir, structures, energies_eV, forces_eV_A, *, dtype: str = "float64") -> dict:
    """Errors of a saved model, evaluated the way users load it (``alal.potentials.load``)."""
    from alal.potentials import load

    calc = load(str(model_dir), dtype=dtype)
    de, df = [], []
    for atoms, e, f in zip(structures, energies_eV, forces_eV_A):
        a = atoms.copy()
        a.calc = calc
        de.append((a.get_potential_energy() - e) / len(a))
        df.append((a.get_forces() - f).ravel())
    if not de:
        return {}
    return error_summary(np.array(de), np.concatenate(df))
