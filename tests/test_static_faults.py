"""The shared path builders (validation/properties/faults.py): geometry and symmetry, checked with EMT energies.

These cells are what DFT and every potential are evaluated on, so each is checked against an independent
construction (explicit stacking sequences, ASE's own BCC/FCC builders) rather than against itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.neighborlist import neighbor_list

from alal.errors import BadStructure
from validation.properties.faults import (
    BAIN_C_OVER_A,
    BCC_C_OVER_A,
    SHEAR_DIRECTION,
    SLIP_DISPLACEMENTS,
    bain_cell,
    bain_path_structures,
    characteristic_fault_energies,
    fault_area_A2,
    fcc111_cell,
    gamma_mJ_m2,
    gamma_surface_structure,
    layer_spacing_A,
    partial_burgers_A,
    slip_path_structures,
    twin_path_coordinates,
    twin_path_structures,
    twin_structure,
)

A0 = 4.05  # any plausible a0: the geometry tests do not need the potential's own


def energy(atoms: Atoms) -> float:
    atoms = atoms.copy()
    atoms.calc = EMT()
    return float(atoms.get_potential_energy())


def stacking_cell(a0: float, letters: str) -> Atoms:
    """Periodic {111} cell built from an explicit stacking sequence (independent of faults.py's construction).

    Layer j sits at the lateral position of its letter (A = 0, B = 1/3, C = 2/3 of a1 + a2); the third vector is
    tilted so that the image of the bottom layer continues the sequence perfectly after the last letter.
    """
    ah = a0 / np.sqrt(2)
    a1, a2 = np.array([ah, 0, 0]), np.array([ah / 2, ah * np.sqrt(3) / 2, 0])
    d = a0 / np.sqrt(3)
    shift = {"A": 0, "B": 1, "C": 2}
    pos = [shift[ch] * (a1 + a2) / 3 + [0, 0, j * d] for j, ch in enumerate(letters)]
    nxt = (shift[letters[-1]] + 1) % 3  # the image of layer 0 (an "A") must sit at this letter
    c = np.array([0, 0, len(letters) * d]) + ((nxt - shift[letters[0]]) % 3) * (a1 + a2) / 3
    return Atoms("Al" * len(letters), positions=pos, cell=[a1, a2, c], pbc=True)


def test_bain_cells_conserve_volume_and_contain_fcc_and_bcc():
    cells = bain_path_structures(A0, BAIN_C_OVER_A)
    assert all(len(c) == 1 for c in cells)
    assert [c.get_volume() for c in cells] == pytest.approx([A0**3 / 4] * len(cells), rel=1e-12)
    # c/a = 1 is FCC: 12 nearest neighbours at a0/√2, and the energy of ASE's FCC cell
    fcc = bain_cell(A0, 1.0)
    d = neighbor_list("d", fcc, A0 / np.sqrt(2) + 0.01)
    assert len(d) == 12 and d == pytest.approx(A0 / np.sqrt(2), rel=1e-12)
    assert energy(fcc) == pytest.approx(energy(bulk("Al", "fcc", a=A0)), abs=1e-10)
    # c/a = 1/√2 is BCC at the same volume
    a_bcc = (2 * A0**3 / 4) ** (1 / 3)
    bcc = bain_cell(A0, BCC_C_OVER_A)
    d = neighbor_list("d", bcc, a_bcc * np.sqrt(3) / 2 + 0.01)
    assert len(d) == 8 and d == pytest.approx(a_bcc * np.sqrt(3) / 2, rel=1e-12)
    assert energy(bcc) == pytest.approx(energy(bulk("Al", "bcc", a=a_bcc)), abs=1e-10)
    assert BCC_C_OVER_A in BAIN_C_OVER_A and 1.0 in BAIN_C_OVER_A


@pytest.mark.parametrize("n_layers", [2, 3, 4, 5, 7, 12])
def test_fcc111_cells_are_perfect_fcc_for_any_layer_count(n_layers):
    cell = fcc111_cell(A0, n_layers)
    assert len(cell) == n_layers
    d = neighbor_list("d", cell, A0 / np.sqrt(2) + 0.01)
    assert len(d) == 12 * n_layers  # every atom has exactly 12 nearest neighbours
    assert energy(cell) / n_layers == pytest.approx(energy(bulk("Al", "fcc", a=A0)), abs=1e-10)
    assert fault_area_A2(cell) == pytest.approx(np.sqrt(3) / 4 * A0**2, rel=1e-12)


def test_shear_direction_is_one_partial_burgers_vector_per_stacking_step():
    cell = fcc111_cell(A0, 3)
    step = cell.positions[1] - cell.positions[0] - [0, 0, layer_spacing_A(A0)]
    assert np.linalg.norm(step) == pytest.approx(partial_burgers_A(A0), rel=1e-12)
    assert step / np.linalg.norm(step) == pytest.approx(SHEAR_DIRECTION, abs=1e-12)


def test_slip_path_is_periodic_and_makes_the_intrinsic_fault_at_one_partial():
    n = 9
    path = slip_path_structures(A0, n, [0.0, 0.4, 1.0, 2.0, 3.0, 3.4])
    e = [energy(a) for a in path]
    g = gamma_mJ_m2(e, fault_area_A2(path[0]))
    assert g[0] == 0.0
    assert g[4] == pytest.approx(0.0, abs=1e-8)  # u = 3 b_p is a lattice vector
    assert g[5] == pytest.approx(g[1], abs=1e-8)  # period 3
    # u = 1 is the intrinsic fault: exactly one "backward" step (C -> B) in the stacking sequence
    isf_e = energy(stacking_cell(A0, "ABCBCABCA")) - e[0]
    assert isf_e > 1e-3  # a real fault, not perfect FCC
    assert (e[2] - e[0]) == pytest.approx(isf_e, abs=1e-8)
    # u = 2 stacks the image directly on top of the last layer (AA stacking): in-plane offset a lattice vector
    top = path[3].positions[-1]
    image = path[3].positions[0] + path[3].cell[2]
    lateral = (image - top)[:2]
    a1, a2 = path[3].cell[0][:2], path[3].cell[1][:2]
    frac = np.linalg.solve(np.array([a1, a2]).T, lateral)
    assert frac - np.round(frac) == pytest.approx([0, 0], abs=1e-9)


def test_the_perfect_stacking_and_the_intrinsic_fault_are_stationary():
    """u = 0 and u = 1 sit on 3-fold axes: dγ/du = 0 there (a wrong shear direction would break this)."""
    h = 1e-3
    for u0 in (0.0, 1.0):
        path = slip_path_structures(A0, 9, [u0 - h, u0, u0 + h, 0.5 - h, 0.5 + h])
        e = [energy(a) for a in path]
        slope_here = abs(e[2] - e[0]) / (2 * h)
        slope_mid = abs(e[4] - e[3]) / (2 * h)
        assert slope_here < 1e-4 * slope_mid


def letters_of(atoms: Atoms) -> tuple[str, str]:
    """The stacking letter of each layer (bottom up) and of the periodic image of the bottom layer."""
    a1, a2 = atoms.cell[0][:2], atoms.cell[1][:2]
    basis = np.array([a1, a2]).T

    def letter(xy) -> str:
        f = np.linalg.solve(basis, xy)
        k = 3 * f[0]
        assert abs(k - round(k)) < 1e-9 and abs(3 * f[1] - round(3 * f[1])) < 1e-9, "not on a stacking site"
        assert (round(k) - round(3 * f[1])) % 3 == 0, "not on a stacking site"
        return "ABC"[round(k) % 3]

    order = np.argsort(atoms.positions[:, 2])
    layers = "".join(letter(atoms.positions[i, :2]) for i in order)
    return layers, letter(atoms.positions[order[0], :2] + atoms.cell[2][:2])


def test_twin_path_makes_twin_lamellae_of_one_to_four_layers():
    """Integer path coordinates k: k consecutive backward steps in the stacking, a perfect wrap at the boundary."""
    n = 12
    coords, path = twin_path_structures(A0, n, points_per_layer=1, max_faulted_layers=4)
    assert coords == [0.0, 1.0, 2.0, 3.0, 4.0]
    expected = {0.0: "ABCABCABCABC", 1.0: "ACABCABCABCA", 2.0: "ACBCABCABCAB", 3.0: "ACBABCABCABC",
                4.0: "ACBACABCABCA"}
    backward = {"AC", "CB", "BA"}
    for s, atoms in zip(coords, path):
        layers, image = letters_of(atoms)
        assert layers == expected[s]
        steps = [layers[i:i + 2] for i in range(n - 1)] + [layers[-1] + image]
        assert sum(st in backward for st in steps) == int(s)  # s consecutive backward steps, nowhere else
        assert all(st in backward for st in steps[: int(s)])
    # the ISF built here is the same structure as one from an explicit sequence (energies with EMT)
    assert energy(path[1]) == pytest.approx(energy(stacking_cell(A0, "ABCBCABCABCA")), abs=1e-9)


def test_twin_path_starts_as_the_slip_path():
    us = [0.2, 0.5, 0.8, 1.0]
    slip = [energy(a) for a in slip_path_structures(A0, 12, us)]
    twin = [energy(twin_structure(A0, 12, u)) for u in us]
    assert twin == pytest.approx(slip, abs=1e-9)


def test_slab_with_vacuum_gives_the_same_gamma_as_the_periodic_cell():
    us = [0.0, 0.5, 1.0]
    periodic = slip_path_structures(A0, 12, us)
    slab = slip_path_structures(A0, 12, us, vacuum=12.0)
    g_p = gamma_mJ_m2([energy(a) for a in periodic], fault_area_A2(periodic[0]))
    g_s = gamma_mJ_m2([energy(a) for a in slab], fault_area_A2(slab[0]))
    assert g_s == pytest.approx(g_p, abs=1e-6)  # EMT's range is far below the 6 layers either side


def test_gamma_surface_point_at_one_third_is_the_intrinsic_fault():
    isf = slip_path_structures(A0, 9, [1.0])[0]
    gs = gamma_surface_structure(A0, 9, 1 / 3, 1 / 3)
    assert energy(gs) == pytest.approx(energy(isf), abs=1e-10)


def test_characteristic_fault_energies_read_the_named_points():
    u = np.array(SLIP_DISPLACEMENTS)
    slip = 100 * np.sin(np.pi * u / 1.0) ** 2 * (u <= 1) + 50 * u * (u <= 1) + 50 * (u > 1)
    s = twin_path_coordinates(10, 4)
    twin = [(40 * x if x <= 1 else 40 + 60 * np.sin(np.pi * (x - 1)) ** 2 if x <= 2 else 44.0) for x in s]
    named = characteristic_fault_energies(u, slip, s, twin)
    assert named["isf_mJ_m2"] == pytest.approx(50.0)
    assert named["usf_mJ_m2"] == pytest.approx(max(slip[u <= 1]))
    assert named["utf_mJ_m2"] == pytest.approx(100.0)
    assert named["utf_coordinate_b_partial"] == pytest.approx(1.5)
    assert named["tsf_mJ_m2"] == pytest.approx(22.0)
    assert named["esf_mJ_m2"] == pytest.approx(40.0)


def test_builders_reject_bad_input_with_clear_errors():
    with pytest.raises(BadStructure, match="lattice constant"):
        bain_cell(float("nan"), 1.0)
    with pytest.raises(BadStructure, match="c/a"):
        bain_cell(A0, 0.0)
    with pytest.raises(BadStructure, match="n_layers"):
        slip_path_structures(A0, 1, [0.5])
    with pytest.raises(BadStructure, match="n_layers"):
        twin_path_structures(A0, 8, 5, 4)  # a 4-layer twin needs at least 10 layers
    with pytest.raises(BadStructure, match="twin path coordinate"):
        twin_structure(A0, 12, 11.0)
    with pytest.raises(BadStructure, match="vacuum"):
        slip_path_structures(A0, 6, [0.5], vacuum=-1.0)
