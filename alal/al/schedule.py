"""The randomized nonequilibrium temperature schedule of the paper's Eq. 2:

    T(t) = T_start + (t / t_max) (T_end − T_start) + T_mod sin²(π t / t0)

with T_start, T_end, T_mod and t0 drawn uniformly from configured ranges (paper: T_start ∈ [10, 1000] K,
T_end ∈ [10, 600] K, T_mod ∈ [0, 2000] K, t0 ∈ [10, 50] ps) and t_max the trajectory's maximum length.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Schedule:
    T_start_K: float
    T_end_K: float
    T_mod_K: float
    t0_ps: float
    t_max_ps: float

    def temperature_K(self, t_ps: float) -> float:
        ramp = self.T_start_K + (t_ps / self.t_max_ps) * (self.T_end_K - self.T_start_K)
        return float(ramp + self.T_mod_K * math.sin(math.pi * t_ps / self.t0_ps) ** 2)

    @classmethod
    def draw(cls, rng: np.random.Generator, *, T_start_K, T_end_K, T_mod_K, t0_ps, t_max_ps: float) -> "Schedule":
        return cls(
            T_start_K=float(rng.uniform(*T_start_K)),
            T_end_K=float(rng.uniform(*T_end_K)),
            T_mod_K=float(rng.uniform(*T_mod_K)),
            t0_ps=float(rng.uniform(*t0_ps)),
            t_max_ps=float(t_max_ps),
        )

    def as_dict(self) -> dict:
        return asdict(self)
