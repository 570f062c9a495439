"""Common-neighbour analysis through OVITO's Python module (adaptive CNA, Stukowski 2012).

``cna_labels`` gives one structure label per atom; ``cna_fractions`` the fraction of each label. Labels:
"fcc", "hcp", "bcc", "ico", "other". OVITO is imported lazily (about a second) and needs no display.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from alal.errors import AlalError

LABELS = ("other", "fcc", "hcp", "bcc", "ico")  # OVITO's CommonNeighborAnalysisModifier.Type values 0..4
CRYSTALLINE = ("fcc", "hcp", "bcc")


def _ovito():
    try:
        from ovito.io.ase import ase_to_ovito
        from ovito.modifiers import CommonNeighborAnalysisModifier
    except ImportError as exc:  # pragma: no cover - ovito is a pinned dependency
        raise AlalError(f"common-neighbour analysis needs the 'ovito' package ({exc})") from exc
    return ase_to_ovito, CommonNeighborAnalysisModifier


def cna_labels(atoms: Atoms) -> np.ndarray:
    """Structure type index per atom (index into :data:`LABELS`), adaptive CNA."""
    ase_to_ovito, CNA = _ovito()
    wrapped = atoms.copy()
    if all(wrapped.pbc):
        wrapped.wrap()
    data = ase_to_ovito(wrapped)
    data.apply(CNA(mode=CNA.Mode.AdaptiveCutoff))
    return np.asarray(data.particles["Structure Type"], dtype=int)


def fractions_from_labels(labels: np.ndarray) -> dict[str, float]:
    counts = np.bincount(np.asarray(labels, int), minlength=len(LABELS))
    total = max(int(counts.sum()), 1)
    return {name: float(counts[i]) / total for i, name in enumerate(LABELS)}


def cna_fractions(atoms: Atoms) -> dict[str, float]:
    """Fractions of fcc, hcp, bcc, ico and other atoms (they sum to 1); plus "crystalline" = fcc + hcp + bcc."""
    f = fractions_from_labels(cna_labels(atoms))
    f["crystalline"] = sum(f[k] for k in CRYSTALLINE)
    return f
