"""Regression: cheap static numbers of ANI-Al and Mishin 1999 against the values stored in
reference_data/regression_static.json (computed by this code; see the file's description for the protocol).

Tolerances: every number is a float64 evaluation of a deterministic structure. The fast ANI engine and torchani
agree on all of them to better than 1e-6 relative, LAMMPS is deterministic; the tolerances below are 10-100 times
that spread (room for BLAS and summation order on other machines) and far below any physically meaningful change,
so a failure means the potential, its loading, or a builder changed.
"""

from __future__ import annotations

import json

import pytest

from alal import potentials
from alal.structures import fcc_cubic
from conftest import needs_ani_al, needs_mishin
from validation.properties.faults import (
    BCC_C_OVER_A,
    bain_path_structures,
    fault_area_A2,
    gamma_mJ_m2,
    slip_path_structures,
)
from validation.properties.lattice import relaxed_fcc_lattice_constant
from validation.properties.phonons import (
    CARTESIAN,
    force_constants,
    frequencies_at,
    to_primitive_fractional,
    transverse_longitudinal,
)
from validation.references import reference_dir

TOLERANCE = {  # absolute, in the unit of the key
    "a0_A": 1e-6,
    "bain_dE_bcc_meV_per_atom": 1e-3,
    "bain_dE_0.8_meV_per_atom": 1e-3,
    "bain_dE_1.2_meV_per_atom": 1e-3,
    "gamma_rigid_u0.5_mJ_m2": 1e-3,
    "isf_rigid_mJ_m2": 1e-3,
    "vacancy_unrelaxed_32_sites_eV": 1e-5,
    "X_T_THz": 1e-4,
    "X_L_THz": 1e-4,
    "L_T_THz": 1e-4,
    "L_L_THz": 1e-4,
}


def cheap_static_numbers(name: str) -> dict:
    calc = potentials.load(name, dtype="float64")

    def energy(atoms) -> float:
        atoms.calc = calc
        return float(atoms.get_potential_energy())

    a0 = relaxed_fcc_lattice_constant(calc)
    out = {"a0_A": a0}
    e = [energy(x) for x in bain_path_structures(a0, [1.0, BCC_C_OVER_A, 0.8, 1.2])]
    out["bain_dE_bcc_meV_per_atom"] = (e[1] - e[0]) * 1e3
    out["bain_dE_0.8_meV_per_atom"] = (e[2] - e[0]) * 1e3
    out["bain_dE_1.2_meV_per_atom"] = (e[3] - e[0]) * 1e3
    path = slip_path_structures(a0, 12, [0.0, 0.5, 1.0])
    g = gamma_mJ_m2([energy(x) for x in path], fault_area_A2(path[0]))
    out["gamma_rigid_u0.5_mJ_m2"], out["isf_rigid_mJ_m2"] = g[1], g[2]
    perfect = fcc_cubic(a0, 2)
    defect = perfect.copy()
    del defect[0]
    out["vacancy_unrelaxed_32_sites_eV"] = energy(defect) - 31 / 32 * energy(perfect)
    ph = force_constants(calc, a0, 2, 0.01)
    for point in ("X", "L"):
        t, l_ = transverse_longitudinal(frequencies_at(ph, to_primitive_fractional(CARTESIAN[point]))[0])
        out[f"{point}_T_THz"], out[f"{point}_L_THz"] = t, l_
    return out


def stored(name: str) -> dict:
    return json.loads((reference_dir() / "regression_static.json").read_text())["values"][name]


@pytest.mark.parametrize("name", [pytest.param("ani-al", marks=needs_ani_al),
                                  pytest.param("eam-mishin1999", marks=needs_mishin)])
def test_static_numbers_match_the_stored_values(name):
    ours = cheap_static_numbers(name)
    ref = stored(name)
    assert set(ref) == set(TOLERANCE)
    off = {k: (ours[k], ref[k]) for k in ref if abs(ours[k] - ref[k]) > TOLERANCE[k]}
    assert not off, f"changed beyond tolerance (ours, stored): {off}"
