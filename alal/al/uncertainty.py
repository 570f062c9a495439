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


def rho_threshold_at(settings, t_ps: float | None) -> float:
    """The ρ threshold in force at time ``t_ps`` of a trajectory.

    ``rho_threshold_eV`` (0 = off), except during a start grace (``start_grace_ps`` > 0, not in the paper):
    before that time the looser ``start_grace_rho_threshold_eV`` applies. Why: a trajectory starts on a fresh
    random cell, where the student is least sure (measured on the fourth discovery run: median ρ 0.064 eV/√atom
    at t = 0, 0.040 from 0.1 ps on), and its dynamics leaves that region within tens of steps. A tight rung
    stops half of the trajectories at t = 0 and sends yet another random cell to the oracle; the grace lets them
    move on to the frames the run wants to check, and still stops those whose start is past the loose threshold.
    """
    thr = settings.rho_threshold_eV
    grace_ps = getattr(settings, "start_grace_ps", 0.0)
    if thr > 0 and grace_ps > 0 and t_ps is not None and t_ps < grace_ps:
        return max(thr, getattr(settings, "start_grace_rho_threshold_eV", 0.0))
    return thr


def uncertainty_stop(rho_eV: float, fspread_mean_eV_A: float, fspread_max_eV_A: float, settings,
                     t_ps: float | None = None) -> tuple[str, str] | None:
    """(reason, detail) when the ensemble is too unsure to go on, else None.

    ``settings`` carries rho_threshold_eV (0 = off), force_spread_threshold_eV_A (0 = off) and
    force_spread_statistic ("max" or "mean"), and optionally a start grace (:func:`rho_threshold_at`, which
    needs ``t_ps``). Reasons: "uncertain" (ρ), "uncertain_forces" (force spread); both send the frame to the
    oracle.
    """
    r_thr = rho_threshold_at(settings, t_ps)
    if r_thr > 0 and rho_eV > r_thr:
        grace = " (start grace)" if r_thr != settings.rho_threshold_eV else ""
        return "uncertain", f"rho = {rho_eV:.4g} eV > {r_thr:g} eV{grace}"
    f_thr = settings.force_spread_threshold_eV_A
    if f_thr > 0:
        stat = getattr(settings, "force_spread_statistic", "max")
        value = fspread_mean_eV_A if stat == "mean" else fspread_max_eV_A
        if value > f_thr:
            return "uncertain_forces", f"{stat} force spread {value:.3g} eV/Å > {f_thr:g} eV/Å"
    return None
