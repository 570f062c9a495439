"""Calculators defined outside alal, the way a user's package would define them (imported by import string)."""

from __future__ import annotations

from ase.calculators.emt import EMT


def wrapped_emt(scale: float = 1.0):
    """ASE's EMT, optionally with every energy, force and stress multiplied by ``scale`` (a different potential)."""
    return ScaledEMT(scale) if scale != 1.0 else EMT()


class ScaledEMT(EMT):
    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        super().calculate(atoms, properties, system_changes)
        for key in ("energy", "free_energy", "energies", "forces", "stress", "stresses"):
            if key in self.results:
                self.results[key] = self.results[key] * self.scale


class EMTWithoutStress(EMT):
    """EMT that, like many ML calculators, implements energy and forces only."""

    implemented_properties = ["energy", "free_energy", "energies", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        super().calculate(atoms, [p for p in properties if p != "stress"], system_changes)
        self.results.pop("stress", None)


class RaisesOnAluminium(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        raise RuntimeError("this model has no parameters for Al")


def not_a_calculator():
    return 42.0


NOT_CALLABLE = "just a string"


def emt_scaled_1p1():
    """EMT with energies, forces and stresses 10 % larger: a deliberately wrong student of plain EMT (its bulk
    modulus and elastic constants are 10 % off, its lattice constant unchanged)."""
    return ScaledEMT(1.1)
