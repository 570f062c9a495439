"""Bain path on EMT and EAM: symmetry (stationary at FCC and BCC), the zero, the barrier, RMSE against DFT."""

from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.emt import EMT

from alal import potentials
from alal.structures import crystal
from conftest import needs_mishin
from static_common import context, references_with_dft
from validation.properties.bain import BainPath, path_errors
from validation.properties.faults import BCC_C_OVER_A, bain_cell


def _energy(calc, atoms) -> float:
    atoms.calc = calc
    return float(atoms.get_potential_energy()) / len(atoms)


@pytest.mark.parametrize("name", ["emt", pytest.param("eam-mishin1999", marks=needs_mishin)])
def test_fcc_and_bcc_are_stationary_points_of_the_bain_path(name):
    calc = EMT() if name == "emt" else potentials.load(name)
    a0 = 4.05
    h = 1e-3
    slope_far = abs(_energy(calc, bain_cell(a0, 0.85 + h)) - _energy(calc, bain_cell(a0, 0.85 - h))) / (2 * h)
    assert slope_far > 1e-3  # eV/atom per unit c/a: the path is not flat where nothing forces it to be
    for x in (1.0, BCC_C_OVER_A):
        slope = abs(_energy(calc, bain_cell(a0, x + h)) - _energy(calc, bain_cell(a0, x - h))) / (2 * h)
        # by cubic symmetry the first derivative vanishes: what is left is the O(h²) third-derivative term
        assert slope < 1e-3 * slope_far


@needs_mishin
def test_bain_property_on_mishin_zero_barrier_and_no_dft(tmp_path):
    ctx = context("eam-mishin1999", references=references_with_dft(tmp_path))  # no DFT files
    res = BainPath().run(ctx)
    d = res.data
    x = np.array(d["c_over_a"])
    e = np.array(d["dE_meV_per_atom"])
    assert e[np.isclose(x, 1.0)][0] == 0.0
    assert (e >= -1e-9).all()  # FCC is the minimum of the path for this potential
    # E(BCC) on the path equals ASE's BCC at the same volume (an independent builder)
    calc = ctx.calculator()
    v0 = d["a0_A"] ** 3 / 4
    expected = (_energy(calc, crystal("bcc", v0)) - _energy(calc, crystal("fcc", v0))) * 1e3
    assert d["bcc_meV_per_atom"] == pytest.approx(expected, abs=1e-6)
    assert d["barrier_c_over_a"] == pytest.approx(BCC_C_OVER_A)  # BCC is the saddle between the two tetragonal arms
    assert "rmse_vs_dft_meV_per_atom" not in d and any("no DFT reference" in n for n in res.notes)


@needs_mishin
def test_bain_rmse_is_computed_at_the_dft_coordinates(tmp_path):
    """A DFT file with coordinates off our grid: the property evaluates exactly there (RMSE of a shifted copy of the
    potential's own curve is the shift)."""
    ctx0 = context("eam-mishin1999")
    calc = ctx0.calculator()
    a0 = ctx0.fcc_a0()
    xs = [1.0, 0.93, 0.8123, BCC_C_OVER_A, 1.234]
    e1 = _energy(calc, bain_cell(a0, 1.0))
    own = [(_energy(calc, bain_cell(a0, x)) - e1) * 1e3 for x in xs]
    shift = 2.5
    dft = {"label": "test DFT", "c_over_a": xs, "dE_meV_per_atom": [v - shift for v in own], "a0_A": a0}
    ctx = context("eam-mishin1999", references=references_with_dft(tmp_path, bain=dft))
    d = BainPath().run(ctx).data
    assert d["rmse_vs_dft_meV_per_atom"] == pytest.approx(shift, abs=1e-6)
    assert d["mae_vs_dft_meV_per_atom"] == pytest.approx(shift, abs=1e-6)
    assert d["dft_points"] == len(xs)
    assert 0.8123 in d["c_over_a"]


def test_path_errors_match_coordinates_exactly_and_count_the_missing():
    err = path_errors([0.5, 1.0, 1.5], [1.0, 2.0, 3.0], [0.5, 1.0, 2.0], [0.0, 2.0, 9.0])
    assert err["n_points"] == 2 and err["n_missing"] == 1
    assert err["rmse"] == pytest.approx(np.sqrt(0.5))
    assert path_errors([0.5], [1.0], [0.7], [1.0]) is None
