"""Structure builders for the transformation paths of the paper's Fig. 3: Bain path, GSFE slip and twin paths.

Shared by the static validation properties (``bain.py``, ``gsfe.py``) and the GPAW reference pipeline, so DFT
and every potential are evaluated on *identical* path coordinates. Everything here is pure, deterministic,
float64 and aluminium only. Relaxation (normal to the fault plane) is the caller's business.

Geometry of the {111} cells
---------------------------
z is normal to the (111) plane. The in-plane cell is the primitive hexagonal net of a {111} plane,
``a1 = a_h (1, 0, 0)``, ``a2 = a_h (1/2, √3/2, 0)`` with ``a_h = a0/√2`` (nearest-neighbour distance), one atom
per layer, layer spacing ``d = a0/√3``. Stacking A→B→C is a shift of ``(a1 + a2)/3`` per layer: a vector of
length ``a0/√6`` along ⟨112⟩, i.e. exactly one partial Burgers vector ``b_p``; the unit vector along it is
:data:`SHEAR_DIRECTION` = (√3/2, 1/2, 0). The third cell vector continues the stacking,
``c = n d ẑ + (n mod 3)(a1 + a2)/3``, so any number of layers makes perfect FCC. A fault is made by adding
``u·b_p`` along the shear direction to ``c`` (the periodic image slides over the cell): one fault per cell, at
the boundary between the top layer and the image of the bottom layer. ``u = 1`` is the intrinsic stacking
fault (…ABC|BCA…), ``u = 2`` puts atoms of adjacent planes on top of each other (AA stacking) and ``u = 3``
is perfect FCC again.

Twin path (generalized planar fault energy, Kibey et al. 2006/2007): path coordinate ``s`` in units of ``b_p``;
on the segment ``k ≤ s ≤ k+1`` the first ``k`` planes above the bottom layer are fully slipped (by ``b_p`` each)
and plane ``k`` has slipped by ``s − k``. Layer ``j`` is displaced by the sum of the slips of the planes below it
and ``c`` is tilted by the total slip, so no fault appears at the cell boundary. ``s = 1`` is the intrinsic
fault (identical to the slip path at ``u = 1``), ``s = 2`` the two-layer (extrinsic) fault, ``s ≥ 3`` a twin
lamella bounded by two twin boundaries.

Default grids (:data:`BAIN_C_OVER_A`, :data:`SLIP_DISPLACEMENTS`, :data:`TWIN_POINTS_PER_LAYER`,
:data:`TWIN_MAX_FAULTED_LAYERS`, :data:`DEFAULT_N_LAYERS`) are the ones the static suite evaluates; a DFT
reference computed on them is compared point by point, without interpolation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from alal.errors import BadStructure
from alal.units import EV_PER_A2_TO_MJ_PER_M2

SYMBOL = "Al"
SQRT2 = float(np.sqrt(2.0))
SQRT3 = float(np.sqrt(3.0))
SQRT6 = float(np.sqrt(6.0))
BCC_C_OVER_A = 1.0 / SQRT2
# Unit vector of the ⟨112⟩ shear in the cell's frame (the direction of (a1 + a2)/3).
SHEAR_DIRECTION = np.array([SQRT3 / 2.0, 0.5, 0.0])
MJ_M2_PER_EV_A2 = EV_PER_A2_TO_MJ_PER_M2  # kept as this module's name: gsfe.py and validation.dft import it

# ---- default grids (shared by the static suite and the DFT reference) ----
# Bain path c/a (conventional FCC frame): 0.60 ... 1.50 in steps of 0.025, plus exactly 1/√2 (BCC).
BAIN_C_OVER_A: list[float] = sorted({round(x, 4) for x in np.arange(0.60, 1.50 + 1e-9, 0.025)} | {BCC_C_OVER_A})
# Slip path u (units of b_p): 0 ... 1.5 in steps of 0.05 (up to the intrinsic fault at 1 and half-way beyond).
SLIP_DISPLACEMENTS: list[float] = [round(x, 4) for x in np.arange(0.0, 1.5 + 1e-9, 0.05)]
TWIN_POINTS_PER_LAYER = 10
TWIN_MAX_FAULTED_LAYERS = 4
DEFAULT_N_LAYERS = 12  # {111} layers per cell: 4 fault planes + 8 layers between a fault and its image


def partial_burgers_A(a0: float) -> float:
    """Length of the Shockley partial Burgers vector a0/√6 (Å)."""
    return float(a0) / SQRT6


def layer_spacing_A(a0: float) -> float:
    """Spacing of {111} planes a0/√3 (Å)."""
    return float(a0) / SQRT3


def _check_a0(a0: float) -> float:
    a0 = float(a0)
    if not np.isfinite(a0) or not 2.0 < a0 < 8.0:
        raise BadStructure(f"lattice constant {a0} Å is not a plausible FCC aluminium lattice constant (2-8 Å)")
    return a0


def _check_layers(n_layers: int, minimum: int) -> int:
    if int(n_layers) != n_layers or n_layers < minimum:
        raise BadStructure(f"n_layers must be an integer of at least {minimum} (got {n_layers})")
    return int(n_layers)


# ---------------------------------------------------------------- Bain path
def bain_cell(a0: float, c_over_a: float) -> Atoms:
    """One-atom body-centred tetragonal cell on the volume-conserving Bain path.

    ``c_over_a`` is measured in the conventional FCC frame (1 = FCC, 1/√2 = BCC); the conventional cell
    ``a × a × c`` keeps the FCC volume ``a0³`` (4 atoms), so ``a = a0 (c/a)^(-1/3)``. The body-centred tetragonal
    description of that lattice has in-plane constant ``a/√2`` and the same ``c``; its primitive cell holds one
    atom.
    """
    a0 = _check_a0(a0)
    ratio = float(c_over_a)
    if not np.isfinite(ratio) or not 0.2 < ratio < 5.0:
        raise BadStructure(f"Bain path c/a = {c_over_a} is outside 0.2-5")
    a = a0 * ratio ** (-1.0 / 3.0)
    c = ratio * a
    t = a / SQRT2  # body-centred tetragonal in-plane constant
    cell = np.array([[-t / 2, t / 2, c / 2], [t / 2, -t / 2, c / 2], [t / 2, t / 2, -c / 2]])
    return Atoms(SYMBOL, positions=[[0.0, 0.0, 0.0]], cell=cell, pbc=True)


def bain_path_structures(a0: float, c_over_a: Sequence[float] = BAIN_C_OVER_A) -> list[Atoms]:
    """Volume-conserving tetragonal deformation of FCC at ``a0³/4`` per atom, one atom per cell (see
    :func:`bain_cell`)."""
    return [bain_cell(a0, r) for r in c_over_a]


# ---------------------------------------------------------------- {111} cells
def _in_plane_vectors(a0: float, repeat: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray]:
    ah = a0 / SQRT2
    a1 = np.array([ah, 0.0, 0.0])
    a2 = np.array([ah / 2.0, ah * SQRT3 / 2.0, 0.0])
    return a1 * repeat[0], a2 * repeat[1]


def fcc111_cell(a0: float, n_layers: int, repeat: tuple[int, int] = (1, 1)) -> Atoms:
    """Perfect FCC as ``n_layers`` {111} planes (z ⟂ (111)), periodic, one atom per layer per in-plane cell.

    Atoms are ordered layer by layer from the bottom; ``atoms.arrays["layer"]`` holds each atom's layer index.
    """
    a0 = _check_a0(a0)
    n = _check_layers(n_layers, 1)
    b1, b2 = _in_plane_vectors(a0)
    a1, a2 = _in_plane_vectors(a0, repeat)
    d = layer_spacing_A(a0)
    stack = (b1 + b2) / 3.0  # A -> B: one partial Burgers vector along the shear direction
    positions, layers = [], []
    for j in range(n):
        origin = (j % 3) * stack + np.array([0.0, 0.0, j * d])
        for i1 in range(repeat[0]):
            for i2 in range(repeat[1]):
                positions.append(origin + i1 * b1 + i2 * b2)
                layers.append(j)
    c = (n % 3) * stack + np.array([0.0, 0.0, n * d])
    atoms = Atoms(SYMBOL * len(positions), positions=positions, cell=[a1, a2, c], pbc=True)
    atoms.arrays["layer"] = np.array(layers, dtype=int)
    return atoms


def fault_area_A2(atoms: Atoms) -> float:
    """Area of the cell's fault plane |a1 × a2| (Å²)."""
    cell = atoms.cell.array
    return float(np.linalg.norm(np.cross(cell[0], cell[1])))


