"""Random disordered orthorhombic cells, exactly as the paper's Sec. IIB2.

1. each side of the orthorhombic cell uniform in ``side_A`` (paper: 10.5-17.0 Å);
2. a target density uniform in ``density_g_cm3`` (paper: 1.80-4.05 g/cm³);
3. atoms placed uniformly at random; a placement closer than ``r_min_A`` (paper: 1.8 Å) to an existing atom,
   periodic images included, is rejected; placement repeats until the target density is reached
   (the atom count is the nearest integer to density × volume / atomic mass, at least 1).

Everything is decided by one integer seed, recorded in ``atoms.info``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers

from alal.errors import AlalError, BadStructure
from alal.units import AMU_TO_G


@dataclass(frozen=True)
class BuilderSettings:
    side_A: tuple[float, float] = (10.5, 17.0)
    density_g_cm3: tuple[float, float] = (1.80, 4.05)
    r_min_A: float = 1.8
    max_tries_per_atom: int = 20000
    element: str = "Al"

    @classmethod
    def from_config(cls, cfg) -> "BuilderSettings":
        b = cfg.section("builder")
        return cls(
            side_A=tuple(b["side_A"]),
            density_g_cm3=tuple(b["density_g_cm3"]),
            r_min_A=b["r_min_A"],
            max_tries_per_atom=b["max_tries_per_atom"],
            element=cfg["run.element"],
        )

    def atom_count_range(self) -> tuple[int, int]:
        """Fewest and most atoms a cell can get (for plans and cost estimates)."""
        lo = n_atoms_for(self.side_A[0] ** 3, self.density_g_cm3[0], self.element)
        hi = n_atoms_for(self.side_A[1] ** 3, self.density_g_cm3[1], self.element)
        return lo, hi


def n_atoms_for(volume_A3: float, density_g_cm3: float, element: str) -> int:
    mass_g = atomic_masses[atomic_numbers[element]] * AMU_TO_G
    return max(1, int(round(density_g_cm3 * volume_A3 * 1e-24 / mass_g)))


def random_cell(seed: int, settings: BuilderSettings = BuilderSettings()) -> Atoms:
    """One random disordered cell, fully determined by ``seed``."""
    rng = np.random.default_rng(seed)
    for redraw in range(20):
        sides = rng.uniform(*settings.side_A, size=3)
        density = float(rng.uniform(*settings.density_g_cm3))
        n = n_atoms_for(float(np.prod(sides)), density, settings.element)
        positions = _place(rng, sides, n, settings.r_min_A, settings.max_tries_per_atom)
        if positions is not None:
            atoms = Atoms(f"{settings.element}{n}", positions=positions, cell=np.diag(sides), pbc=True)
            atoms.info.update(
                {
                    "builder": "random_cell",
                    "builder_seed": int(seed),
                    "builder_redraws": redraw,
                    "target_density_g_cm3": density,
                }
            )
            return atoms
    raise AlalError(
        f"could not place atoms {settings.r_min_A} Å apart at up to {settings.density_g_cm3[1]} g/cm³ after 20 cells; "
        "lower builder.density_g_cm3 or builder.r_min_A"
    )


def _place(rng, sides: np.ndarray, n: int, r_min: float, max_tries: int) -> np.ndarray | None:
    positions = np.empty((n, 3))
    r2 = r_min * r_min
    placed = 0
    tries = 0
    while placed < n:
        # propose a block of candidates at once; accept them one by one (each acceptance changes the rest)
        block = rng.uniform(0.0, 1.0, size=(64, 3)) * sides
        for p in block:
            tries += 1
            if placed:
                d = positions[:placed] - p
                d -= sides * np.round(d / sides)  # minimum image (exact for r_min < side/2)
                if np.min(np.einsum("ij,ij->i", d, d)) < r2:
                    if tries > max_tries * n:
                        return None
                    continue
            positions[placed] = p
            placed += 1
            if placed == n:
                break
    return positions


def check_cell(atoms: Atoms, element: str, *, r_min_A: float | None = None) -> None:
    """Raise :class:`BadStructure` unless ``atoms`` is a periodic cell of ``element`` only (for custom builders)."""
    symbols = set(atoms.get_chemical_symbols())
    if symbols != {element}:
        foreign = ", ".join(sorted(symbols - {element})) or "no atoms"
        raise BadStructure(f"the builder produced a structure with {foreign}; this run's element is {element}")
    if not all(atoms.pbc):
        raise BadStructure("the builder produced a structure that is not periodic in all three directions")
    if atoms.get_volume() <= 0:
        raise BadStructure("the builder produced a cell with zero volume")
    if r_min_A is not None:
        from alal.potentials.inputs import min_pair_distance

        d = min_pair_distance(atoms, cutoff=r_min_A)
        if d < r_min_A - 1e-9:
            raise BadStructure(f"the builder produced atoms {d:.3f} Å apart (below r_min = {r_min_A} Å)")
