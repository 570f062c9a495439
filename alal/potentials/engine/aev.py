"""ANI atomic environment vector (AEV) constants, as every backend of the engine uses them.

The functional form is torchani's (``ANIRadial``/``ANIAngular`` with the cosine cutoff):
  radial  G_t   = sum_j 0.25 exp(-eta_r (r_ij - a_t)^2) fc_r(r_ij)
  angular G_ts  = sum_{j<k} 2 ((1 + cos(acos(0.95 cos theta_ijk) - theta_s)) / 2)^zeta
                            exp(-eta_a ((r_ij + r_ik)/2 - b_t)^2) fc_a(r_ij) fc_a(r_ik)
with feature layout [radial block per neighbour species | angular block per unordered species pair
(torchani's triu order), index t * n_sections + s].

The shifts, etas, zeta and sections are rounded to float32, exactly as torchani stores them (its buffers
are float32 and cast up for float64 models) and as NeuroChem computed them; cutoffs stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alal.potentials.ani_model import AEVParameters


def _f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).astype(np.float64)


@dataclass
class AEVConstants:
    n_species: int
    radial_cutoff: float
    angular_cutoff: float
    eta_r: float
    eta_a: float
    zeta: float
    shifts_r: np.ndarray
    shifts_a: np.ndarray
    sections: np.ndarray

    @classmethod
    def from_parameters(cls, p: AEVParameters, n_species: int) -> "AEVConstants":
        if p.angular_cutoff > p.radial_cutoff:
            raise ValueError("the angular cutoff must not exceed the radial cutoff")
        return cls(
            n_species=n_species,
            radial_cutoff=float(p.radial_cutoff),
            angular_cutoff=float(p.angular_cutoff),
            eta_r=float(_f32(p.radial_eta)),
            eta_a=float(_f32(p.angular_eta)),
            zeta=float(_f32(p.angular_zeta)),
            shifts_r=_f32(p.radial_shifts),
            shifts_a=_f32(p.angular_shifts),
            sections=_f32(p.angle_sections),
        )

    @property
    def n_radial(self) -> int:
        return len(self.shifts_r)

    @property
    def n_angular(self) -> int:
        return len(self.shifts_a) * len(self.sections)

    @property
    def n_pairs(self) -> int:
        return self.n_species * (self.n_species + 1) // 2

    @property
    def angular_offset(self) -> int:
        return self.n_species * self.n_radial

    @property
    def n_features(self) -> int:
        return self.angular_offset + self.n_pairs * self.n_angular

    def triu_index(self) -> np.ndarray:
        """(n_species, n_species) -> angular block of the unordered species pair (torchani's order)."""
        out = np.zeros((self.n_species, self.n_species), dtype=np.int32)
        k = 0
        for a in range(self.n_species):
            for b in range(a, self.n_species):
                out[a, b] = out[b, a] = k
                k += 1
        return out
