"""Verlet neighbour list: an O(N) cell-list search with cutoff + skin, reused across MD steps.

The list holds every pair within ``cutoff + skin`` twice (i->j and j->i) in CSR order over centre atoms,
with integer image shifts ``n`` (displacement ``d = x_j - x_i + n @ cell``) and ``partner`` (the reverse
entry). It stays valid while no pair outside it can have come within ``cutoff``; :meth:`VerletList.update`
checks that from the atoms' displacements *and* the cell's change since the build, so NPT runs and volume
scans reuse the list too. The bound: a pair that was farther than ``cutoff + skin`` is now at least
``(cutoff + skin - 2 delta) (1 - eps)`` apart, where ``delta`` is the largest atomic displacement in
fractional coordinates (measured with the build-time cell) and ``eps = |C_ref^-1 (C - C_ref)|_2``.

Non-periodic directions get a stand-in cell vector orthogonal to the periodic ones (the search never wraps
along them, so only invertibility matters).
"""

from __future__ import annotations

import numpy as np


def effective_cell(cell: np.ndarray, pbc: np.ndarray, positions: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """The cell with every non-periodic vector replaced by an orthogonal stand-in (or by ``keep``'s vectors)."""
    cell = np.array(cell, dtype=np.float64).reshape(3, 3)
    if pbc.all():
        return cell
    if keep is not None:
        out = cell.copy()
        out[~pbc] = keep[~pbc]
        return out
    extent = float(np.ptp(positions, axis=0).max()) + 1.0 if len(positions) else 1.0
    periodic = [cell[a] for a in range(3) if pbc[a]]
    basis: list[np.ndarray] = []
    for v in periodic:  # Gram-Schmidt over the periodic vectors, then complete to 3D
        u = v - sum(np.dot(v, b) * b for b in basis)
        basis.append(u / np.linalg.norm(u))
    fill = []
    for trial in np.eye(3):
        u = trial - sum(np.dot(trial, b) * b for b in basis + fill)
        if np.linalg.norm(u) > 1e-6:
            fill.append(u / np.linalg.norm(u))
        if len(basis) + len(fill) == 3:
            break
    out = cell.copy()
    for a, u in zip([a for a in range(3) if not pbc[a]], fill):
        out[a] = u * extent
    return out


def ase_neighbor_list(positions, cell, pbc, cutoff):
    """Fallback search with ASE (O(N), slower): same CSR arrays as the compiled search."""
    from ase.neighborlist import primitive_neighbor_list

    i, j, S = primitive_neighbor_list("ijS", pbc, cell, positions, cutoff, self_interaction=False)
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i))
    i, j, S = i[order], j[order], S[order]
    n = len(positions)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(i, minlength=n), out=offsets[1:])
    # partner: sorting entries by their reversed key (j, i, -S) lists the partners of the sorted entries
    # (the k-th smallest reversed key equals entry k's key, so the entry holding it is k's partner)
    partner = np.lexsort((-S[:, 2], -S[:, 1], -S[:, 0], i, j))
    return offsets, j.astype(np.int32), np.ascontiguousarray(S, dtype=np.int32), partner.astype(np.int64)


class VerletList:
    """Neighbour list within ``cutoff + skin``, rebuilt only when a pair may have entered ``cutoff``."""

    atom_system = None  # one system (a BatchList names each atom's system)

    def __init__(self, cutoff: float, skin: float, search):
        self.cutoff = float(cutoff)
        self.skin = float(skin)
        self.search = search  # (positions, cell, pbc, cutoff) -> (offsets, nbr, shift, partner)
        self.n_builds = 0
        self._key = None
        self.offsets = self.nbr = self.shift = self.partner = None
        self.cell = None  # effective cell of the build

    @property
    def n_entries(self) -> int:
        return 0 if self.nbr is None else len(self.nbr)

    def update(self, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray, numbers: np.ndarray) -> bool:
        """Make the list valid for these positions and cell; return True when it was rebuilt."""
        key = (len(positions), tuple(bool(p) for p in pbc), numbers.tobytes())
        if key == self._key:
            cell_eff = effective_cell(cell, pbc, positions, keep=self.cell)
            if self._still_valid(positions, cell_eff):
                self._cell_now = cell_eff
                return False
        cell_eff = effective_cell(cell, pbc, positions)
        self.offsets, self.nbr, self.shift, self.partner = self.search(positions, cell_eff, pbc, self.cutoff + self.skin)
        self._key = key
        self.cell = cell_eff
        self._inv_ref = np.linalg.inv(cell_eff)
        self._frac_ref = positions @ self._inv_ref
        self._cell_now = cell_eff
        self.n_builds += 1
        return True

    @property
    def current_cell(self) -> np.ndarray:
        """The effective cell for the positions of the last update (shifts are applied with it)."""
        return self._cell_now

    def _still_valid(self, positions: np.ndarray, cell_eff: np.ndarray) -> bool:
        eps = float(np.linalg.norm(self._inv_ref @ (cell_eff - self.cell), 2))
        if not eps < 0.5:
            return False
        frac = positions @ np.linalg.inv(cell_eff)
        moved = (frac - self._frac_ref) @ self.cell
        delta = float(np.sqrt(np.max(np.einsum("ij,ij->i", moved, moved)))) if len(moved) else 0.0
        return (self.cutoff + self.skin - 2.0 * delta) * (1.0 - eps) >= self.cutoff


class BatchList:
    """The Verlet lists of a batch of independent systems joined into one flat list, so that one kernel call
    covers all of them: atoms and entries concatenated in system order, atom indices (``nbr``) and entry
    indices (``offsets``, ``partner``) shifted by each system's start. Integer image shifts stay per entry
    and are applied with the system's own cell (``atom_system`` names it). Rejoined only when a system's
    list was rebuilt (or the batch changed), which is when the concatenation is worth its O(E) cost."""

    def __init__(self):
        self.n_builds = 0  # joins: backends re-upload the structure when this changes
        self._key = None
        self.offsets = self.nbr = self.shift = self.partner = self.atom_system = None
        self.atom_offsets = self.entry_offsets = None  # (B + 1,) system boundaries

    @property
    def n_entries(self) -> int:
        return 0 if self.nbr is None else len(self.nbr)

    def join(self, lists: list[VerletList]) -> None:
        key = tuple((id(nl), nl.n_builds) for nl in lists)
        if key == self._key:
            return
        n_atoms = np.array([len(nl.offsets) - 1 for nl in lists], dtype=np.int64)
        n_entries = np.array([nl.n_entries for nl in lists], dtype=np.int64)
        self.atom_offsets = np.concatenate([[0], np.cumsum(n_atoms)])
        self.entry_offsets = np.concatenate([[0], np.cumsum(n_entries)])
        self.offsets = np.concatenate(
            [nl.offsets[:-1] + e0 for nl, e0 in zip(lists, self.entry_offsets)] + [self.entry_offsets[-1:]])
        self.nbr = np.concatenate([nl.nbr + np.int32(a0) for nl, a0 in zip(lists, self.atom_offsets)])
        self.shift = np.concatenate([nl.shift for nl in lists])
        self.partner = np.concatenate([nl.partner + e0 for nl, e0 in zip(lists, self.entry_offsets)])
        self.atom_system = np.repeat(np.arange(len(lists), dtype=np.int32), n_atoms)
        self._key = key
        self.n_builds += 1