def slip_path_structures(a0: float, n_layers: int, displacements: Sequence[float] = SLIP_DISPLACEMENTS,
                         vacuum: float | None = None, *, repeat: tuple[int, int] = (1, 1)) -> list[Atoms]:
    """The GSFE slip path: rigid shear ``u·b_p`` (``u`` in units of ``b_p = a0/√6``) of one {111} plane along ⟨112⟩.

    Without ``vacuum`` the cell is fully periodic and the fault sits at the cell boundary (the third vector is
    tilted by ``u·b_p``): one fault per cell. With ``vacuum`` (Å, larger than the interaction range) the cell is
    a slab with that much empty space above it, and the upper half of the layers is displaced by ``u·b_p``
    instead; the surfaces are the same for every ``u`` and cancel in γ(u). Either way
    ``(E(u) − E(0)) / fault_area_A2(atoms)`` is γ(u). ``atoms.info["displacement_b_partial"]`` records ``u``.
    """
    a0 = _check_a0(a0)
    n = _check_layers(n_layers, 2)
    bp = partial_burgers_A(a0)
    out = []
    for u in displacements:
        u = float(u)
        if not np.isfinite(u):
            raise BadStructure(f"slip displacement {u} is not a finite number")
        atoms = fcc111_cell(a0, n, repeat)
        shift = u * bp * SHEAR_DIRECTION
        cell = atoms.cell.array.copy()
        if vacuum is None:
            cell[2] = cell[2] + shift
            atoms.set_cell(cell, scale_atoms=False)
        else:
            if vacuum <= 0:
                raise BadStructure(f"vacuum must be positive (got {vacuum} Å)")
            upper = atoms.arrays["layer"] >= n // 2
            atoms.positions[upper] += shift
            cell[2] = np.array([0.0, 0.0, n * layer_spacing_A(a0) + float(vacuum)])
            atoms.set_cell(cell, scale_atoms=False)
        atoms.info["displacement_b_partial"] = u
        atoms.info["n_layers"] = n
        out.append(atoms)
    return out


