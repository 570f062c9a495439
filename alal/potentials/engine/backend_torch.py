"""AEV backend in plain torch tensor ops: the CUDA path, and the CPU fallback when the kernels cannot be built.

Same neighbour list, same entry-gradient formulation as the compiled kernels (forces by a gather over
partner entries, virial from entry vectors); the AEV gradients come from autograd. Atoms are processed in
chunks holding at most ``triplet_budget`` angular triplets, so memory stays bounded for large cells; the
backward recomputes each chunk's AEV with a graph (activation checkpointing by hand).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from alal.potentials.ani_model import ANIModel
from alal.potentials.engine.aev import AEVConstants
from alal.potentials.engine.network import EnsembleNetworks


class TorchBackend:
    name = "torch"

    def __init__(self, const: AEVConstants, model: ANIModel, dtype: str, device: torch.device,
                 triplet_budget: int | None = None):
        self.const = const
        self.dtype = torch.float32 if dtype == "float32" else torch.float64
        self.device = torch.device(device)
        on_gpu = self.device.type == "cuda"
        self.triplet_budget = triplet_budget or (1 << 20 if on_gpu else 1 << 16)
        t = lambda a: torch.as_tensor(np.asarray(a), dtype=self.dtype, device=self.device)  # noqa: E731
        self.shifts_r = t(const.shifts_r).view(1, -1)
        self.shifts_a = t(const.shifts_a).view(1, -1)
        self.sections = t(const.sections).view(1, -1)
        self.triu = torch.as_tensor(const.triu_index(), dtype=torch.long, device=self.device)
        self._built = -1
        self._pair_table = None
        self.networks = EnsembleNetworks(model, self.dtype, self.device)
        self.single_species = const.n_species == 1

    # ------------------------------------------------------------------ structure and geometry

    def set_structure(self, nl, species: np.ndarray) -> None:
        """``nl``: a VerletList (one system) or a BatchList (flat list of several, ``atom_system`` set)."""
        dev = self.device
        self.n = len(species)
        self.species = torch.as_tensor(np.asarray(species, dtype=np.int64), device=dev)
        if nl.n_builds != self._built or getattr(self, "_nl", None) is not nl:
            counts = np.diff(nl.offsets)
            center = np.repeat(np.arange(self.n), counts)
            self.center = torch.as_tensor(center, dtype=torch.long, device=dev)
            if nl.atom_system is None:
                self.n_systems, self.entry_system = 1, None
            else:
                self.n_systems = len(nl.atom_offsets) - 1
                self.entry_system = torch.as_tensor(nl.atom_system[center], dtype=torch.long, device=dev)
            self.offsets = torch.as_tensor(nl.offsets, dtype=torch.long, device=dev)
            self.nbr = torch.as_tensor(nl.nbr, dtype=torch.long, device=dev)
            self.shift = torch.as_tensor(nl.shift, dtype=torch.float64, device=dev)
            self.partner = torch.as_tensor(nl.partner, dtype=torch.long, device=dev)
            self.offsets_host = np.asarray(nl.offsets)
            self._built = nl.n_builds
            self._nl = nl
        self.nbr_species = self.species[self.nbr]

    def geometry(self, positions: np.ndarray, cells: np.ndarray) -> float:
        """Entry displacements, each system's shifts applied with its own cell (``cells``: (B, 3, 3)); returns
        the smallest distance."""
        pos = torch.as_tensor(positions, dtype=torch.float64, device=self.device)
        cel = torch.as_tensor(cells, dtype=torch.float64, device=self.device)
        if self.entry_system is None:
            shift = self.shift @ cel[0]
        else:  # per-entry Cartesian shift n_e @ C_b(e)
            shift = torch.bmm(self.shift.unsqueeze(1), cel.index_select(0, self.entry_system)).squeeze(1)
        d = pos.index_select(0, self.nbr) - pos.index_select(0, self.center) + shift
        r = d.norm(dim=1)
        self.d = d.to(self.dtype)
        self.r = r.to(self.dtype)
        return float(r.min()) if r.numel() else math.inf

    def distances(self) -> np.ndarray:
        """Entry distances (E,) of the last geometry pass (to find the system of an overlap)."""
        return self.r.double().cpu().numpy()

    # ------------------------------------------------------------------ AEV

    def _chunks(self):
        """Atom ranges [a0, a1) with at most triplet_budget angular triplets each."""
        ang = (self.r < self.const.angular_cutoff).to(torch.long)
        per_atom = torch.zeros(self.n, dtype=torch.long, device=self.device).index_add_(0, self.center, ang)
        pairs = (per_atom * (per_atom - 1) // 2).cpu().numpy()
        self._max_angular = int(per_atom.max()) if self.n else 0
        bounds, acc, start = [], 0, 0
        for i, p in enumerate(pairs):
            if acc + p > self.triplet_budget and i > start:
                bounds.append((start, i))
                start, acc = i, 0
            acc += int(p)
        bounds.append((start, self.n))
        return bounds

    def _pairs_upto(self, m: int):
        """(a, b) with a < b enumerated by b then a: the pairs of the first n slots are a prefix."""
        if self._pair_table is None or self._pair_table[0].numel() < m * (m - 1) // 2:
            size = max(m, 64)
            b = torch.cat([torch.full((k,), k, dtype=torch.long) for k in range(1, size)])
            a = torch.cat([torch.arange(k, dtype=torch.long) for k in range(1, size)])
            self._pair_table = (a.to(self.device), b.to(self.device))
        return self._pair_table

    def _aev_chunk(self, a0: int, a1: int, d: torch.Tensor, e0: int) -> torch.Tensor:
        """AEVs of atoms a0..a1-1 from their entries' displacement vectors d (entries e0..)."""
        c = self.const
        n = a1 - a0
        r = d.norm(dim=1)
        center = self.center[e0:e0 + d.shape[0]] - a0
        nsp = self.nbr_species[e0:e0 + d.shape[0]]
        # radial
        rad = torch.nonzero(r < c.radial_cutoff).flatten()
        rr = r[rad].unsqueeze(1)
        fc = 0.5 * torch.cos(rr * (math.pi / c.radial_cutoff)) + 0.5
        terms = 0.25 * torch.exp(-c.eta_r * (rr - self.shifts_r) ** 2) * fc
        radial = d.new_zeros((n * c.n_species, c.n_radial))
        radial.index_add_(0, center[rad] * c.n_species + nsp[rad], terms)
        # angular: triplets (centre, slot a, slot b) over the entries inside the angular cutoff
        ang = torch.nonzero(r < c.angular_cutoff).flatten()
        ca = center[ang]
        counts = torch.bincount(ca, minlength=n)
        starts = torch.cumsum(counts, 0) - counts
        npairs = counts * (counts - 1) // 2
        total = int(npairs.sum())
        angular = d.new_zeros((n * c.n_pairs, c.n_angular))
        if total > 0:
            tri_center = torch.repeat_interleave(torch.arange(n, device=d.device), npairs)
            first = torch.cumsum(npairs, 0) - npairs
            local = torch.arange(total, device=d.device) - first[tri_center]
            ta, tb = self._pairs_upto(int(counts.max()))
            j = ang[starts[tri_center] + ta[local]]
            k = ang[starts[tri_center] + tb[local]]
            vj, vk, rj, rk = d[j], d[k], r[j], r[k]
            cos = (vj * vk).sum(1) / torch.clamp(rj * rk, min=1e-10)
            angles = torch.acos(0.95 * cos).unsqueeze(1)
            fa = 2 * ((1 + torch.cos(angles - self.sections)) / 2) ** c.zeta  # (T, S)
            ravg = ((rj + rk) / 2).unsqueeze(1)
            fr = torch.exp(-c.eta_a * (ravg - self.shifts_a) ** 2)  # (T, A)
            fcj = 0.5 * torch.cos(rj * (math.pi / c.angular_cutoff)) + 0.5
            fck = 0.5 * torch.cos(rk * (math.pi / c.angular_cutoff)) + 0.5
            terms = (fr.unsqueeze(2) * fa.unsqueeze(1)).flatten(1) * (fcj * fck).unsqueeze(1)
            block = self.triu[nsp[j], nsp[k]]
            angular.index_add_(0, tri_center * c.n_pairs + block, terms)
        return torch.cat([radial.view(n, -1), angular.view(n, -1)], dim=1)

    def forward(self) -> torch.Tensor:
        self._bounds = self._chunks()
        parts = []
        with torch.no_grad():
            for a0, a1 in self._bounds:
                e0, e1 = int(self.offsets_host[a0]), int(self.offsets_host[a1])
                parts.append(self._aev_chunk(a0, a1, self.d[e0:e1], e0))
        return torch.cat(parts, dim=0) if parts else self.d.new_zeros((0, self.const.n_features))

    def run(self, grad: str | None, unit: float) -> np.ndarray:
        """Per-atom outputs (M, N) of every member (network units); with grad "mean"/"members" also the entry
        gradients of the energy in eV (1 or M channels) kept for :meth:`gather`."""
        aev = self.forward()
        with torch.no_grad():
            outputs, grad_aev = self.networks.evaluate(aev, None if self.single_species else self.species, grad=grad)
        if grad is not None:
            self.backward(grad_aev * unit)
        return outputs.double().cpu().numpy()

    def aev(self) -> np.ndarray:
        return self.forward().double().cpu().numpy()

    def backward(self, grad_aev: torch.Tensor) -> None:
        C = grad_aev.shape[0]
        g = grad_aev.to(self.dtype)
        self.gv = self.d.new_zeros((C, self.d.shape[0], 3))
        for a0, a1 in self._bounds:
            e0, e1 = int(self.offsets_host[a0]), int(self.offsets_host[a1])
            if e1 == e0:
                continue
            with torch.enable_grad():
                d = self.d[e0:e1].detach().clone().requires_grad_(True)
                aev = self._aev_chunk(a0, a1, d, e0)
                for ch in range(C):
                    (gd,) = torch.autograd.grad(aev, d, g[ch, a0:a1], retain_graph=ch < C - 1)
                    self.gv[ch, e0:e1] = gd

    def gather(self, virial_weights: np.ndarray | None):
        C = self.gv.shape[0]
        contrib = self.gv - self.gv[:, self.partner]
        forces = self.gv.new_zeros((C, self.n, 3)).index_add_(1, self.center, contrib)
        virial = None  # (B, 3, 3): each system's sum_e d_e (x) dE/dd_e
        if virial_weights is not None:
            w = torch.as_tensor(virial_weights, dtype=self.dtype, device=self.device)
            mean_gv = (self.gv * w.view(-1, 1, 1)).sum(0).double()
            d = self.d.double()
            if self.entry_system is None:
                virial = (d.t() @ mean_gv).unsqueeze(0)
            else:  # segment sums of the entries' outer products
                outer = d.unsqueeze(2) * mean_gv.unsqueeze(1)
                virial = d.new_zeros((self.n_systems, 3, 3)).index_add_(0, self.entry_system, outer)
            virial = virial.cpu().numpy()
        return forces.double().cpu().numpy(), virial
