"""Vacancy formation energy: supercell convergence figure and table against experiment and DFT."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save


def _refs(results: dict) -> list[dict]:
    return [r for r in results.get("references", []) if r.get("property") == "vacancy" and r.get("key") == "Ef_eV"]


def build_section(results: dict, fig_dir: Path) -> Section | None:
    vac = property_results(results, "vacancy")
    if not vac:
        return None
    order = list(results.get("potentials", {}))
    own_dft = results.get("dft_references", {}).get("vacancy")
    fig, ax = new_figure(8.0, 3.6)
    for name, e in vac.items():
        c = e["convergence"]
        x = 1.0 / np.array(c["sites"])
        ax.plot(x, c["Ef_eV"], "o-", color=colour(name, order), label=label(name))
        ax.plot(x, c["Ef_unrelaxed_eV"], "x:", color=colour(name, order), lw=0.8)
    refs = _refs(results)
    for r in refs:
        if r["kind"] == "experiment":
            lo, hi = r.get("range") or (r["value"], r["value"])
            ax.axhspan(lo, hi, color="0.8", alpha=0.6, label=f"experiment ({r['label']})")
        elif r["kind"] == "dft":
            ax.axhline(r["value"], color="black", ls="--", lw=0.8, label=r["label"])
    if own_dft and own_dft.get("Ef_eV") is not None:
        ax.axhline(own_dft["Ef_eV"], color="black", ls="-.", lw=0.8, label=own_dft.get("label", "GPAW-PBE (ours)"))
    ax.set_xlabel("1 / number of sites")
    ax.set_ylabel("E_f (eV)")
    ax.set_xlim(left=0)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    path = fig_dir / "vacancy_convergence.png"
    save(fig, path)

    rows = []
    for name, e in vac.items():
        c = e["convergence"]
        rows.append([label(name), *(fmt(v, 4) for v in c["Ef_eV"]), fmt(e.get("Ef_extrapolated_eV"), 4),
                     fmt(e["Ef_unrelaxed_eV"], 4), fmt(e["relaxation_energy_eV"], 3), fmt(e.get("Ef_std_eV"), 2)])
    sizes = next(iter(vac.values()))["convergence"]["sites"]
    ref_rows = [[f"{r['label']} ({r['kind']})", fmt(r["value"]), r.get("citation", "")] for r in refs]
    if own_dft and own_dft.get("Ef_eV") is not None:
        ref_rows.append([own_dft.get("label", "GPAW-PBE (ours)"), fmt(own_dft["Ef_eV"]),
                         f"supercell {own_dft.get('supercell', '?')}"])
    tables = [Table("Vacancy formation energy (eV), relaxed at fixed cell",
                    ["Potential", *(f"{n} sites" for n in sizes), "extrapolated (1/N)", "unrelaxed (largest)",
                     "relaxation energy", "ensemble spread"], rows,
                    note="E_f = E(N−1, relaxed) − (N−1)/N E(N, perfect) at each potential's own a0; extrapolation: "
                         "linear in 1/N over the cells with at least 108 sites.")]
    if ref_rows:
        tables.append(Table("References", ["Source", "E_f (eV)", "Citation"], ref_rows))
    return Section("vacancy", "Vacancy formation energy",
                   intro="Cubic supercells of 2×2×2 to 4×4×4 conventional cells (quick tier; 5×5×5 added in the full "
                         "tier), one vacancy, positions relaxed at fixed cell.",
                   tables=tables, figures=[Figure(path, "Vacancy formation energy against inverse cell size: relaxed "
                                                        "(circles) and unrelaxed (crosses); grey band: experiment.")])
