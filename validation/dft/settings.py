"""Every numerical choice of the GPAW-PBE references, in one place.

The production values are justified by ``reference_data/dft/convergence.json`` (``alal reference --only
convergence``); the numbers quoted in the comments come from that study. ``QUICK`` is for smoke runs only
(tests, ``alal reference --quick``): far from converged, never written over the committed references.

k-point meshes: Γ-centred Monkhorst-Pack meshes derived from a density D (k-points per Å⁻¹, the convention
of ASE's ``kptdensity``): ``n_i = max(1, ceil(D · 2π |b_i|))`` with ``b_i`` the reciprocal vectors without the
2π. Γ-centred because even Monkhorst-Pack meshes break the hexagonal symmetry of HCP and of the {111} fault
cells.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np
from ase import Atoms

from alal.errors import AlalError


@dataclass(frozen=True)
class DFTSettings:
    """Plane-wave PBE settings. Energies are the variational (free) energies, consistent with the stress."""

    # 350 eV: Al's PAW setup converges fast; energy differences change by < 0.3 meV/atom from 400 to 500 eV
    # (cached convergence runs: HCP cutoff/400 vs cutoff/500), and the elastic constants come from central
    # stress differences, which cancel the constant Pulay stress of a finite basis.
    cutoff_eV: float = 350.0
    # 5 k-points per Å⁻¹ (16×16×16 for the FCC primitive cell). The budget of `make reference` (≤ 60 min on 2
    # cores for everything) sets it: denser meshes (6-10) changed bulk energy differences by ~1 meV/atom in the
    # partial convergence study, below the potentials' errors we measure (5-60 meV/atom).
    kpoint_density_per_A_inv: float = 5.0
    # Cold smearing: its energy error is third order in the width, so a moderate width converges with far fewer
    # k-points than Fermi-Dirac at the same bias (convergence.json: smearing scan).
    smearing: str = "marzari-vanderbilt"
    smearing_width_eV: float = 0.2
    xc: str = "PBE"
    # GPAW SCF criteria: energy change per valence electron (eV), density change per valence electron,
    # eigenstate residual (eV²). Tighter than GPAW's defaults (5e-4, 1e-4, 4e-8): the GSFE differences are
    # fractions of a meV per atom.
    scf_energy_eV_per_electron: float = 1e-6
    scf_density: float = 2e-5
    scf_eigenstates_eV2: float = 1e-9
    max_scf_iterations: int = 200
    # Per-property departures from the values above (property name -> {field: value}), each justified where
    # it is set. A property always runs with ``for_property(name)``, which applies them.
    overrides: dict = field(default_factory=dict)
    label: str = "production"

    def for_property(self, prop: str) -> "DFTSettings":
        changes = dict(self.overrides.get(prop, {}))
        unknown = set(changes) - set(self.__dataclass_fields__) - {"overrides"}
        if unknown:
            raise AlalError(f"settings override for {prop} names unknown fields: {sorted(unknown)}")
        return replace(self, **changes, overrides={}, label=f"{self.label}/{prop}")

    def gpaw_parameters(self, kpts: tuple[int, int, int]) -> dict:
        """Keyword arguments for ``gpaw.GPAW`` (without ``txt``)."""
        from gpaw import PW

        return {
            "mode": PW(self.cutoff_eV),
            "xc": self.xc,
            "kpts": {"size": tuple(int(k) for k in kpts), "gamma": True},
            "occupations": {"name": self.smearing, "width": self.smearing_width_eV},
            "convergence": {
                "energy": self.scf_energy_eV_per_electron,
                "density": self.scf_density,
                "eigenstates": self.scf_eigenstates_eV2,
            },
            "maxiter": self.max_scf_iterations,
        }

    def to_json(self) -> dict:
        d = asdict(self)
        d["kpoint_mesh"] = "Gamma-centred, n_i = max(1, ceil(D * 2 pi |b_i|)), D = kpoint_density_per_A_inv"
        d["energy"] = "variational free energy (force-consistent), eV"
        d["mode"] = "plane waves"
        d["setups"] = "GPAW PAW setups from gpaw-data (Al.PBE, 3 valence electrons)"
        return d

    def fingerprint(self) -> str:
        """sha256 of the settings' canonical JSON (label and descriptions excluded: they change no number)."""
        d = asdict(self)
        d.pop("label", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def with_(self, **changes) -> "DFTSettings":
        return replace(self, **changes)


# GSFE: 1×1×8 {111} cells (8 atoms, 18.7 Å along [111]) at density 8 like the EOS fits: the untilted cell's
# 21×21×3 mesh, passed as the same Cartesian k-points to every tilted cell (validation.dft.gsfe). Measured on
# 9-layer cells at 350 eV (reference_data/dft/withdrawn/gsfe_mesh_9layers.json): from 11×11×2 to 13×13×2 the ISF
# moved from 153 to 58 mJ/m² and the twin lamella from 160 to 107 — Al needs the dense mesh. The
# gsfe_mesh study measures the 17×17×3 → 21×21×3 change: γ_isf 108.5 → 122.0 mJ/m² (the stated ±14 mJ/m²). Cutoff 250 eV: γ(0.5) and γ_isf moved by 0.03 and
# 0.2 mJ/m² from 250 to 350 eV (8 layers, 7×7×1, same cells: the basis error cancels at fixed volume), and it
# saves 30 % of the time.
# EOS fits and elastic constants: 8 k-points per Å⁻¹ (22×22×22 for FCC). Measured: at 5 (14×14×14 for BCC) the
# BCC-FCC difference came out 13 meV/atom low and C44 had the wrong sign; from density 8 to 10 the BCC-FCC and
# HCP-FCC differences change by < 0.5 meV/atom (cached convergence runs). One-atom cells make this affordable.
# The E(V) curves for the figure stay at 5 (validation.dft.eos).
PRODUCTION = DFTSettings(overrides={"gsfe": {"kpoint_density_per_A_inv": 8.0, "cutoff_eV": 250.0},
                                    "eos": {"kpoint_density_per_A_inv": 8.0},
                                    "elastic": {"kpoint_density_per_A_inv": 8.0}})

# Smoke runs: seconds per calculation. Not converged (a0 off by ~0.01 Å, energy differences off by meV).
QUICK = DFTSettings(cutoff_eV=250.0, kpoint_density_per_A_inv=2.0, smearing_width_eV=0.2,
                    scf_energy_eV_per_electron=1e-5, scf_density=1e-4, scf_eigenstates_eV2=1e-8,
                    label="quick (smoke test, not converged)")


def kpoint_mesh(atoms: Atoms, density_per_A_inv: float) -> tuple[int, int, int]:
    """Γ-centred mesh with at least ``density_per_A_inv`` k-points per Å⁻¹ along every reciprocal vector."""
    if not (density_per_A_inv > 0 and math.isfinite(density_per_A_inv)):
        raise AlalError(f"k-point density must be a positive number (got {density_per_A_inv})")
    recip = atoms.cell.reciprocal()  # rows b_i, without the 2π
    out = []
    for i in range(3):
        if not atoms.pbc[i]:
            out.append(1)
            continue
        n = density_per_A_inv * 2.0 * math.pi * float(np.linalg.norm(recip[i]))
        out.append(max(1, int(math.ceil(n - 1e-6))))
    return tuple(out)


def densest_mesh(structures: list[Atoms], density_per_A_inv: float) -> tuple[int, int, int]:
    """One mesh for a family of cells of the same shape (a volume scan, a path): the element-wise maximum.

    Using one mesh along a scan keeps E(V) smooth (a mesh that jumps with the volume puts kinks into the
    curve); taking the maximum keeps every member at or above the target density.
    """
    meshes = np.array([kpoint_mesh(a, density_per_A_inv) for a in structures])
    return tuple(int(x) for x in meshes.max(axis=0))


def cartesian_kpoints(reference: Atoms, mesh: tuple[int, int, int], atoms: Atoms) -> np.ndarray:
    """The Γ-centred ``mesh`` of ``reference``'s reciprocal cell, as reduced coordinates of ``atoms``' cell.

    Why: a fault made by tilting the third cell vector changes the in-plane reciprocal vectors (they must stay
    normal to the tilted vector), so the *same* reduced mesh samples *different* Cartesian k-points at every point
    of a path; with one or two k-points along the stacking direction that alone moved γ by hundreds of mJ/m²
    (reference_data/dft/withdrawn/README.md). Passing every cell of a path the Cartesian k-points of the untilted
    cell keeps the sampling identical along the path, and a tilt by a lattice vector (a twin lamella, u = 3)
    gives exactly the untilted cell's energy. Indices run symmetrically about Γ (−(n−1)/2 … (n−1)/2 for odd n),
    so the set is closed under k → −k and time reversal halves it; even in-plane sizes would break that for tilted
    cells, hence odd in-plane meshes for the GSFE.
    """
    grids = [np.arange(n) - (n - 1) // 2 for n in mesh]
    frac = np.array(np.meshgrid(*grids, indexing="ij")).reshape(3, -1).T / np.asarray(mesh, float)
    cartesian = frac @ reference.cell.reciprocal().array  # rows: k without the 2π
    return cartesian @ atoms.cell.array.T  # k·a_i = reduced coordinate i
