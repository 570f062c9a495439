"""Unit conversions and physical constants, all derived from :mod:`ase.units`.

One home for every constant alal and the validation suite use, so that no number is typed twice (with two
CODATA vintages, as it used to be). Everything comes from ASE's default CODATA set (``ase.units.__codata_version__``,
CODATA 2014 in ASE 3.29): the calculators' own stresses, ASE's integrators (``ase.units.fs``, ``kB``) and our
conversions then agree to the last digit. Against CODATA 2018's exact SI values (e = 1.602176634e-19 C,
h = 6.62607015e-34 J s, k = 1.380649e-23 J/K) the 2014 values differ by < 4e-7 relative.

Names say what they convert: ``X_TO_Y`` multiplies a number in X into Y (``stress_eV_A3 * EV_PER_A3_TO_GPA``).
"""

from __future__ import annotations

from ase import units

EV_PER_A3_TO_GPA = 1.0 / units.GPa
"""1 eV/Å³ in GPa (≈ 160.2): stresses and elastic constants from ASE calculators to GPa."""

EV_PER_A2_TO_J_PER_M2 = units._e * 1e20
"""1 eV/Å² in J/m² (≈ 16.02): surface and fault energies per area."""

EV_PER_A2_TO_MJ_PER_M2 = 1e3 * EV_PER_A2_TO_J_PER_M2
"""1 eV/Å² in mJ/m² (≈ 16 022): stacking-fault energies."""

KB_EV_PER_K = units.kB
"""Boltzmann constant in eV/K (≈ 8.617e-5)."""

EV_PER_THZ = 1e12 * units._hplanck / units._e
"""Energy h·ν of a 1 THz vibration in eV (≈ 4.136e-3): phonon frequencies in THz to energies."""

AMU_TO_G = units._amu * 1e3
"""One atomic mass unit in grams (≈ 1.661e-24)."""

AMU_PER_A3_TO_G_PER_CM3 = AMU_TO_G / 1e-24
"""A mass density of 1 amu/Å³ in g/cm³ (≈ 1.661): 1 Å³ = 1e-24 cm³."""
