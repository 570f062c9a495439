"""Checks on structures before a calculator sees them: a clear error instead of NaN forces."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from alal.errors import BadStructure

# Atoms closer than this are "on top of each other": no potential of ours is meaningful there.
MIN_DISTANCE_A = 0.5


def check_structure(atoms: Atoms, species: tuple[str, ...] | list[str] = ("Al",), *, min_distance: float = MIN_DISTANCE_A) -> None:
    """Raise :class:`BadStructure` for foreign species, NaN positions, degenerate cells or overlapping atoms."""
    if len(atoms) == 0:
        raise BadStructure("the structure has no atoms")
    symbols = set(atoms.get_chemical_symbols())
    foreign = sorted(symbols - set(species))
    if foreign:
        raise BadStructure(
            f"the structure contains {', '.join(foreign)}; this potential only knows {', '.join(species)}"
        )
    pos = atoms.get_positions()
    if not np.all(np.isfinite(pos)):
        raise BadStructure("the structure has NaN or infinite atomic positions")
    if any(atoms.pbc):
        cell = atoms.cell.array
        if not np.all(np.isfinite(cell)):
            raise BadStructure("the cell has NaN or infinite entries")
        vol = abs(np.linalg.det(cell))
        lengths = np.linalg.norm(cell, axis=1)
        for axis, periodic in enumerate(atoms.pbc):
            if periodic and lengths[axis] < 1e-6:
                raise BadStructure(f"the cell vector {axis} is zero along a periodic direction")
        if all(atoms.pbc) and vol < 1e-6 * max(1.0, float(np.prod(lengths))):
            raise BadStructure(f"the cell has zero volume ({vol:.3g} Å³)")
    dmin = min_pair_distance(atoms, cutoff=min_distance)
    if dmin < min_distance:
        raise BadStructure(
            f"two atoms are {dmin:.3f} Å apart (below {min_distance} Å): atoms on top of each other"
        )


def min_pair_distance(atoms: Atoms, cutoff: float) -> float:
    """Smallest interatomic distance (periodic images included), or ``inf`` if none is below ``cutoff``."""
    from ase.neighborlist import neighbor_list

    if len(atoms) < 2 and not any(atoms.pbc):
        return float("inf")
    d = neighbor_list("d", atoms, cutoff, self_interaction=False)
    return float(d.min()) if len(d) else float("inf")
