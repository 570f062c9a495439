"""ASE's EMT restricted to aluminium, with the same input checks as our other calculators."""

from __future__ import annotations

from ase.calculators.emt import EMT

from alal.potentials.inputs import check_structure


class AluminiumEMT(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=("positions",)):
        check_structure(atoms if atoms is not None else self.atoms, ("Al",))
        super().calculate(atoms, properties, system_changes)
