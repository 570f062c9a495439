"""Verification checks: every check passes for a correct potential, and the checks can fail."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT

from conftest import needs_mishin
from static_common import context
from alal.structures import fcc_cubic
from validation.properties.checks import VerificationChecks, _forces_fd, _stress_fd, quartic_residual


@needs_mishin
def test_mishin_passes_every_check():
    res = VerificationChecks().run(context("eam-mishin1999"))
    checks = res.data["checks"]
    assert set(checks) == {"forces_fd", "stress_fd", "nve_drift", "ev_smoothness", "gsfe_smoothness",
                           "elastic_cubic_symmetry", "born_stability"}
    failed = {k: v["value"] for k, v in checks.items() if not v["passed"]}
    assert not failed
    assert res.data["seed"] == 20210301
    # the NVE run is at a sensible temperature (600 K start, equipartition)
    assert 150 < checks["nve_drift"]["mean_temperature_K"] < 450


class SkewedForcesEMT(Calculator):
    """EMT whose forces are 1 % too large and whose stress is offset by 0.05 GPa: derivatives that are not those of
    its energy, which the finite-difference checks must catch."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self):
        super().__init__()
        self.emt = EMT()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        a = self.atoms.copy()
        a.calc = self.emt
        self.results = {"energy": a.get_potential_energy(), "forces": 1.01 * a.get_forces(),
                        "stress": a.get_stress() + 0.05 / 160.21766208}


def test_force_and_stress_checks_catch_inconsistent_derivatives():
    atoms = fcc_cubic(4.0, 2)
    atoms.positions += np.random.default_rng(1).normal(0, 0.05, atoms.positions.shape)
    picks = [(0, 0), (5, 1), (17, 2)]
    good = _forces_fd(EMT(), atoms, picks, 1e-3)
    bad = _forces_fd(SkewedForcesEMT(), atoms, picks, 1e-3)
    assert good["max_error_eV_A"] < 1e-5 < 1e-3 < bad["max_error_eV_A"]
    assert _stress_fd(EMT(), atoms, 1e-4)["max_error_GPa"] < 1e-3
    assert _stress_fd(SkewedForcesEMT(), atoms, 1e-4)["max_error_GPa"] > 0.01


def test_smoothness_residual_vanishes_on_cubics_and_sees_a_jump():
    x = np.linspace(0, 1, 41)
    assert np.abs(quartic_residual(3 * x**3 - x**2 + 2)).max() < 1e-12
    y = np.sin(3 * x)
    y[20:] += 1e-3  # a step of 1e-3
    # the stencil (1, −4, 6, −4, 1)/6 straddling a step of size δ peaks at δ/2 (plus the smooth O(h⁴) part)
    assert np.abs(quartic_residual(y)).max() == pytest.approx(0.5e-3, rel=0.05)