def gamma_surface_structure(a0: float, n_layers: int, f1: float, f2: float, *,
                            repeat: tuple[int, int] = (1, 1)) -> Atoms:
    """Rigid shift of the periodic image by ``f1·a1 + f2·a2`` (fractions of the primitive in-plane cell): one
    point of the γ-surface. ``(f1, f2) = (1/3, 1/3)`` is the intrinsic stacking fault (u = 1 along ⟨112⟩)."""
    a0 = _check_a0(a0)
    n = _check_layers(n_layers, 2)
    b1, b2 = _in_plane_vectors(a0)
    atoms = fcc111_cell(a0, n, repeat)
    cell = atoms.cell.array.copy()
    cell[2] = cell[2] + float(f1) * b1 + float(f2) * b2
    atoms.set_cell(cell, scale_atoms=False)
    atoms.info["gamma_surface_fractions"] = (float(f1), float(f2))
    return atoms


def twin_path_coordinates(points_per_layer: int = TWIN_POINTS_PER_LAYER,
                          max_faulted_layers: int = TWIN_MAX_FAULTED_LAYERS) -> list[float]:
    """Path coordinate ``s`` (units of b_p): ``points_per_layer`` equal steps per faulted layer, ends included."""
    if int(points_per_layer) != points_per_layer or points_per_layer < 1:
        raise BadStructure(f"points_per_layer must be a positive integer (got {points_per_layer})")
    if int(max_faulted_layers) != max_faulted_layers or max_faulted_layers < 1:
        raise BadStructure(f"max_faulted_layers must be a positive integer (got {max_faulted_layers})")
    m, p = int(max_faulted_layers), int(points_per_layer)
    return [round(k + j / p, 10) for k in range(m) for j in range(p)] + [float(m)]


def twin_structure(a0: float, n_layers: int, s: float, *, repeat: tuple[int, int] = (1, 1)) -> Atoms:
    """The structure at twin-path coordinate ``s`` (see module docstring)."""
    a0 = _check_a0(a0)
    n = _check_layers(n_layers, 2)
    s = float(s)
    if not np.isfinite(s) or s < 0 or s > n - 2:
        raise BadStructure(f"twin path coordinate {s} must lie between 0 and n_layers − 2 = {n - 2}")
    bp = partial_burgers_A(a0)
    atoms = fcc111_cell(a0, n, repeat)
    layer = atoms.arrays["layer"]
    # slip of plane f (between layers f and f+1): 1 for f < floor(s), s - floor(s) for the active plane
    n_planes = int(np.ceil(s)) if s > 0 else 0
    slips = np.array([min(max(s - f, 0.0), 1.0) for f in range(n_planes)])
    cumulative = np.concatenate([[0.0], np.cumsum(slips)])  # displacement of layer j: slips of planes below j
    per_layer = np.array([cumulative[min(j, n_planes)] for j in range(n)])
    atoms.positions += np.outer(per_layer[layer] * bp, SHEAR_DIRECTION)
    cell = atoms.cell.array.copy()
    cell[2] = cell[2] + (cumulative[-1] * bp) * SHEAR_DIRECTION
    atoms.set_cell(cell, scale_atoms=False)
    atoms.info["twin_coordinate_b_partial"] = s
    atoms.info["n_layers"] = n
    return atoms


