"""GSFE slip and twin paths on Mishin 1999 (EAM): zeros, the return to the intrinsic fault, relaxation, the
published values of the potential, and the RMSE machinery against a DFT file."""

from __future__ import annotations

import pytest

from conftest import needs_mishin
from static_common import context, references_with_dft, with_settings
from validation.properties.faults import fault_area_A2, gamma_mJ_m2, slip_path_structures
from validation.properties.gsfe import GeneralizedStackingFault

pytestmark = needs_mishin

SMALL = dict(
    slip_displacements_b_partial=[0.0, 0.25, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 1.0, 1.25],
    slip_relaxed_displacements_b_partial=[0.0, 0.25, 0.5, 0.55, 0.6, 0.65, 0.7, 1.0],
    twin_points_per_layer=4,
    twin_relaxed_points_per_layer=2,
    layer_convergence_n_layers=[6, 12, 18],
)


@pytest.fixture(scope="module")
def mishin_gsfe():
    ctx = context("eam-mishin1999")
    return ctx, with_settings(GeneralizedStackingFault, **SMALL).run(ctx)


def test_gsfe_starts_at_zero_and_returns_to_the_intrinsic_fault(mishin_gsfe):
    _, res = mishin_gsfe
    d = res.data
    for curve, x in (("slip", "displacement_b_partial"), ("slip_relaxed", "displacement_b_partial"),
                     ("twin", "coordinate_b_partial"), ("twin_relaxed", "coordinate_b_partial")):
        assert d[curve][x][0] == 0.0 and d[curve]["gamma_mJ_m2"][0] == 0.0
    # the slip path at u = 1 and the twin path at s = 1 are the same fault, built two ways
    assert d["rigid"]["isf_mJ_m2"] == pytest.approx(
        d["twin"]["gamma_mJ_m2"][d["twin"]["coordinate_b_partial"].index(1.0)], abs=1e-6)
    # the ISF is a local minimum of the slip path: the path rises on both sides
    u, g = d["slip"]["displacement_b_partial"], d["slip"]["gamma_mJ_m2"]
    assert g[u.index(0.75)] > g[u.index(1.0)] < g[u.index(1.25)]
    assert d["rigid"]["usf_mJ_m2"] > d["rigid"]["isf_mJ_m2"] > 0


def test_relaxation_normal_to_the_plane_only_lowers_gamma(mishin_gsfe):
    _, res = mishin_gsfe
    d = res.data
    rigid = dict(zip(d["slip"]["displacement_b_partial"], d["slip"]["gamma_mJ_m2"]))
    for u, g in zip(d["slip_relaxed"]["displacement_b_partial"], d["slip_relaxed"]["gamma_mJ_m2"]):
        assert g <= rigid[u] + 1e-6
    # the faulted cell expands normal to the fault (the known inelastic expansion of stacking faults)
    exp = d["slip_relaxed"]["normal_expansion_A"]
    assert exp[d["slip_relaxed"]["displacement_b_partial"].index(1.0)] > 0.05
    assert not d["unconverged_relaxations"]


def test_relaxed_fault_energies_reproduce_mishins_published_values(mishin_gsfe):
    """Mishin et al. 1999 list γ_isf = 146, γ_us = 168, γ_twin = 75 mJ/m² (relaxed): our protocol must reproduce
    them within 3 % (their cell sizes and relaxation differ slightly from ours; the grid maximum underestimates
    γ_usf by < 1 mJ/m² with 0.05 b_p steps around the maximum)."""
    _, res = mishin_gsfe
    d = res.data
    assert d["isf_mJ_m2"] == pytest.approx(146.0, rel=0.03)
    assert d["usf_mJ_m2"] == pytest.approx(168.0, rel=0.03)
    assert d["tsf_mJ_m2"] == pytest.approx(75.0, rel=0.03)
    verdicts = {c.key: c.verdict for c in res.comparisons if c.reference_kind == "potential"}
    assert verdicts == {"usf_mJ_m2": "pass", "isf_mJ_m2": "pass", "tsf_mJ_m2": "pass"}


