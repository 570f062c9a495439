"""Random disordered cells (paper Sec. IIB2): box, density and r_min with periodic images."""

import numpy as np
import pytest
from ase import Atoms
from ase.neighborlist import neighbor_list

from alal.al.builder import BuilderSettings, check_cell, n_atoms_for, random_cell
from alal.errors import BadStructure
from alal.structures import density_g_cm3

PAPER = BuilderSettings()  # 10.5-17.0 Å, 1.80-4.05 g/cm³, r_min 1.8 Å
SMALL = BuilderSettings(side_A=(6.0, 7.0), density_g_cm3=(3.5, 4.05))  # dense small cells: many image contacts


@pytest.mark.parametrize("settings", [PAPER, SMALL], ids=["paper", "small-dense"])
def test_box_density_and_rmin_with_periodic_images(settings):
    for seed in range(6):
        a = random_cell(seed, settings)
        sides = np.diag(a.cell.array)
        assert np.allclose(a.cell.array, np.diag(sides)), "orthorhombic"
        assert all(settings.side_A[0] <= x <= settings.side_A[1] for x in sides)
        target = a.info["target_density_g_cm3"]
        assert settings.density_g_cm3[0] <= target <= settings.density_g_cm3[1]
        # the density is reached up to one atom (the count is the nearest integer)
        one_atom = density_g_cm3(Atoms("Al", cell=a.cell, pbc=True))
        assert abs(density_g_cm3(a) - target) <= 0.5 * one_atom + 1e-12
        assert len(a) == n_atoms_for(a.get_volume(), target, "Al")
        # r_min, periodic images included (neighbor_list sees images across the faces)
        d = neighbor_list("d", a, settings.r_min_A + 1e-9)
        assert len(d) == 0, f"pair closer than r_min: {d.min() if len(d) else None}"
        assert all(a.pbc)


def test_periodic_images_are_checked():
    """In a dense small cell some accepted pairs sit just above r_min across a face: the image check is active."""
    crossings = 0
    for seed in range(10):
        a = random_cell(seed, SMALL)
        i, j, S, d = neighbor_list("ijSd", a, 2.2)
        crossings += int(np.sum(np.any(S != 0, axis=1)))
        assert d.min() >= SMALL.r_min_A
    assert crossings > 0


def test_seed_determines_the_cell():
    a, b, c = random_cell(7, PAPER), random_cell(7, PAPER), random_cell(8, PAPER)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)
    assert not np.array_equal(a.cell, c.cell)
    assert a.info["builder_seed"] == 7


def test_check_cell_rejects_foreign_species():
    a = random_cell(1, SMALL)
    a[0].symbol = "Cu"
    with pytest.raises(BadStructure, match="Cu"):
        check_cell(a, "Al")
