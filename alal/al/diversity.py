"""Near-duplicate removal before labelling: farthest-point selection on ANI descriptors.

A structure is described by its atoms' AEVs (the model's own input features). The distance between two
structures is the symmetric mean nearest-environment distance

    d(A, B) = ½ [ mean_i min_j |a_i − b_j| + mean_j min_i |a_i − b_j| ] / mean_i |a_i|

(relative; 0 for identical structures, permutation and translation invariant). Farthest-point selection
keeps the candidate farthest from everything already kept (and from structures already waiting for the
oracle), and stops when the farthest remaining one is closer than ``min_distance``: the rest are dropped
as near-duplicates.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from alal.potentials.ani_model import AEVParameters


class Describer:
    def __init__(self, params: AEVParameters | None = None):
        import torch

        from alal.al.descriptors import build_aev_computer

        self.torch = torch
        torch.set_num_threads(1)  # the driver's own torch work is small; its cores belong to the tasks
        self.aev = build_aev_computer(params or AEVParameters.ani_al(), torch.float64)

    def __call__(self, atoms: Atoms) -> np.ndarray:
        torch = self.torch
        n = len(atoms)
        with torch.no_grad():
            out = self.aev(torch.zeros(1, n, dtype=torch.long),
                           torch.tensor(atoms.get_positions(), dtype=torch.float64).unsqueeze(0),
                           torch.tensor(atoms.cell.array, dtype=torch.float64),
                           torch.tensor(atoms.pbc, dtype=torch.bool))
        return out[0].numpy()


def distance(a: np.ndarray, b: np.ndarray) -> float:
    d = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0.0))
    scale = 0.5 * (np.linalg.norm(a, axis=1).mean() + np.linalg.norm(b, axis=1).mean())
    return float(0.5 * (d.min(1).mean() + d.min(0).mean()) / max(scale, 1e-12))


def select(candidates: list[np.ndarray], reference: list[np.ndarray], min_distance: float) -> tuple[list[int], dict[int, tuple[int, float]]]:
    """Farthest-point selection. Returns (kept indices in selection order, {dropped index: (nearest kept or
    reference index encoded as -1-k for reference k, distance)})."""
    n = len(candidates)
    if n == 0:
        return [], {}
    nearest = np.full(n, np.inf)
    nearest_who = np.full(n, -10**9, dtype=int)
    for k, r in enumerate(reference):
        for i, c in enumerate(candidates):
            d = distance(c, r)
            if d < nearest[i]:
                nearest[i], nearest_who[i] = d, -1 - k
    kept: list[int] = []
    remaining = set(range(n))
    while remaining:
        i = max(remaining, key=lambda j: (nearest[j], -j))
        if nearest[i] < min_distance:
            break
        kept.append(i)
        remaining.discard(i)
        for j in remaining:
            d = distance(candidates[j], candidates[i])
            if d < nearest[j]:
                nearest[j], nearest_who[j] = d, i
    dropped = {j: (int(nearest_who[j]), float(nearest[j])) for j in remaining}
    return kept, dropped
