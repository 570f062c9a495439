"""Volume-conserving Bain path FCC (c/a = 1) → BCC (c/a = 1/√2) at the PBE a0 (``bain.json``).

Cells: ``validation.properties.faults.bain_path_structures`` (the static suite's builder, so DFT and potentials
see identical structures), one atom in a body-centred tetragonal cell, the smallest cell of every point. The
c/a grid is every other point of the suite's default grid (0.60, 0.65, …, 1.50) plus 1/√2, so each DFT point
is a point the potentials are evaluated at. One k-mesh for the whole path (in the primitive cell's reciprocal
basis, the densest any point needs): a fixed mesh deforms continuously with the cell, so E(c/a) is smooth,
whereas a mesh that changed along the path would add steps of the size of Al's k-point noise (meV, see
convergence.json). The three primitive vectors of the body-centred tetragonal cell have equal length, so the
mesh is n×n×n and the density is at least the target everywhere. Energies are relative to c/a = 1, per atom.
"""

from __future__ import annotations

from validation.dft.engine import Job, energy_per_atom
from validation.dft.settings import DFTSettings, densest_mesh
from validation.properties.faults import BCC_C_OVER_A, bain_path_structures

NAME = "bain"


def grid(quick: bool) -> list[float]:
    if quick:
        return [BCC_C_OVER_A, 0.8, 1.0, 1.2]
    # 0.05 steps where the path turns (BCC saddle to the maximum near 0.8), 0.1 steps elsewhere: cost-limited.
    return sorted({0.6, 0.65, BCC_C_OVER_A, 0.75, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5})


def inputs(ctx, settings: DFTSettings) -> dict:
    return {"a0_A": ctx.fcc_a0(), "c_over_a": grid(ctx.quick), "cell": "1-atom body-centred tetragonal"}


def compute(ctx, settings: DFTSettings, inp: dict):
    ratios = inp["c_over_a"]
    cells = bain_path_structures(inp["a0_A"], ratios)
    mesh = densest_mesh(cells, settings.kpoint_density_per_A_inv)
    jobs = [Job(f"bain/c_over_a={r:.4f}", a, mesh) for r, a in zip(ratios, cells)]
    res = ctx.runner(settings).run(jobs, "bain")
    e = [energy_per_atom(res[j.key]) for j in jobs]
    e_fcc = e[ratios.index(1.0)]
    de = [(x - e_fcc) * 1e3 for x in e]
    i_bcc = min(range(len(ratios)), key=lambda i: abs(ratios[i] - BCC_C_OVER_A))
    data = {
        "a0_A": inp["a0_A"],
        "c_over_a": ratios,
        "dE_meV_per_atom": de,
        "kpts": [res[j.key]["kpts"] for j in jobs],
        "bcc_dE_meV_per_atom": de[i_bcc],
        "volume_A3_per_atom": inp["a0_A"] ** 3 / 4.0,
    }
    return data, list(res.values())
