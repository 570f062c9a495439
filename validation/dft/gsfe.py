"""Generalized stacking-fault energies of FCC Al at the PBE a0: slip and twin paths (``gsfe.json``).

Cells: ``validation.properties.faults`` (the static suite's builders, so DFT and potentials see identical
structures): 1×1 in-plane {111} cells of ``n_layers`` planes, one atom per plane, fully periodic, the fault
made by tilting the third cell vector (slip path) or by shearing successive planes (twin path); one fault (or
one twin lamella) per cell. 1×1 in plane is the smallest cell: a homogeneous shear of a whole plane needs no
in-plane periodicity beyond the primitive net. 8 layers and the named points only (below): at the mesh Al
needs, each point costs ~16 min of CPU.

Every point of both paths is sampled at the *same Cartesian k-points*: the Γ-centred mesh of the untilted cell
(in-plane size made odd, see :func:`settings.cartesian_kpoints`), converted into each tilted cell's reduced
coordinates, with point-group symmetry off (time reversal only). A reduced-coordinate mesh instead samples
different Cartesian points at every tilt; with 9×9×1 that made the twin path unphysical and the reference was
withdrawn (reference_data/dft/withdrawn/README.md). Even with identical sampling, Al's fault energies need a
dense mesh: on 9-layer cells γ_isf moved from 153 to 58 mJ/m² between 11×11×2 and 13×13×2
(withdrawn/gsfe_mesh_9layers.json), hence density 8 (21×21×3) as for the EOS fits. The ``gsfe_mesh`` study
(``alal reference --only gsfe_mesh``) measures what the production mesh changes relative to 17×17×3. Rigid shifts,
no relaxation normal to the fault plane ("relaxation": "rigid"): the potentials are compared on rigid paths too.

The twin path's first segment (0 ≤ s ≤ 1) is the slip path itself: shearing the first plane by s·b_p is the
slip configuration at u = s translated by one layer (same cell, same energy); those points are taken from the
slip calculations, not recomputed. Grids are subsets of the suite's default grids (every DFT coordinate is a
coordinate the potentials are evaluated at).
"""

from __future__ import annotations

from validation.dft.engine import Job
from validation.dft.settings import DFTSettings, cartesian_kpoints, kpoint_mesh
from validation.properties.faults import (
    characteristic_fault_energies,
    fault_area_A2,
    fcc111_cell,
    gamma_mJ_m2,
    slip_path_structures,
    twin_structure,
)

NAME = "gsfe"
# 8 layers, the fewest that hold the three-layer twin lamella with as many untwinned planes around it
# (faults.twin_path_structures needs 2·3 + 2). Fewer atoms is what makes the dense mesh affordable.
N_LAYERS = 8
# The named points only: the unfaulted cell, u = 0.5 and 0.6 (the rigid slip curves of the potentials we
# evaluate peak at u ≈ 0.6-0.65; the DFT γ_usf is the larger of the two, a lower bound of the true maximum) and
# the intrinsic fault; the twin path adds s = 1.5 (unstable twin), 2 (two-layer fault) and 3 (twin lamella).
# Each point costs ~15 min of CPU at the converged mesh (see settings.PRODUCTION).
SLIP_U = [0.0, 0.5, 0.6, 1.0]
TWIN_S = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]  # 0-1 is the slip path (taken from it); all on the suite's twin grid


def path_kpoints(untilted, settings: DFTSettings) -> tuple[int, int, int]:
    """Γ-centred mesh of the untilted cell at the settings' density, in-plane sizes rounded up to odd (so that the
    Cartesian set stays closed under k → −k in the tilted cells: :func:`settings.cartesian_kpoints`)."""
    mesh = kpoint_mesh(untilted, settings.kpoint_density_per_A_inv)
    return (mesh[0] | 1, mesh[1] | 1, mesh[2])


def path_jobs(prefix: str, a0: float, n_layers: int, cells, mesh) -> list[Job]:
    """One job per cell (keys ``prefix + coordinate``), all at the untilted cell's Cartesian k-points."""
    untilted = fcc111_cell(a0, n_layers)
    return [Job(f"{prefix}{coord:.4f}", cell, tuple(mesh), point_group=False,
                kpoints_scaled=tuple(map(tuple, cartesian_kpoints(untilted, mesh, cell))))
            for coord, cell in cells]


KPOINT_SAMPLING = "cartesian-identical: the untilted cell's Gamma-centred mesh in every cell's reduced coordinates"


def inputs(ctx, settings: DFTSettings) -> dict:
    a0 = ctx.fcc_a0()
    n = 8 if ctx.quick else N_LAYERS
    common = {"a0_A": a0, "n_layers": n, "relaxation": "rigid", "kpoint_sampling": KPOINT_SAMPLING,
              "kpts": list(path_kpoints(fcc111_cell(a0, n), settings))}
    return {**common, "slip_displacements_b_partial": SLIP_U, "twin_coordinates_b_partial": TWIN_S}


def compute(ctx, settings: DFTSettings, inp: dict):
    a0, n = inp["a0_A"], inp["n_layers"]
    slip_u = [float(u) for u in inp["slip_displacements_b_partial"]]
    slip_cells = slip_path_structures(a0, n, slip_u)
    area = fault_area_A2(slip_cells[0])
    mesh = tuple(inp["kpts"])
    jobs = path_jobs("gsfe/slip/u=", a0, n, zip(slip_u, slip_cells), mesh)
    twin_s = [float(x) for x in inp["twin_coordinates_b_partial"]]
    twin_cells = [twin_structure(a0, n, x) for x in twin_s]
    from_slip = {s: f"gsfe/slip/u={s:.4f}" for s in twin_s if s <= 1.0 + 1e-9 and any(abs(s - u) < 1e-9 for u in slip_u)}
    jobs += path_jobs("gsfe/twin/s=", a0, n, [(s, c) for s, c in zip(twin_s, twin_cells) if s not in from_slip], mesh)
    res = ctx.runner(settings).run(jobs, "gsfe")

    e_slip = [res[f"gsfe/slip/u={u:.4f}"]["energy_eV"] for u in slip_u]
    e0 = e_slip[slip_u.index(0.0)]
    g_slip = gamma_mJ_m2(e_slip, area, e0)
    e_twin = [res[from_slip.get(s, f"gsfe/twin/s={s:.4f}")]["energy_eV"] for s in twin_s]
    g_twin = gamma_mJ_m2(e_twin, area, e0)
    data = {
        "a0_A": a0,
        "n_layers": n,
        "relaxation": inp["relaxation"],
        "area_A2": area,
        "kpts": list(mesh),
        "kpoint_sampling": inp["kpoint_sampling"],
        "slip": {"displacement_b_partial": slip_u, "gamma_mJ_m2": g_slip, "energy_eV": e_slip},
        "twin": {"coordinate_b_partial": twin_s, "gamma_mJ_m2": g_twin, "energy_eV": e_twin,
                 "from_slip_path": sorted(from_slip)},
        **characteristic_fault_energies(slip_u, g_slip, twin_s, g_twin),
    }
    return data, list(res.values())
