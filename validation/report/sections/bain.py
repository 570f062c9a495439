"""Bain path: barrier table (the figure is panel (a) of Fig. 3 in the gsfe section; drawn here only without it)."""

from __future__ import annotations

from pathlib import Path

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.sections.gsfe import plot_bain
from validation.report.style import label, new_figure, save


def build_section(results: dict, fig_dir: Path) -> Section | None:
    bain = property_results(results, "bain")
    if not bain:
        return None
    dft = results.get("dft_references", {}).get("bain")
    rows = []
    for name, e in bain.items():
        rows.append([label(name), fmt(e["a0_A"], 5), fmt(e["barrier_meV_per_atom"]), fmt(e["barrier_c_over_a"], 3),
                     fmt(e["bcc_meV_per_atom"]), ", ".join(fmt(x, 3) for x in e["local_minima_c_over_a"]),
                     fmt(e.get("rmse_vs_dft_meV_per_atom"), 3), fmt(e.get("max_error_vs_dft_meV_per_atom"), 3)])
    if dft:
        rows.append([dft.get("label", "DFT"), fmt(dft.get("a0_A"), 5),
                     fmt(max(y for x, y in zip(dft["c_over_a"], dft["dE_meV_per_atom"]) if 0.7 <= x <= 1.0)), "",
                     "", "", "", ""])
    table = Table("Bain path (energies relative to FCC at c/a = 1, meV/atom)",
                  ["Potential", "a0 (Å)", "barrier", "at c/a", "E(BCC, c/a = 1/√2)", "local minima (c/a)",
                   "RMSE vs DFT", "max |error|"], rows,
                  note="Barrier: highest energy between c/a = 1/√2 and 1 on the grid (0.05 steps plus 1/√2 in the "
                       "quick tier). c/a = 1 and 1/√2 are stationary by symmetry; a local minimum at 1/√2 means the "
                       "potential makes BCC metastable against tetragonal strain at this volume."
                       + ("" if dft else " No DFT reference yet (reference_data/dft/bain.json)."))
    figures = []
    if not property_results(results, "gsfe"):  # otherwise Fig. 3 in the gsfe section has this panel
        fig, ax = new_figure(5.0, 3.6)
        plot_bain(ax, bain, dft, list(results.get("potentials", {})))
        ax.legend(fontsize=7)
        path = fig_dir / "bain_path.png"
        save(fig, path)
        figures.append(Figure(path, "Volume-conserving Bain path at each potential's own FCC volume."))
    return Section("bain", "Bain path", intro="Volume-conserving tetragonal deformation of FCC (c/a = 1) through BCC "
                                              "(c/a = 1/√2), one-atom body-centred tetragonal cell.",
                   tables=[table], figures=figures)
