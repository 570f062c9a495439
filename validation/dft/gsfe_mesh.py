"""How much the GSFE reference still depends on its k-point mesh (``gsfe_mesh.json``; not part of the default run).

The intrinsic stacking fault (u = 1, the point that moved most between meshes) is computed with exactly the
cells, settings and Cartesian-identical k-point sampling of ``gsfe.json`` at the production mesh and at a coarser
odd in-plane mesh (−4 per direction). The production points come from the cache of the ``gsfe`` run, so the study
costs two coarser calculations. Aluminium's energies converge slowly and non-monotonically with the mesh; the
change from the coarser to the production mesh is an estimate (not a bound) of the production mesh's error
(``max_abs_change_mJ_m2``).
"""

from __future__ import annotations

from validation.dft import gsfe
from validation.dft.settings import DFTSettings
from validation.properties.faults import (
    fault_area_A2,
    fcc111_cell,
    gamma_mJ_m2,
    slip_path_structures,
    twin_structure,
)

NAME = "gsfe_mesh"
SLIP_POINTS = [0.0, 1.0]
TWIN_POINTS: list[float] = []
NAMES = {("slip", 0.5): "gamma_u0.5_mJ_m2", ("slip", 1.0): "isf_mJ_m2", ("twin", 2.0): "esf_mJ_m2",
         ("twin", 3.0): "twin_lamella_mJ_m2"}


def study_settings(ctx) -> DFTSettings:
    # the production GSFE settings, so that the production mesh's points are the gsfe run's cached calculations
    return ctx.settings.for_property("gsfe")


def inputs(ctx, settings: DFTSettings) -> dict:
    a0 = ctx.fcc_a0()
    n = 8 if ctx.quick else gsfe.N_LAYERS
    production = gsfe.path_kpoints(fcc111_cell(a0, n), settings)
    coarser = (max(1, production[0] - 4), max(1, production[1] - 4), production[2])
    return {"a0_A": a0, "n_layers": n, "relaxation": "rigid", "kpoint_sampling": gsfe.KPOINT_SAMPLING,
            "meshes": [list(production), list(coarser)], "slip_displacements_b_partial": SLIP_POINTS,
            "twin_coordinates_b_partial": TWIN_POINTS}


def compute(ctx, settings: DFTSettings, inp: dict):
    a0, n = inp["a0_A"], inp["n_layers"]
    slip_u = [float(u) for u in inp["slip_displacements_b_partial"]]
    twin_s = [float(s) for s in inp["twin_coordinates_b_partial"]]
    slip_cells = list(zip(slip_u, slip_path_structures(a0, n, slip_u)))
    twin_cells = [(s, twin_structure(a0, n, s)) for s in twin_s]
    area = fault_area_A2(slip_cells[0][1])
    jobs, tags = [], []
    for mesh in inp["meshes"]:
        tag = "x".join(str(int(k)) for k in mesh)
        tags.append(tag)
        jobs += gsfe.path_jobs(f"gsfe_mesh/{tag}/slip/u=", a0, n, slip_cells, tuple(mesh))
        jobs += gsfe.path_jobs(f"gsfe_mesh/{tag}/twin/s=", a0, n, twin_cells, tuple(mesh))
    res = ctx.runner(settings).run(jobs, "gsfe_mesh")

    rows = []
    for mesh, tag in zip(inp["meshes"], tags):
        e0 = res[f"gsfe_mesh/{tag}/slip/u={0.0:.4f}"]["energy_eV"]
        row = {"kpts": list(mesh)}
        for (path, coord), name in NAMES.items():
            key = f"gsfe_mesh/{tag}/{path}/{'u' if path == 'slip' else 's'}={coord:.4f}"
            if key in res:
                row[name] = gamma_mJ_m2([res[key]["energy_eV"]], area, e0)[0]
        row["cpu_s"] = float(sum(r["cpu_s"] for k, r in res.items() if k.startswith(f"gsfe_mesh/{tag}/")))
        rows.append(row)
    change = {k: rows[0][k] - rows[1][k] for k in rows[0] if k.endswith("_mJ_m2") and k in rows[1]}
    data = {
        "a0_A": a0, "n_layers": n, "relaxation": "rigid", "area_A2": area,
        "kpoint_sampling": inp["kpoint_sampling"],
        "rows": rows,
        "change_production_minus_coarser_mJ_m2": change,
        "max_abs_change_mJ_m2": max(abs(v) for v in change.values()) if change else None,
        "production_kpts": list(inp["meshes"][0]),
    }
    return data, list(res.values())
