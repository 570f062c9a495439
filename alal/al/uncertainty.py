"""Ensemble disagreement, the active-learning trigger.

ρ = σ_E / √N: the standard deviation over the ensemble members of the total energy (eV; population
standard deviation, ddof = 0), divided by the square root of the number of atoms, as in ANI-1x active
learning (Smith et al., J. Chem. Phys. 148, 241733 (2018)). Units: eV per √atom. For members whose
per-atom errors are independent, σ_E grows like √N, so ρ is size-intensive.

Force spread of atom j: |std_m f_j^(m)| (the norm of the per-component standard deviations over members),
eV/Å; reported as its mean and maximum over atoms.
"""

from __future__ import annotations

import numpy as np


def rho(member_energies_eV, n_atoms: int) -> float:
    e = np.asarray(member_energies_eV, dtype=float)
    if n_atoms < 1:
        raise ValueError("n_atoms must be >= 1")
    return float(np.std(e) / np.sqrt(n_atoms))


def force_spread(member_forces_eV_A) -> tuple[float, float]:
    """(mean, max) over atoms of the per-atom force spread; member_forces has shape (M, N, 3)."""
    f = np.asarray(member_forces_eV_A, dtype=float)
    per_atom = np.linalg.norm(f.std(axis=0), axis=1)
    return float(per_atom.mean()), float(per_atom.max())
