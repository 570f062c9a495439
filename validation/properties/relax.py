"""A small, quiet relaxation helper for the static properties (vacancy, surfaces, faults).

One function, :func:`relax`, with the few modes the suite needs:

- all positions free at fixed cell (vacancy, surface slabs);
- positions free only along z, optionally with the cell height free as well (zero normal stress σ_zz): the
  "relaxed normal to the fault plane" GSFE protocol, which keeps the imposed in-plane shift.

LBFGS (ASE) in float64. Callers along a path warm-start from the previous relaxed geometry. The result says
whether ``fmax`` was reached, so a property can report an unconverged relaxation instead of silently using it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.constraints import FixCartesian
from ase.filters import UnitCellFilter
from ase.optimize import LBFGS

from alal.errors import AlalError


@dataclass
class Relaxed:
    atoms: Atoms
    energy_eV: float
    initial_energy_eV: float
    steps: int
    converged: bool
    fmax_eV_A: float  # largest residual force (generalised force with the cell filter)
    energy_std_eV: float | None = None  # ensemble spread at the end (ANI), None otherwise
    member_energies_eV: list[float] | None = None  # each ensemble member's energy at the end (ANI)


def relax(atoms: Atoms, calc, *, fmax: float = 0.005, steps: int = 200, only_z: bool = False,
          cell_zz: bool = False, maxstep: float = 0.1, alpha: float = 10.0) -> Relaxed:
    """Relax a copy of ``atoms`` with ``calc``; return the relaxed copy and its energy.

    ``only_z``: atoms move along z only (in-plane positions fixed). ``cell_zz``: the cell's zz strain relaxes
    too (σ_zz → 0; a tilted third vector keeps its in-plane components). ``fmax`` in eV/Å. ``alpha`` is LBFGS's
    initial Hessian guess (eV/Å²): aluminium is soft (a few eV/Å² per atom), and ASE's default of 70 takes two to
    three times more steps here.
    """
    work = atoms.copy()
    work.calc = calc
    if only_z:
        work.set_constraint(FixCartesian(range(len(work)), mask=(True, True, False)))
    e0 = float(work.get_potential_energy())
    # UnitCellFilter (linear deformation gradient) rather than FrechetCellFilter: the strains here are tiny,
    # and the matrix exponential/logarithm of the latter cost more than an EAM force call per step.
    target = UnitCellFilter(work, mask=[0, 0, 1, 0, 0, 0]) if cell_zz else work
    if cell_zz and not all(work.pbc):
        raise AlalError("relaxing the cell height needs a structure periodic in all three directions")
    # LBFGS: no dense Hessian to diagonalise each step (BFGS's eigh dominates for a few hundred atoms)
    opt = LBFGS(target, logfile=None, maxstep=maxstep, alpha=alpha)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    forces = target.get_forces()
    residual = float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0
    energy = float(work.get_potential_energy())
    std, members = ensemble_of(calc)
    work.set_constraint()
    return Relaxed(atoms=work, energy_eV=energy, initial_energy_eV=e0, steps=int(opt.nsteps),
                   converged=converged, fmax_eV_A=residual, energy_std_eV=std, member_energies_eV=members)


def ensemble_of(calc) -> tuple[float | None, list[float] | None]:
    """(spread, member energies) of the last calculation for ensembles (ANI); (None, None) otherwise."""
    results = getattr(calc, "results", {}) or {}
    std = results.get("energy_std")
    members = results.get("member_energies")
    return (float(std) if std is not None else None,
            [float(x) for x in members] if members is not None else None)


def energy_with_members(atoms: Atoms, calc) -> tuple[float, list[float] | None]:
    """Energy of ``atoms`` (eV) and, for ensembles, each member's energy."""
    atoms.calc = calc
    e = float(atoms.get_potential_energy())
    return e, ensemble_of(calc)[1]


def member_spread(members: list | None, members_ref: list | None, scale: float = 1.0) -> float | None:
    """Standard deviation over ensemble members of ``scale·(E_m − E_m,ref)``: the spread of an energy
    *difference*, which is what matters for γ(u), barriers and formation energies (None for single models)."""
    if members is None or members_ref is None:
        return None
    d = (np.asarray(members, float) - np.asarray(members_ref, float)) * scale
    return float(np.std(d))
