"""Crystal builders for aluminium: lattices at a given volume per atom, cubic supercells.

Oriented cells for planar faults and random disordered cells live with the code that uses them
(``validation.properties.gsfe``, ``alal.al.builder``); everything here is deterministic.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from alal.errors import UnknownName
from alal.units import AMU_PER_A3_TO_G_PER_CM3

IDEAL_HCP_C_OVER_A = float(np.sqrt(8.0 / 3.0))

# Atoms per conventional/primitive cell used here and the volume of that cell in units of a**3.
# (fcc: primitive, 1 atom, a^3/4; hcp: 2 atoms, sqrt(3)/2 a^2 c; bcc: primitive, a^3/2; sc: a^3; diamond: 2 atoms, a^3/4)
LATTICES = ("fcc", "hcp", "bcc", "sc", "diamond")


def lattice_constant_from_volume(lattice: str, volume_per_atom: float, c_over_a: float = IDEAL_HCP_C_OVER_A) -> float:
    v = float(volume_per_atom)
    if lattice == "fcc":
        return (4.0 * v) ** (1.0 / 3.0)
    if lattice == "bcc":
        return (2.0 * v) ** (1.0 / 3.0)
    if lattice == "sc":
        return v ** (1.0 / 3.0)
    if lattice == "diamond":
        return (8.0 * v) ** (1.0 / 3.0)
    if lattice == "hcp":
        # 2 atoms in sqrt(3)/2 a^2 c = sqrt(3)/2 (c/a) a^3
        return (2.0 * v / (np.sqrt(3.0) / 2.0 * c_over_a)) ** (1.0 / 3.0)
    raise UnknownName(f"unknown lattice '{lattice}': choose one of {', '.join(LATTICES)}")


def crystal(lattice: str, volume_per_atom: float, *, c_over_a: float = IDEAL_HCP_C_OVER_A, symbol: str = "Al") -> Atoms:
    """Smallest cell of ``lattice`` with the given volume per atom (primitive where ASE has one)."""
    a = lattice_constant_from_volume(lattice, volume_per_atom, c_over_a)
    if lattice == "hcp":
        return bulk(symbol, "hcp", a=a, c=c_over_a * a)
    if lattice == "sc":
        return bulk(symbol, "sc", a=a)
    return bulk(symbol, lattice, a=a)


def fcc_cubic(a: float, repeat: int | tuple[int, int, int] = 1, symbol: str = "Al") -> Atoms:
    """Conventional cubic FCC cell (4 atoms) repeated ``repeat`` times along each axis."""
    if isinstance(repeat, int):
        repeat = (repeat, repeat, repeat)
    return bulk(symbol, "fcc", a=a, cubic=True).repeat(repeat)


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density of a periodic structure in g/cm³."""
    return float(atoms.get_masses().sum() / atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3)
