"""The potential's own relaxed FCC lattice constant, shared by every property that needs it.

Properties are evaluated at each potential's own a0 (not experiment's): a strained reference state would bias
elastic constants, fault energies and phonons.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar

from alal.errors import AlalError
from alal.structures import fcc_cubic

A_BRACKET = (3.6, 4.6)  # Å; every Al potential we know has a0 well inside


def _pressure(calc, a: float) -> float:
    atoms = fcc_cubic(a)
    atoms.calc = calc
    return float(-np.trace(atoms.get_stress(voigt=False)) / 3.0)


def _energy(calc, a: float) -> float:
    atoms = fcc_cubic(a)
    atoms.calc = calc
    return float(atoms.get_potential_energy() / len(atoms))


def relaxed_fcc_lattice_constant(calc, bracket: tuple[float, float] = A_BRACKET) -> float:
    """a0 (Å) where the pressure of ideal FCC vanishes (root of P(a), xtol 1e-9 Å).

    Uses the calculator's stress (exact derivative); falls back to minimising E(a) when the calculator has
    no stress or P(a) does not change sign in the bracket.
    """
    try:
        lo, hi = bracket
        grid = np.linspace(lo, hi, 11)
        p = [_pressure(calc, a) for a in grid]
        for i in range(len(grid) - 1):
            if p[i] > 0 >= p[i + 1]:
                return float(brentq(lambda a: _pressure(calc, a), grid[i], grid[i + 1], xtol=1e-10, rtol=1e-14))
    except (NotImplementedError, KeyError):
        pass
    res = minimize_scalar(lambda a: _energy(calc, a), bounds=bracket, method="bounded", options={"xatol": 1e-7})
    if not res.success or abs(res.x - bracket[0]) < 1e-3 or abs(res.x - bracket[1]) < 1e-3:
        raise AlalError(f"could not find an FCC energy minimum between {bracket[0]} and {bracket[1]} Å")
    return float(res.x)


def fcc_energy_per_atom(calc, a: float) -> float:
    return _energy(calc, a)
