"""The result type every ANI engine returns, in a module of its own.

Both the calculator (:mod:`alal.potentials.ani`, with the torchani engine) and the fast engine
(:mod:`alal.potentials.engine.engine`) import it from here, so neither imports the other at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EngineResult:
    """What an ANI engine returns for one structure (eV, eV/Å, eV/Å³; stress as a 3x3 tensor)."""

    member_energies: np.ndarray  # (M,)
    forces: np.ndarray | None = None  # (N, 3), ensemble mean
    stress: np.ndarray | None = None  # (3, 3), ensemble mean, positive = tensile (ASE convention)
    member_forces: np.ndarray | None = None  # (M, N, 3) when asked for
    atomic_energies: np.ndarray | None = None  # (M, N) when the engine provides them
