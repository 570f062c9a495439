"""Vacancy formation and surface energies on EMT and Mishin 1999 (EAM): convergence, relaxation, published values."""

from __future__ import annotations

import pytest

from conftest import needs_mishin
from static_common import context, with_settings
from validation.properties.surface import SurfaceEnergies
from validation.properties.vacancy import VacancyFormation


@pytest.mark.parametrize("name", ["emt", pytest.param("eam-mishin1999", marks=needs_mishin)])
def test_vacancy_energy_converges_with_cell_size(name):
    res = VacancyFormation().run(context(name))
    c = res.data["convergence"]
    assert c["sites"] == [32, 108, 256]
    ef = c["Ef_eV"]
    # the image interaction decays with the cell: each step changes Ef less than the one before, and the
    # 108 -> 256 change is below 10 meV (the size error the report states)
    assert abs(ef[2] - ef[1]) < abs(ef[1] - ef[0])
    assert abs(ef[2] - ef[1]) < 0.01
    # relaxation only lowers the energy, by a small amount for a close-packed metal
    for relaxed, unrelaxed in zip(ef, c["Ef_unrelaxed_eV"]):
        assert 0 < unrelaxed - relaxed < 0.2
    assert all(c["converged"])
    assert 0.3 < res.data["Ef_eV"] < 1.5


@needs_mishin
def test_mishin_vacancy_matches_its_published_value():
    res = VacancyFormation().run(context("eam-mishin1999"))
    # Mishin et al. 1999: 0.68 eV, fitted to experiment; 0.01 eV covers their cell size and relaxation protocol
    assert res.data["Ef_eV"] == pytest.approx(0.68, abs=0.01)
    kinds = {c.reference_kind: c.verdict for c in res.comparisons}
    assert kinds["potential"] == "pass" and kinds["experiment"] == "pass"


@needs_mishin
def test_mishin_surface_energies_order_converge_and_match_published_values():
    res = with_settings(SurfaceEnergies, n_layers=[7, 11]).run(context("eam-mishin1999"))
    d = res.data
    # the close-packed facet is the cheapest; (110) the most open, the most expensive
    assert d["111_mJ_m2"] < d["100_mJ_m2"] < d["110_mJ_m2"]
    for facet in ("111", "100", "110"):
        conv = d["convergence"][facet]
        assert conv["thickness_change_mJ_m2"] < 5.0  # a few tenths of a per cent
        for g, g0 in zip(conv["gamma_mJ_m2"], conv["gamma_unrelaxed_mJ_m2"]):
            assert g <= g0 + 1e-6
    # the open (110) surface contracts its outermost spacing (the known inward relaxation of Al(110))
    assert d["convergence"]["110"]["outer_spacing_change_percent"][-1] < 0
    # Mishin et al. 1999: 870, 943, 1006 mJ/m²; 1 % covers slab thickness and relaxation tolerance
    assert (d["111_mJ_m2"], d["100_mJ_m2"], d["110_mJ_m2"]) == pytest.approx((870.0, 943.0, 1006.0), rel=0.01)
    assert all(c.verdict == "pass" for c in res.comparisons if c.reference_kind == "potential")
