"""Ensemble disagreement, the active-learning trigger.

ρ = σ_E / √N: the standard deviation over the ensemble members of the total energy (eV; population
standard deviation, ddof = 0), divided by the square root of the number of atoms, as in ANI-1x active
learning (Smith et al., J. Chem. Phys. 148, 241733 (2018)). Units: eV per √atom. For members whose
per-atom errors are independent, σ_E grows like √N, so ρ is size-intensive.

Force spread of atom j: |std_m f_j^(m)| (the norm of the per-component standard deviations over members),
eV/Å; reported as its mean and maximum over atoms.

Which of them stops a trajectory is the sampler's setting (:func:`uncertainty_stop`): ρ (the paper's, off
when its threshold is 0) and/or the force spread, as the maximum over atoms (DP-GEN's model deviation) or
the mean over atoms (the statistic whose rank correlation with the actual force error ``alal status``
reports per generation).
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


FORCE_SPREAD_STATISTICS = ("max", "mean")


def uncertainty_stop(rho_eV: float, fspread_mean_eV_A: float, fspread_max_eV_A: float, settings) -> tuple[str, str] | None:
    """(reason, detail) when the ensemble is too unsure to go on, else None.

    ``settings`` carries rho_threshold_eV (0 = off), force_spread_threshold_eV_A (0 = off) and
    force_spread_statistic ("max" or "mean"). Reasons: "uncertain" (ρ), "uncertain_forces" (force spread);
    both send the frame to the oracle.
    """
    r_thr = settings.rho_threshold_eV
    if r_thr > 0 and rho_eV > r_thr:
        return "uncertain", f"rho = {rho_eV:.4g} eV > {r_thr:g} eV"
    f_thr = settings.force_spread_threshold_eV_A
    if f_thr > 0:
        stat = getattr(settings, "force_spread_statistic", "max")
        value = fspread_mean_eV_A if stat == "mean" else fspread_max_eV_A
        if value > f_thr:
            return "uncertain_forces", f"{stat} force spread {value:.3g} eV/Å > {f_thr:g} eV/Å"
    return None
