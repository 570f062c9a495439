"""Input checks the engine does itself, cheaply, on every call.

The same checks as :func:`alal.potentials.inputs.check_structure` (same messages), except that the
overlap check uses the engine's own neighbour list instead of a fresh ASE one (which would cost as much
as the whole force evaluation). The overlap check itself runs after the geometry pass: :func:`check_overlap`.
"""

from __future__ import annotations

import numpy as np

from alal.errors import BadStructure
from alal.potentials.inputs import MIN_DISTANCE_A


def check_atoms(atoms, species: tuple[str, ...]) -> None:
    if len(atoms) == 0:
        raise BadStructure("the structure has no atoms")
    from ase.data import atomic_numbers

    known = np.array([atomic_numbers[sp] for sp in species])
    unknown = ~np.isin(atoms.numbers, known)
    foreign = sorted({atoms[i].symbol for i in np.flatnonzero(unknown)}) if unknown.any() else []
    if foreign:
        raise BadStructure(
            f"the structure contains {', '.join(foreign)}; this potential only knows {', '.join(species)}"
        )
    if not np.all(np.isfinite(atoms.positions)):
        raise BadStructure("the structure has NaN or infinite atomic positions")
    pbc = atoms.pbc
    if any(pbc):
        cell = atoms.cell.array
        if not np.all(np.isfinite(cell)):
            raise BadStructure("the cell has NaN or infinite entries")
        lengths = np.linalg.norm(cell, axis=1)
        for axis, periodic in enumerate(pbc):
            if periodic and lengths[axis] < 1e-6:
                raise BadStructure(f"the cell vector {axis} is zero along a periodic direction")
        vol = abs(np.linalg.det(cell))
        if all(pbc) and vol < 1e-6 * max(1.0, float(np.prod(lengths))):
            raise BadStructure(f"the cell has zero volume ({vol:.3g} Å³)")
        periodic_vectors = cell[np.asarray(pbc, dtype=bool)]
        if np.linalg.matrix_rank(periodic_vectors, tol=1e-6 * max(1.0, float(lengths.max()))) < len(periodic_vectors):
            raise BadStructure("the periodic cell vectors are linearly dependent (a degenerate cell)")


def check_overlap(min_distance: float) -> None:
    if min_distance < MIN_DISTANCE_A:
        raise BadStructure(
            f"two atoms are {min_distance:.3f} Å apart (below {MIN_DISTANCE_A} Å): atoms on top of each other"
        )
