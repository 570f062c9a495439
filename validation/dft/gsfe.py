"""Generalized stacking-fault energies of FCC Al at the PBE a0: slip and twin paths (``gsfe.json``).

Cells: ``validation.properties.faults`` (the static suite's builders, so DFT and potentials see identical
structures): 1×1 in-plane {111} cells of ``n_layers`` planes, one atom per plane, fully periodic, the fault
made by tilting the third cell vector (slip path) or by shearing successive planes (twin path); one fault (or
one twin lamella) per cell. 1×1 in plane is the smallest cell: a homogeneous shear of a whole plane needs no
in-plane periodicity beyond the primitive net. The number of layers and the k-point density come from
convergence.json (layer scan 6/9/12 and in-plane density scan at the ISF and at u = 0.5).

Every point of both paths uses one k-mesh (that of the unfaulted cell at the GSFE density) and point-group
symmetry off (time reversal only): identical k-sets along a path make the errors of the mesh cancel in
E(u) − E(0), and the tilted cells' rotations would otherwise make GPAW inflate the FFT grid (see
``engine.Job``). Rigid shifts, no relaxation normal to the fault plane ("relaxation": "rigid"): the potentials
must be compared on rigid paths too.

The twin path's first segment (0 ≤ s ≤ 1) is the slip path itself: shearing the first plane by s·b_p is the
slip configuration at u = s translated by one layer (same cell, same energy); those points are taken from the
slip calculations, not recomputed. Grids are subsets of the suite's default grids (every DFT coordinate is a
coordinate the potentials are evaluated at).
"""

from __future__ import annotations

from validation.dft.engine import Job
from validation.dft.settings import DFTSettings, kpoint_mesh
from validation.properties.faults import (
    characteristic_fault_energies,
    fault_area_A2,
    gamma_mJ_m2,
    slip_path_structures,
    twin_path_structures,
)

NAME = "gsfe"
N_LAYERS = 9
# Quarter steps plus 0.4/0.6 around the unstable fault (its maximum lies near u = 0.5-0.6); cost-limited.
SLIP_U = [0.0, 0.25, 0.4, 0.5, 0.6, 0.75, 1.0, 1.25, 1.5]
TWIN_POINTS_PER_LAYER = 4  # quarter steps; the suite evaluates the potentials at these coordinates too
TWIN_MAX_FAULTED_LAYERS = 3  # ISF (1), two-layer fault (2), three-layer twin lamella (3): UTF and 2γ_tsf


def inputs(ctx, settings: DFTSettings) -> dict:
    if ctx.quick:
        return {"a0_A": ctx.fcc_a0(), "n_layers": 8, "slip_displacements_b_partial": [0.0, 0.5, 1.0],
                "twin_points_per_layer": 2, "twin_max_faulted_layers": 3, "relaxation": "rigid"}
    return {"a0_A": ctx.fcc_a0(), "n_layers": N_LAYERS, "slip_displacements_b_partial": SLIP_U,
            "twin_points_per_layer": TWIN_POINTS_PER_LAYER, "twin_max_faulted_layers": TWIN_MAX_FAULTED_LAYERS,
            "relaxation": "rigid"}


def compute(ctx, settings: DFTSettings, inp: dict):
    a0, n = inp["a0_A"], inp["n_layers"]
    slip_u = [float(u) for u in inp["slip_displacements_b_partial"]]
    slip_cells = slip_path_structures(a0, n, slip_u)
    area = fault_area_A2(slip_cells[0])
    mesh = kpoint_mesh(slip_cells[0], settings.kpoint_density_per_A_inv)
    jobs = [Job(f"gsfe/slip/u={u:.4f}", a, mesh, point_group=False) for u, a in zip(slip_u, slip_cells)]
    # (the builder also checks that n_layers leaves room for the faulted layers)
    twin_s, twin_cells = twin_path_structures(a0, n, inp["twin_points_per_layer"], inp["twin_max_faulted_layers"])
    from_slip = {s: f"gsfe/slip/u={s:.4f}" for s in twin_s if s <= 1.0 + 1e-9 and any(abs(s - u) < 1e-9 for u in slip_u)}
    for s, cell in zip(twin_s, twin_cells):
        if s not in from_slip:
            jobs.append(Job(f"gsfe/twin/s={s:.4f}", cell, mesh, point_group=False))
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
        "slip": {"displacement_b_partial": slip_u, "gamma_mJ_m2": g_slip, "energy_eV": e_slip},
        "twin": {"coordinate_b_partial": twin_s, "gamma_mJ_m2": g_twin, "energy_eV": e_twin,
                 "from_slip_path": sorted(from_slip)},
        **characteristic_fault_energies(slip_u, g_slip, twin_s, g_twin),
    }
    return data, list(res.values())
