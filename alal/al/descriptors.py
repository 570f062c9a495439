"""ANI atomic environment vectors (torchani's own terms) and their exact Jacobians, for fast force training.

Force training needs dE/dr = Σ_i (∂E/∂AEV_i)·(∂AEV_i/∂r). The AEV does not depend on the network weights,
so its Jacobian is computed once per structure (here, with forward-mode autodiff through torchani's
radial and angular term modules) and cached; a training step then costs only the networks and a sparse
contraction, instead of recomputing the AEV and differentiating through it twice.

The Jacobian is stored per neighbour pair p = (i, j) with D_p = r_i − r_j + shift (torchani's convention):

  radial:   ∂(radial AEV of i and of j)/∂D_p = dterm_p/dr ⊗ D_p/|D_p|       (rad_dr: P×32, rad_unit: P×3)
  angular:  ∂(angular AEV of the atom at end e of p)/∂D_p                    (ang_J: Q×64×3 over slots (p, e))

and forces follow as  dE/dD_p = (g_i + g_j)[rad]·rad_dr_p · û_p + Σ_{slots of p} g_centre[ang]·ang_J,
dE/dr_i += dE/dD_p, dE/dr_j −= dE/dD_p, F = −dE/dr. One element only (a single species block).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.potentials.ani_model import AEVParameters

ARRAYS = ("aev", "rad_i", "rad_j", "rad_dr", "rad_unit", "ang_center", "ang_pair", "ang_J")


@dataclass
class Features:
    """AEVs and their Jacobian for one structure (float32 arrays; see the module docstring)."""

    aev: np.ndarray  # (N, F)
    rad_i: np.ndarray  # (P,) int32
    rad_j: np.ndarray  # (P,) int32
    rad_dr: np.ndarray  # (P, R)
    rad_unit: np.ndarray  # (P, 3)
    ang_center: np.ndarray  # (Q,) int32, the atom whose angular AEV the slot feeds
    ang_pair: np.ndarray  # (Q,) int32, the pair p of the slot
    ang_J: np.ndarray  # (Q, A, 3)

    @property
    def n_atoms(self) -> int:
        return self.aev.shape[0]

    def nbytes(self) -> int:
        return sum(getattr(self, k).nbytes for k in ARRAYS)


def aev_params_hash(params: AEVParameters) -> str:
    return hashlib.sha256(json.dumps(asdict(params), sort_keys=True).encode()).hexdigest()[:12]


def build_aev_computer(params: AEVParameters, dtype=None):
    import torch
    from torchani.aev import AEVComputer

    return AEVComputer.from_constants(
        radial_cutoff=params.radial_cutoff,
        angular_cutoff=params.angular_cutoff,
        radial_eta=params.radial_eta,
        radial_shifts=params.radial_shifts,
        angular_eta=params.angular_eta,
        angular_zeta=params.angular_zeta,
        angular_shifts=params.angular_shifts,
        sections=params.angle_sections,
        num_species=1,
        neighborlist="all_pairs",
    ).to(dtype or torch.float64)


class FeatureComputer:
    """Computes :class:`Features` with torchani's AEV terms (float64 inside, float32 out)."""

    def __init__(self, params: AEVParameters):
        import torch

        self.torch = torch
        self.params = params
        self.aev = build_aev_computer(params, torch.float64)
        self.n_radial = len(params.radial_shifts)
        self.n_angular = len(params.angular_shifts) * len(params.angle_sections)

    def __call__(self, atoms: Atoms) -> Features:
        torch = self.torch
        from torchani.neighbors import Neighbors, neighbors_to_triples

        n = len(atoms)
        species = torch.zeros(1, n, dtype=torch.long)
        coords = torch.tensor(atoms.get_positions(), dtype=torch.float64).unsqueeze(0)
        cell = torch.tensor(atoms.cell.array, dtype=torch.float64)
        pbc = torch.tensor(atoms.pbc, dtype=torch.bool)
        with torch.no_grad():
            nb = self.aev.neighborlist(self.params.radial_cutoff, species, coords, cell, pbc)
        idx, D = nb.indices, nb.diff_vectors.detach()
        dist = D.norm(dim=-1)

        radial = self.aev.radial
        rad_terms, rad_dr = torch.func.jvp(lambda d: radial(d), (dist,), (torch.ones_like(dist),))
        aev = torch.zeros(n, self.n_radial + self.n_angular, dtype=torch.float64)
        aev[:, : self.n_radial].index_add_(0, idx[0], rad_terms)
        aev[:, : self.n_radial].index_add_(0, idx[1], rad_terms)
        unit = D / dist.unsqueeze(-1)

        closer = (dist <= self.params.angular_cutoff).nonzero().flatten()
        idx_a, D_a, dist_a = idx[:, closer], D[closer], dist[closer]
        P_a = closer.numel()
        ang_J = torch.zeros(2 * P_a, self.n_angular, 3, dtype=torch.float64)
        if P_a:
            tri = neighbors_to_triples(Neighbors(idx_a, dist_a, D_a))
            T = tri.central_idxs.numel()
            if T:
                sign = tri.diff_signs.to(torch.float64)  # (2, T)
                v = D_a[tri.side_idxs] * sign.unsqueeze(-1)  # (2, T, 3), vectors as torchani uses them
                angular = self.aev.angular

                def f(vec):
                    return angular(vec.norm(dim=-1), vec)

                terms = f(v)
                aev[:, self.n_radial:].index_add_(0, tri.central_idxs, terms)
                role = (tri.diff_signs < 0).long()  # 0: the centre is indices[0] of the pair, 1: indices[1]
                for s in range(2):
                    slot = tri.side_idxs[s] * 2 + role[s]
                    for c in range(3):
                        tangent = torch.zeros_like(v)
                        tangent[s, :, c] = 1.0
                        _, d = torch.func.jvp(f, (v,), (tangent,))  # (T, A) = ∂terms/∂v[s, :, c]
                        ang_J[:, :, c].index_add_(0, slot, d * sign[s].unsqueeze(-1))
        used = ang_J.abs().flatten(1).amax(dim=1) > 0
        slots = used.nonzero().flatten()
        pair = torch.div(slots, 2, rounding_mode="floor")
        role = slots % 2
        centre = idx_a[role, pair]
        return Features(
            aev=aev.float().numpy(),
            rad_i=idx[0].int().numpy(),
            rad_j=idx[1].int().numpy(),
            rad_dr=rad_dr.float().numpy(),
            rad_unit=unit.float().numpy(),
            ang_center=centre.int().numpy(),
            ang_pair=closer[pair].int().numpy(),
            ang_J=ang_J[slots].float().numpy(),
        )


class FeatureCache:
    """Features on disk, one ``.npz`` per structure hash under ``root/<aev-params-hash>/``."""

    def __init__(self, root: Path, params: AEVParameters):
        self.dir = Path(root) / aev_params_hash(params)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.computer = FeatureComputer(params)

    def get(self, h: str, atoms: Atoms) -> Features:
        path = self.dir / f"{h}.npz"
        if path.is_file():
            try:
                with np.load(path) as z:
                    return Features(**{k: z[k] for k in ARRAYS})
            except Exception:  # noqa: BLE001 - a damaged cache file is recomputed
                pass
        feats = self.computer(atoms)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **{k: getattr(feats, k) for k in ARRAYS})
        tmp.replace(path)
        return feats
