"""Phonons on Mishin 1999 (EAM): commensurate X and L exact at any even supercell, acoustic sum rule, degeneracies,
and the long-wavelength limit against the elastic constants (two independent routes to the same physics)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.units import _amu

from conftest import needs_mishin
from static_common import context, with_settings
from validation.properties.checks import _elastic_matrix
from validation.properties.phonons import (
    CARTESIAN,
    Phonons,
    band_qpoints,
    force_constants,
    frequencies_at,
    to_primitive_fractional,
)

pytestmark = needs_mishin


@pytest.fixture(scope="module")
def mishin_phonons():
    ctx = context("eam-mishin1999")
    return ctx, with_settings(Phonons, supercells=[2, 4]).run(ctx)


def test_commensurate_points_agree_between_supercells_and_modes_are_degenerate(mishin_phonons):
    _, res = mishin_phonons
    c = res.data["convergence"]
    for key in ("X_T_THz", "X_L_THz", "L_T_THz", "L_L_THz"):
        # exact in both cells up to the finite-displacement anharmonicity (±0.01 Å: ~1e-5 THz)
        assert c[key][0] == pytest.approx(c[key][1], abs=1e-3)
    d = res.data
    assert d["X_L_THz"] > d["X_T_THz"] > 0 and d["L_L_THz"] > d["L_T_THz"] > 0
    assert d["min_frequency_THz"] > -1e-3  # no imaginary modes; the acoustic modes vanish at Γ
    bands = np.array(d["dispersion"]["frequencies_THz"])
    assert np.abs(bands[0]).max() < 1e-3
    # a simple metal stiffens under compression: positive mode Grüneisen parameters at the zone boundary
    g = d["gruneisen"]
    assert min(g["X_T"], g["X_L"], g["L_T"], g["L_L"]) > 0
    assert g["B_GPa"] == pytest.approx(79.0, rel=0.05)  # Mishin's bulk modulus (fitted to experiment, 79 GPa)


def test_sound_velocities_match_the_elastic_constants(mishin_phonons):
    ctx, _ = mishin_phonons
    a0 = ctx.fcc_a0()
    calc = ctx.calculator()
    ph = force_constants(calc, a0, 4, 0.01)
    eps = 0.02
    f = np.sort(frequencies_at(ph, to_primitive_fractional([eps, 0, 0]))[0])
    c = np.array(_elastic_matrix(calc, a0, 0.005))
    rho = 4 * 26.9815385 * _amu / (a0 * 1e-10) ** 3  # kg/m³
    v_l = np.sqrt(c[0, 0] * 1e9 / rho)  # m/s
    v_t = np.sqrt(c[3, 3] * 1e9 / rho)
    q = eps * 2 * np.pi / (a0 * 1e-10)  # 1/m
    # ν = v q / 2π; 1 % covers the dispersion at 2 % of the zone (~(qa)²/24 ~ 0.02 %) and the FD elastic constants
    assert f[2] * 1e12 == pytest.approx(v_l * q / (2 * np.pi), rel=0.01)
    assert f[0] * 1e12 == pytest.approx(v_t * q / (2 * np.pi), rel=0.01)


def test_band_path_geometry():
    qs, dist, ticks, labels = band_qpoints(5)
    assert labels == ["Γ", "X", "K", "Γ", "L"]
    # Γ-X = 1, X'-K = √2/4, K-Γ = 3√2/4, Γ-L = √3/2 (units of 2π/a)
    assert np.diff(ticks) == pytest.approx([1.0, np.sqrt(2) / 4, 3 * np.sqrt(2) / 4, np.sqrt(3) / 2])
    assert qs[4] == pytest.approx(to_primitive_fractional(CARTESIAN["X"]))
    assert to_primitive_fractional(CARTESIAN["L"]) == pytest.approx([0.5, 0.5, 0.5])


@pytest.mark.slow
def test_quasi_harmonic_expansion_agrees_with_the_gruneisen_model():
    ctx = context("eam-mishin1999", tier="full")
    res = with_settings(Phonons, supercells=[2], qha_supercell=3, gruneisen_supercell=2).run(ctx)
    q = res.data["qha"]
    t = np.array(q["temperatures_K"])
    alpha = np.array(q["linear_expansion_per_K"])
    # the expansion coefficient follows the heat capacity: ~0 at low T, rising, then nearly flat
    assert abs(alpha[t <= 10]).max() < 0.05 * alpha[t == 300][0]
    assert alpha[t == 100][0] < alpha[t == 300][0]
    assert res.data["thermal_expansion_298K_per_K"] > 0
    # zero-point motion expands the crystal beyond the static volume
    assert q["volume_A3_per_atom"][0] > ctx.fcc_a0() ** 3 / 4
    # the QHA and the first-order Grüneisen model are the same physics at 298 K (to ~25 %: B(T), higher orders)
    assert res.data["thermal_expansion_298K_per_K"] == pytest.approx(
        res.data["thermal_expansion_gruneisen_298K_per_K"], rel=0.25)
