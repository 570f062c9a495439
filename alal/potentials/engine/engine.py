"""FastANIEngine: energies, forces, stress and ensemble spread of an ANI ensemble in one pass.

One evaluation:
  1. cheap input checks (species, NaN, cell); the Verlet list is reused unless a pair may have entered
     the cutoff (``skin``, default 1 Å);
  2. geometry of every neighbour entry (also yields the smallest distance: the overlap check);
  3. AEVs of all atoms (compiled kernels on CPU, torch ops on CUDA or as fallback);
  4. all M member networks in one batched pass (per-atom, per-member energies), and their hand-written
     backward to dE/dAEV for the ensemble mean (or for each member when per-member forces are asked for);
  5. analytic AEV backward to dE/d(displacement) per entry, then forces by a gather over partner entries
     and the virial from the same entries.

Batches (:meth:`FastANIEngine.evaluate_batch`): B independent systems (own sizes, own cells) go through
steps 2-5 as one flat list of atoms and entries (:class:`~alal.potentials.engine.neighbors.BatchList`):
one kernel call per step for all of them, which is what makes many small MD cells cheap. Each entry's
image shift is applied with its own system's cell; energies, forces and virials are split per system.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from alal.errors import AlalError, BadStructure
from alal.potentials.ani_model import ANIModel
from alal.potentials.engine import native
from alal.potentials.engine.aev import AEVConstants
from alal.potentials.engine.checks import check_atoms, check_overlap
from alal.potentials.engine.neighbors import BatchList, VerletList, ase_neighbor_list
from alal.potentials.engine.result import EngineResult

DEFAULT_SKIN_A = 1.0


@dataclass
class EngineStats:
    """Cumulative counters (cheap; read by the benchmark and by MD progress output)."""

    calls: int = 0
    seconds: float = 0.0  # wall time inside evaluate() and evaluate_batch()
    neighbor_builds: int = 0

    def as_dict(self) -> dict:
        return {"calls": self.calls, "seconds": self.seconds, "neighbor_builds": self.neighbor_builds}


class FastANIEngine:
    """The alal ANI engine (see the module docstring).

    ``dtype``: "float32" (MD) or "float64" (properties; matches torchani to 1e-8 eV/atom). ``device``: "cpu" or
    "cuda". ``skin``: Verlet skin in Å. ``backend``: "native" (compiled CPU kernels), "torch" (tensor ops: the
    CUDA path and the fallback) or None for the best available (env ``ALAL_ENGINE_BACKEND`` overrides).
    One engine keeps per-structure state (neighbour lists, buffers): use one per thread. Many small systems
    (e.g. the active-learning sampler's MD cells) are evaluated together with :meth:`evaluate_batch`.
    """

    name = "alal"
    checks_structure = True  # ANICalculator leaves the (expensive) overlap check to us

    def __init__(self, model: ANIModel, *, dtype: str = "float32", device: str = "cpu", skin: float = DEFAULT_SKIN_A,
                 backend: str | None = None):
        if dtype not in ("float32", "float64"):
            raise AlalError(f"dtype must be 'float32' or 'float64', not '{dtype}'")
        if skin < 0:
            raise AlalError(f"the Verlet skin must be >= 0, not {skin}")
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise AlalError("device='cuda' was asked for but torch sees no CUDA device; use device='cpu'")
        if device.type not in ("cpu", "cuda"):
            raise AlalError(f"device must be 'cpu' or 'cuda', not '{device}'")
        model.validate()
        self.model = model
        self.dtype = dtype
        self.device = device
        self.species = tuple(model.species)
        self._z_to_index = self._species_lookup(model.species)
        self.const = AEVConstants.from_parameters(model.aev, len(model.species))
        self.unit = float(model.energy_unit_eV)
        self.self_energies = np.array([model.self_energies[sp] for sp in model.species], dtype=np.float64)
        self.n_members = model.n_members
        self.backend_note = ""  # why the backend is not the preferred one, if it is not
        self.backend, self._search = self._make_backend(backend)
        self.neighbors = VerletList(self.const.radial_cutoff, skin, self._search)
        self.batch_slots: list[VerletList] = []  # evaluate_batch: slot i's list, kept across calls
        self._batch_list = BatchList()
        self.stats = EngineStats()

    # ------------------------------------------------------------------ construction helpers

    @staticmethod
    def _species_lookup(species) -> np.ndarray:
        from ase.data import atomic_numbers

        table = np.full(128, -1, dtype=np.int32)
        for i, sp in enumerate(species):
            table[atomic_numbers[sp]] = i
        return table

    def _make_backend(self, backend: str | None):
        from alal.potentials.engine.backend_native import NativeBackend
        from alal.potentials.engine.backend_torch import TorchBackend

        backend = backend or os.environ.get("ALAL_ENGINE_BACKEND") or None
        if backend not in (None, "native", "torch"):
            raise AlalError(f"unknown engine backend '{backend}' (choose 'native' or 'torch')")
        if backend == "native" and self.device.type != "cpu":
            raise AlalError("the native backend runs on the CPU only; use backend='torch' on CUDA")
        # the compiled kernels also provide the neighbour search, on every device
        try:
            kernels = native.load()
        except native.NativeUnavailable as exc:
            kernels = None
            if backend == "native":
                raise AlalError(f"the compiled engine kernels are unavailable: {exc}") from exc
            self.backend_note = f"compiled kernels unavailable ({exc}); torch backend and ASE neighbour search"
            if self.device.type == "cpu":
                warnings.warn(f"alal engine: {self.backend_note}", RuntimeWarning, stacklevel=3)
        threads = lambda: max(1, torch.get_num_threads())  # noqa: E731
        if kernels is not None:
            search = lambda pos, cell, pbc, cutoff: kernels.neighbor_list(pos, cell, pbc, cutoff, threads())  # noqa: E731
        else:
            search = ase_neighbor_list
        if kernels is not None and self.device.type == "cpu" and backend in (None, "native"):
            return NativeBackend(kernels, self.const, self.model, self.dtype), search
        return TorchBackend(self.const, self.model, self.dtype, self.device), search

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, atoms, *, forces: bool = True, stress: bool = False, member_forces: bool = False) -> EngineResult:
        """Member energies and per-atom member energies always; mean forces when ``forces``; the mean stress
        (ASE sign, eV/Å³) when ``stress``; per-member forces when ``member_forces`` (one pass, ~2x the cost).
        Raises BadStructure for bad input (foreign species, NaN, degenerate cell, overlapping atoms)."""
        t0 = time.perf_counter()
        try:
            return self._evaluate([atoms], [self.neighbors], forces=forces, stress=stress,
                                  member_forces=member_forces, batch=False)[0]
        finally:
            self._count(t0)

    def evaluate_batch(self, atoms_list, *, forces: bool = True, stress: bool = False,
                       member_forces: bool = False) -> list[EngineResult]:
        """:meth:`evaluate` for B independent systems (any sizes, any cells) in one pass through the kernels
        and networks; result i is system i's, with the same numbers as ``evaluate(atoms_list[i])`` to
        round-off (B = 1 is exactly the :meth:`evaluate` path).

        Neighbour lists: slot i of the batch keeps its own Verlet list across calls, so pass the systems in
        the same order every step (as an MD loop over B cells does); a slot whose atoms (count, species,
        periodicity) changed, or whose atoms or cell moved past the skin, is rebuilt on its own (so another
        order is still correct, only slower). The lists are separate from :meth:`evaluate`'s. Bad input raises
        the error :meth:`evaluate` raises, prefixed with "system i of the batch: "."""
        atoms_list = list(atoms_list)
        if not atoms_list:
            return []
        while len(self.batch_slots) < len(atoms_list):
            self.batch_slots.append(VerletList(self.neighbors.cutoff, self.neighbors.skin, self._search))
        t0 = time.perf_counter()
        try:
            return self._evaluate(atoms_list, self.batch_slots[: len(atoms_list)], forces=forces, stress=stress,
                                  member_forces=member_forces, batch=True)
        finally:
            self._count(t0)

    def _count(self, t0: float) -> None:
        self.stats.calls += 1
        self.stats.seconds += time.perf_counter() - t0
        self.stats.neighbor_builds = self._neighbor_builds()

    def _neighbor_builds(self) -> int:
        return self.neighbors.n_builds + sum(nl.n_builds for nl in self.batch_slots)

    def _evaluate(self, systems: list, lists: list[VerletList], *, forces: bool, stress: bool, member_forces: bool,
                  batch: bool) -> list[EngineResult]:
        """Systems[i] with neighbour list lists[i]; ``batch``: errors name the system."""
        positions, numbers = [], []
        for b, (atoms, nl) in enumerate(zip(systems, lists)):
            try:
                check_atoms(atoms, self.species)
                if stress and not all(atoms.pbc):
                    raise AlalError("stress needs a structure periodic in all three directions")
            except AlalError as exc:
                if not batch:
                    raise
                raise _in_system(exc, b) from exc
            pos = np.asarray(atoms.positions, dtype=np.float64)
            nl.update(pos, atoms.cell.array, np.asarray(atoms.pbc, dtype=bool), atoms.numbers)
            positions.append(pos)
            numbers.append(atoms.numbers)
        if len(lists) == 1:  # one system: its own list, no copies
            structure, positions, numbers = lists[0], positions[0], numbers[0]
            bounds = np.array([0, len(positions)])
        else:
            structure = self._batch_list
            structure.join(lists)
            positions, numbers = np.concatenate(positions), np.concatenate(numbers)
            bounds = structure.atom_offsets
        species = self._z_to_index[numbers]
        be = self.backend
        be.set_structure(structure, species)
        min_distance = be.geometry(positions, np.stack([nl.current_cell for nl in lists]))
        try:
            check_overlap(min_distance)
        except BadStructure as exc:
            if not batch:
                raise
            system = 0
            if len(lists) > 1:  # the system holding the shortest entry
                entry = int(np.argmin(be.distances()))
                system = int(np.searchsorted(structure.entry_offsets, entry, side="right")) - 1
            raise _in_system(exc, system) from exc

        want_grad = forces or stress or member_forces
        grad_mode = ("members" if member_forces else "mean") if want_grad else None
        outputs = be.run(grad_mode, self.unit)  # (M, N) network outputs; entry gradients kept in the backend

        atomic = (outputs + self.self_energies[species][None, :]) * self.unit  # (M, N) eV
        if want_grad:
            n_channels = self.n_members if member_forces else 1
            weights = np.full(n_channels, 1.0 / n_channels) if stress else None
            channel_forces, virial = be.gather(weights)  # (C, N, 3), (B, 3, 3)
        results = []
        for b, atoms in enumerate(systems):
            atoms_b = slice(bounds[b], bounds[b + 1])
            result = EngineResult(member_energies=atomic[:, atoms_b].sum(axis=1), atomic_energies=atomic[:, atoms_b])
            if want_grad:
                result.forces = channel_forces[:, atoms_b].mean(axis=0)
                if member_forces:
                    result.member_forces = channel_forces[:, atoms_b]
                if stress:
                    volume = abs(float(np.linalg.det(atoms.cell.array)))
                    result.stress = 0.5 * (virial[b] + virial[b].T) / volume
            results.append(result)
        return results

    def aevs(self, atoms) -> np.ndarray:
        """The atomic environment vectors (N, F) in torchani's layout (for diagnostics and for training code)."""
        check_atoms(atoms, self.species)
        positions = np.asarray(atoms.positions, dtype=np.float64)
        pbc = np.asarray(atoms.pbc, dtype=bool)
        nl = self.neighbors
        nl.update(positions, atoms.cell.array, pbc, atoms.numbers)
        self.backend.set_structure(nl, self._z_to_index[atoms.numbers])
        check_overlap(self.backend.geometry(positions, nl.current_cell[None]))
        return np.array(self.backend.aev(), dtype=np.float64)

    def describe(self) -> dict:
        """Settings for provenance and benchmark output."""
        return {
            "engine": self.name,
            "backend": self.backend.name,
            "dtype": self.dtype,
            "device": str(self.device),
            "skin_A": self.neighbors.skin,
            "threads": torch.get_num_threads(),
            "neighbor_list_builds": self._neighbor_builds(),
            "note": self.backend_note,
        }


def _in_system(exc: AlalError, index: int) -> AlalError:
    """The same error, naming the system of the batch it is about."""
    return type(exc)(f"system {index} of the batch: {exc}")
