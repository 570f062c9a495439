"""Solid-liquid coexistence (validation.properties.melting) and its analysis functions."""

from __future__ import annotations

import numpy as np
import pytest

from alal import potentials
from alal.md import engine_for
from alal.analysis.blocks import mean_and_sem
from validation.properties.melting import (clausius_clapeyron, coexistence_seed, fit_melting_line, is_valid,
                                           protocol_settings, relaxation_fit, simon_glatzel, stack_slabs)
from validation.references import load_references


def test_mendelev_melts_near_925_K_in_the_quick_tier():
    """The quick-tier protocol (768 atoms, one seed) finds Tm(0 GPa) of Mendelev 2008 within 50 K of 925 K."""
    engine = engine_for(potentials.load("eam-mendelev2008"))
    s = protocol_settings("quick")
    attempts = coexistence_seed(engine, "fcc", 0.0, 933.47, s, seed=20210301)
    last = attempts[-1]
    assert last["outcome"] == "coexistence"
    # the paper's coexistence run gave ~925 K (the potential was fitted to 933 K); ±50 K is the bar and
    # covers the quick tier's ~±15 K sampling error with room for finite-size effects
    assert abs(last["Tm_K"] - 925.0) < 50.0
    assert 0.1 < last["mean_solid_share"] < 0.9  # both phases were still there
    assert last["phase_grown"] == "fcc"
    assert abs(last["P_mean_GPa"]) < 0.2  # the barostat held 0 GPa


@pytest.mark.slow  # 50 s on 2 cores (six 768-atom coexistence runs): make test-slow
def test_quick_tier_melting_point_reproduces_with_new_seeds():
    """Error bars that hold: Tm(0 GPa) of Mishin 1999 from three independent seeds, then again from three new
    seeds; the two means agree within twice their combined standard errors (the error bar is the standard
    error over seeds, as the property reports it). Measured 2026-12-07: 961 ± 14 K (seeds 101, 202, 303:
    967, 935, 982 K) and 947 ± 6 K (404, 505, 606: 947, 937, 957 K)."""
    engine = engine_for(potentials.load("eam-mishin1999"))
    s = protocol_settings("quick")

    def melting_point(seeds):
        values = [a["Tm_K"] for seed in seeds for a in coexistence_seed(engine, "fcc", 0.0, 933.47, s, seed=seed)
                  if is_valid(a)]
        assert len(values) == len(seeds)  # every seed kept both phases
        return mean_and_sem(values)

    (tm1, err1), (tm2, err2) = melting_point([101, 202, 303]), melting_point([404, 505, 606])
    assert err1 > 0 and err2 > 0
    assert abs(tm1 - tm2) <= 2.0 * np.hypot(err1, err2), ((tm1, err1), (tm2, err2))


def test_stacked_slabs_have_no_close_contacts():
    from ase.neighborlist import neighbor_list

    from alal.structures import fcc_cubic

    rng = np.random.default_rng(1)
    solid = fcc_cubic(4.1, (3, 3, 4))
    solid.positions += rng.normal(0, 0.1, solid.positions.shape)  # thermal spread across the cell boundary
    liquid = solid.copy()
    liquid.positions = rng.uniform(0, 1, liquid.positions.shape) @ liquid.cell.array
    for a in (solid, liquid):
        a.set_velocities(np.zeros((len(a), 3)))
    stacked = stack_slabs(solid, liquid, "fcc", 4)
    assert len(stacked) == len(solid) + len(liquid)
    d_nn = 4.1 / np.sqrt(2)
    n_solid = len(solid)
    i, j, d = neighbor_list("ijd", stacked, 0.75 * d_nn - 0.35)  # the solid's own 0.1 Å noise allows ~0.35 Å less
    assert not np.any((i < n_solid) != (j < n_solid))  # no solid-liquid pair closer than 0.75 d_nn (minus noise)


def test_relaxation_fit_recovers_the_asymptote():
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 8.0, 0.01)
    T = 1000.0 - 80.0 * np.exp(-t / 2.5) + rng.normal(0.0, 25.0, t.size)  # 768 atoms fluctuate by ~25 K
    fit = relaxation_fit(t, T)
    assert fit["Tm_K"] == pytest.approx(1000.0, abs=max(4 * fit["Tm_err_K"], 5.0))
    assert fit["tau_ps"] == pytest.approx(2.5, rel=0.5)
    flat = relaxation_fit(t, 950.0 + rng.normal(0.0, 25.0, t.size))  # nothing to relax: the mean comes back
    assert flat["Tm_K"] == pytest.approx(950.0, abs=10.0)


def test_melting_line_fit_and_clausius_clapeyron():
    P = np.array([0.0, 5.0, 10.0, 25.0, 50.0])
    T = simon_glatzel(P, 930.0, 12.0, 2.5)
    fit = fit_melting_line(P, T, [5.0] * 5)
    assert fit["dTm_dP_K_per_GPa"] == pytest.approx(930.0 / (12.0 * 2.5), rel=1e-3)
    line = fit_melting_line(P[:2], T[:2], [5.0, 5.0])
    assert line["model"].startswith("straight")
    cc = clausius_clapeyron(load_references())
    # Tm ΔV / L with ρ_l = 2377 kg/m³, ΔV = 6.9 % of the solid's volume, L = 10.71 kJ/mol: 63.9 K/GPa
    assert cc["dTm_dP_K_per_GPa"] == pytest.approx(63.9, abs=0.2)
