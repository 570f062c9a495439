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
import math
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

    def __init__(self, params: AEVParameters, method: str = "closed-form"):
        import torch

        self.torch = torch
        self.params = params
        self.method = method
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

        rad_terms, rad_dr = self._radial_terms_and_derivatives(dist)
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
                terms, dterms = self._angular_terms_and_derivatives(v)  # (T, A), (2, 3, T, A)
                aev[:, self.n_radial:].index_add_(0, tri.central_idxs, terms)
                role = (tri.diff_signs < 0).long()  # 0: the centre is indices[0] of the pair, 1: indices[1]
                for s in range(2):
                    slot = tri.side_idxs[s] * 2 + role[s]
                    for c in range(3):
                        ang_J[:, :, c].index_add_(0, slot, dterms[s, c] * sign[s].unsqueeze(-1))
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


    def _radial_terms_and_derivatives(self, dist):
        """Radial terms (P, R) and their derivative with respect to the distance (closed form of torchani's
        ANIRadial, 0.25·exp(−η(r − s)²)·fc(r), cosine cutoff; ``method = "autodiff"`` uses torch.func.jvp)."""
        torch = self.torch
        if self.method == "autodiff":
            radial = self.aev.radial
            return torch.func.jvp(lambda d: radial(d), (dist,), (torch.ones_like(dist),))
        p = self.params
        Rc = p.radial_cutoff
        shifts = torch.tensor(p.radial_shifts, dtype=dist.dtype)
        r = dist.unsqueeze(-1)
        g = 0.25 * torch.exp(-p.radial_eta * (r - shifts) ** 2)
        fc = 0.5 * torch.cos(r * (math.pi / Rc)) + 0.5
        dfc = -0.5 * (math.pi / Rc) * torch.sin(r * (math.pi / Rc))
        return g * fc, g * (-2.0 * p.radial_eta * (r - shifts)) * fc + g * dfc

    def _angular_terms_and_derivatives(self, v):
        """Angular terms (T, A) and ∂terms/∂v[s, :, c] as (2, 3, T, A).

        Closed form of torchani's ANIAngular with the cosine cutoff (checked against forward-mode autodiff
        in the tests); ``method = "autodiff"`` uses torch.func.jvp instead.
        """
        torch = self.torch
        if self.method == "autodiff":
            angular = self.aev.angular

            def f(vec):
                return angular(vec.norm(dim=-1), vec)

            terms = f(v)
            out = torch.empty((2, 3) + tuple(terms.shape), dtype=terms.dtype)
            for s in range(2):
                for c in range(3):
                    tangent = torch.zeros_like(v)
                    tangent[s, :, c] = 1.0
                    out[s, c] = torch.func.jvp(f, (v,), (tangent,))[1]
            return terms, out
        p = self.params
        Rc = p.angular_cutoff
        shifts = torch.tensor(p.angular_shifts, dtype=v.dtype)
        sections = torch.tensor(p.angle_sections, dtype=v.dtype)
        eta, zeta = p.angular_eta, p.angular_zeta
        r = v.norm(dim=-1)  # (2, T)
        u = v / r.unsqueeze(-1)  # (2, T, 3)
        fc = 0.5 * torch.cos(r * (math.pi / Rc)) + 0.5
        dfc = -0.5 * (math.pi / Rc) * torch.sin(r * (math.pi / Rc))
        cos = (v[0] * v[1]).sum(-1) / torch.clamp(r[0] * r[1], min=1e-10)
        theta = torch.acos(0.95 * cos)
        dtheta = -0.95 / torch.sqrt(torch.clamp(1.0 - (0.95 * cos) ** 2, min=1e-12))
        x = theta.unsqueeze(-1) - sections  # (T, B)
        base = (1.0 + torch.cos(x)) / 2.0
        ang = 2.0 * base**zeta
        dang = -zeta * base ** (zeta - 1.0) * torch.sin(x)  # d ang / d theta
        y = ((r[0] + r[1]) / 2.0).unsqueeze(-1) - shifts  # (T, S)
        rad = torch.exp(-eta * y**2)
        drad = -eta * y * rad  # d rad / d r_1 = d rad / d r_2
        fcc = fc[0] * fc[1]
        T = v.shape[1]

        def outer(a, b):  # (T, S), (T, B) -> (T, S*B), shift-major like torchani
            return (a.unsqueeze(2) * b.unsqueeze(1)).reshape(T, -1)

        terms = outer(rad, ang) * fcc.unsqueeze(-1)
        c_theta = outer(rad, dang) * (fcc * dtheta).unsqueeze(-1)  # coefficient of d cos / d v
        out = torch.empty((2, 3, T, terms.shape[1]), dtype=v.dtype)
        for s in range(2):
            o = 1 - s
            c_r = outer(drad, ang) * fcc.unsqueeze(-1) + outer(rad, ang) * (dfc[s] * fc[o]).unsqueeze(-1)
            w = (u[o] - cos.unsqueeze(-1) * u[s]) / r[s].unsqueeze(-1)  # d cos / d v_s
            for c in range(3):
                out[s, c] = c_r * u[s, :, c].unsqueeze(-1) + c_theta * w[:, c].unsqueeze(-1)
        return terms, out


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