def test_layer_convergence(mishin_gsfe):
    _, res = mishin_gsfe
    c = res.data["layer_convergence"]
    # rigid: exact once no atom sees two faults (6 layers = 14 Å > twice Mishin's 6.3 Å cutoff)
    assert max(c["isf_rigid_mJ_m2"]) - min(c["isf_rigid_mJ_m2"]) < 1e-6
    # relaxed (σ_zz = 0): the faults do not interact elastically, converged to the relaxation tolerance
    assert max(c["isf_mJ_m2"]) - min(c["isf_mJ_m2"]) < 0.1


def test_rmse_uses_the_dft_layer_count_and_coordinates(tmp_path):
    """A DFT file on 9 layers at coordinates off our grid: γ is evaluated on exactly those cells."""
    ctx0 = context("eam-mishin1999")
    calc = ctx0.calculator()
    a0 = ctx0.fcc_a0()
    us = [0.0, 0.3, 0.65, 1.0]
    cells = slip_path_structures(a0, 9, us)
    energies = []
    for c in cells:
        c.calc = calc
        energies.append(c.get_potential_energy())
    own = gamma_mJ_m2(energies, fault_area_A2(cells[0]))
    dft = {"label": "test DFT", "n_layers": 9, "relaxation": "rigid",
           "slip": {"displacement_b_partial": us, "gamma_mJ_m2": [g + 4.0 for g in own]},
           "isf_mJ_m2": own[-1] + 4.0}
    ctx = context("eam-mishin1999", references=references_with_dft(tmp_path, gsfe=dft))
    small = with_settings(GeneralizedStackingFault, slip_displacements_b_partial=[0.0, 0.5, 1.0],
                          slip_relaxed_displacements_b_partial=[0.0, 1.0], twin_points_per_layer=1,
                          twin_relaxed_points_per_layer=1, layer_convergence_n_layers=[6, 12])
    res = small.run(ctx)
    assert res.data["rmse_slip_vs_dft_mJ_m2"] == pytest.approx(4.0, abs=1e-6)
    assert res.data["n_points_slip_vs_dft"] == 3  # u = 0, the unfaulted reference, is not a point of the RMSE
    assert res.data["dft_n_layers"] == 9 and res.data["dft_relaxation"] == "rigid"
    isf = next(c for c in res.comparisons if c.key == "isf_mJ_m2" and c.reference_kind == "dft")
    assert isf.deviation == pytest.approx(-4.0, abs=1e-6)  # rigid against rigid, as the reference says


def test_rmse_against_the_committed_dft_reference(mishin_gsfe):
    """The suite's RMSE against reference_data/dft/gsfe.json equals one computed here from the builders on the
    reference's own cells (its layer count and coordinates, rigid), over the faulted points."""
    import numpy as np

    from validation.properties.faults import twin_structure

    ctx, res = mishin_gsfe
    dft = ctx.references.dft_data("gsfe")
    assert dft is not None, "reference_data/dft/gsfe.json is committed"
    a0, n = res.data["a0_A"], dft["n_layers"]
    calc = ctx.calculator()

    def gammas(cells):
        e = []
        for c in [slip_path_structures(a0, n, [0.0])[0], *cells]:
            c.calc = calc
            e.append(c.get_potential_energy())
        return gamma_mJ_m2(e, fault_area_A2(cells[0]))[1:]

    for path, key, build in (
            ("slip", "displacement_b_partial", lambda x: slip_path_structures(a0, n, [x])[0]),
            ("twin", "coordinate_b_partial", lambda x: twin_structure(a0, n, x))):
        coords = [x for x in dft[path][key] if x != 0.0]
        ref = [g for x, g in zip(dft[path][key], dft[path]["gamma_mJ_m2"]) if x != 0.0]
        ours = gammas([build(x) for x in coords])
        rmse = float(np.sqrt(np.mean((np.array(ours) - np.array(ref)) ** 2)))
        assert res.data[f"rmse_{path}_vs_dft_mJ_m2"] == pytest.approx(rmse, abs=1e-6)
        assert res.data[f"n_points_{path}_vs_dft"] == len(coords)
    assert res.data["dft_n_layers"] == n
