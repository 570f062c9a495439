"""A structure's identity: a hash of its species, positions, cell and periodicity.

Positions and cell are rounded to 1e-6 Å first, so a structure that went through a database or a file
(float64 round trip) keeps its hash. The hash is the key of every idempotent write in :mod:`alal.data.store`.
"""

from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms


def structure_hash(atoms: Atoms) -> str:
    """32 hex characters identifying ``atoms`` (species, positions, cell, pbc)."""
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    h.update(_rounded(atoms.get_positions()))
    h.update(_rounded(np.asarray(atoms.cell.array)))
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return h.hexdigest()[:32]


def _rounded(x: np.ndarray) -> bytes:
    return np.round(np.asarray(x, dtype=np.float64) * 1e6).astype(np.int64).tobytes()


def unit_interval(hex_hash: str, salt: str = "") -> float:
    """A number in [0, 1) derived from a hash (deterministic splits, deterministic fault draws)."""
    digest = hashlib.sha256((salt + hex_hash).encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)