def twin_path_structures(a0: float, n_layers: int, points_per_layer: int = TWIN_POINTS_PER_LAYER,
                         max_faulted_layers: int = TWIN_MAX_FAULTED_LAYERS, *,
                         repeat: tuple[int, int] = (1, 1)) -> tuple[list[float], list[Atoms]]:
    """Generalized planar fault energy path: successive shear of 1 … ``max_faulted_layers`` adjacent {111} planes.

    Returns the path coordinates ``s`` (units of b_p; 0→1 first plane (intrinsic fault), 1→2 the second (two-layer
    fault), …) and one structure per coordinate. ``n_layers`` must leave at least as many unfaulted layers as
    faulted ones between a fault and its periodic image (``n_layers ≥ 2·max_faulted_layers + 2``).
    """
    _check_layers(n_layers, 2 * int(max_faulted_layers) + 2)
    coords = twin_path_coordinates(points_per_layer, max_faulted_layers)
    return coords, [twin_structure(a0, n_layers, s, repeat=repeat) for s in coords]


# ---------------------------------------------------------------- analysis shared with the DFT pipeline
def gamma_mJ_m2(energies_eV: Sequence[float], area_A2: float, e_ref_eV: float | None = None) -> list[float]:
    """γ = (E − E_ref)/A in mJ/m² (``E_ref`` defaults to the first energy, the unfaulted state)."""
    e = np.asarray(energies_eV, float)
    ref = e[0] if e_ref_eV is None else float(e_ref_eV)
    return [float(x) for x in (e - ref) / float(area_A2) * MJ_M2_PER_EV_A2]


def characteristic_fault_energies(slip_u: Sequence[float] | None, slip_gamma: Sequence[float] | None,
                                  twin_s: Sequence[float] | None, twin_gamma: Sequence[float] | None) -> dict:
    """The named points of the GSFE curves (mJ/m²), one definition for DFT and potentials.

    - ``usf_mJ_m2``: unstable stacking fault, the maximum of the slip path on 0 ≤ u ≤ 1;
    - ``isf_mJ_m2``: intrinsic stacking fault, γ at u = 1 (slip path; else twin path at s = 1);
    - ``utf_mJ_m2``: unstable twin fault, the maximum of the twin path on 1 ≤ s ≤ 2;
    - ``esf_mJ_m2``: two-layer (extrinsic) fault, twin path at s = 2;
    - ``twin_lamella_mJ_m2``: the end of the twin path (a twin lamella with two twin boundaries);
    - ``tsf_mJ_m2``: twin fault energy γ_tsf, half of ``twin_lamella_mJ_m2`` (energy per twin boundary; Kibey's
      GPFE curve ends at 2γ_tsf).
    Points are taken on the grid (no interpolation): the maxima are as fine as the grid.
    """
    out: dict = {}
    if slip_u is not None and slip_gamma is not None and len(slip_u):
        u, g = np.asarray(slip_u, float), np.asarray(slip_gamma, float)
        seg = (u >= -1e-9) & (u <= 1 + 1e-9)
        if seg.any():
            out["usf_mJ_m2"] = float(np.max(g[seg]))
            out["usf_displacement_b_partial"] = float(u[seg][np.argmax(g[seg])])
        at1 = np.isclose(u, 1.0, atol=1e-6)
        if at1.any():
            out["isf_mJ_m2"] = float(g[at1][0])
    if twin_s is not None and twin_gamma is not None and len(twin_s):
        s, g = np.asarray(twin_s, float), np.asarray(twin_gamma, float)
        if "isf_mJ_m2" not in out and np.isclose(s, 1.0).any():
            out["isf_mJ_m2"] = float(g[np.isclose(s, 1.0)][0])
        seg = (s >= 1 - 1e-9) & (s <= 2 + 1e-9)
        if seg.any() and s.max() >= 2 - 1e-9:
            out["utf_mJ_m2"] = float(np.max(g[seg]))
            out["utf_coordinate_b_partial"] = float(s[seg][np.argmax(g[seg])])
        if np.isclose(s, 2.0).any():
            out["esf_mJ_m2"] = float(g[np.isclose(s, 2.0)][0])
        if s.max() >= 3 - 1e-9:
            end = int(np.argmax(s))
            out["twin_lamella_mJ_m2"] = float(g[end])
            out["tsf_mJ_m2"] = float(g[end]) / 2.0
    return out
