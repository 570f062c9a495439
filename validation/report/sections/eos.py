"""Cold curves (the paper's Fig. 2) and the equation-of-state table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import label, new_figure, save

STRUCT_STYLE = {
    "fcc": ("FCC", "#d62728"),
    "hcp": ("HCP", "#ff7f0e"),
    "bcc": ("BCC", "#2ca02c"),
    "sc": ("SC", "#1f77b4"),
    "diamond": ("Diamond", "#9467bd"),
}


def _plot_curves(ax, eos: dict, *, error_bars: bool, vrange=(11, 25), dft: dict | None = None) -> None:
    for struct, (name, col) in STRUCT_STYLE.items():
        curve = eos["curves"].get(struct)
        if not curve:
            continue
        v = np.array(curve["V_A3_per_atom"])
        e = np.array(curve["dE_meV_per_atom"])
        mask = (v >= vrange[0] - 1e-9) & (v <= vrange[1] + 1e-9)
        std = curve.get("std_meV_per_atom")
        if error_bars and std and std[0] is not None:
            ax.errorbar(v[mask], e[mask], yerr=np.array(std, float)[mask], color=col, lw=1.2, capsize=2,
                        elinewidth=0.8, label=name)
        else:
            ax.plot(v[mask], e[mask], color=col, lw=1.2, label=name)
        if dft and struct in dft:
            dv = np.array(dft[struct]["V_A3_per_atom"])
            de = np.array(dft[struct]["dE_meV_per_atom"])
            dmask = (dv >= vrange[0]) & (dv <= vrange[1])
            ax.plot(dv[dmask], de[dmask], "o", mfc="none", mec=col, ms=4)
    ax.set_xlabel("Volume (Å³/atom)")
    ax.set_ylabel("E − E_FCC,min (meV/atom)")


def build_section(results: dict, fig_dir: Path) -> Section | None:
    per_pot = property_results(results, "eos")
    if not per_pot:
        return None
    dft_doc = results.get("dft_references", {}).get("eos")
    dft = dft_doc.get("curves") if isinstance(dft_doc, dict) else None
    figures = []
    lead = "ani-al" if "ani-al" in per_pot else next(iter(per_pot))
    eos = per_pot[lead]
    fig, (ax1, ax2) = new_figure(9.0, 4.0, ncols=2)
    _plot_curves(ax1, eos, error_bars=True, dft=dft)
    ax1.set_title(f"(a) {label(lead)}")
    ax1.legend(fontsize=8)
    _plot_curves(ax2, eos, error_bars=True, vrange=(13.5, 22.0), dft=dft)
    ax2.set_ylim(-20, 450)
    ax2.set_title("(b) near the minima")
    path = fig_dir / "eos_cold_curves.png"
    save(fig, path)
    cap = (f"Cold curves of {label(lead)}, energy per atom relative to the FCC minimum. "
           + ("Vertical bars: standard deviation of the ensemble members. " if lead == "ani-al" else "")
           + ("Circles: our GPAW-PBE reference. " if dft else "DFT curves not available (run `make reference`). ")
           + "Panel (b) magnifies the region near the minima (cf. the paper's Fig. 2).")
    figures.append(Figure(path, cap))

    n = len(per_pot)
    ncols = min(3, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = new_figure(3.2 * ncols, 2.8 * nrows, ncols=ncols, nrows=nrows, squeeze=False)
    for ax, (name, e) in zip(axes.flat, per_pot.items()):
        _plot_curves(ax, e, error_bars=False, dft=dft)
        ax.set_title(label(name))
        ax.set_ylim(-50, 1500)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7)
    path = fig_dir / "eos_all_potentials.png"
    save(fig, path)
    figures.append(Figure(path, "Cold curves of every potential over 11-25 Å³/atom (same axes)."))

    cols = ["Potential", "a0 (Å)", "V0 (Å³/atom)", "B (GPa)", "B (GPa), ase.eos", "B'", "E_coh (eV/atom)", "HCP",
            "HCP ideal c/a", "BCC", "SC", "Diamond", "ε_hcp", "ε_bcc", "ε_sc", "ε_diamond", "BM fit RMS (meV/atom)"]
    rows = []
    for name, e in per_pot.items():
        f = e["fcc"]
        rows.append([label(name), fmt(f["a0_A"], 5), fmt(f["V0_A3_per_atom"]), fmt(f["B_GPa"]),
                     fmt(f.get("B_GPa_ase_eos")), fmt(f["Bprime"], 3),
                     fmt(f.get("cohesive_energy_eV_per_atom")),
                     *(fmt(e[s]["dE_meV_per_atom"]) for s in ("hcp", "hcp_ideal", "bcc", "sc", "diamond")),
                     *(fmt(e[s].get("error_vs_dft_meV_per_atom")) for s in ("hcp", "bcc", "sc", "diamond")),
                     fmt(f["fit_rms_meV_per_atom"], 2)])
    any_eos = next(iter(per_pot.values()))
    table = Table(
        "Equation of state (Birch-Murnaghan fits near each minimum); structure energies E_x − E_FCC at each "
        "minimum and ε_x = potential − DFT, in meV/atom",
        cols, rows,
        note=f"ε_x against {any_eos.get('dft_source', 'DFT')}. HCP: c/a relaxed at every volume; "
             "'HCP ideal c/a' uses c/a = 1.633. E_coh = E(isolated atom) − E0(FCC); for ANI-Al the isolated atom "
             "lies far outside the training data (bulk only), so its E_coh is an extrapolation. 'B, ase.eos': "
             "ASE's Birch-Murnaghan fit (ase.eos.EquationOfState) of the same points, an independent cross-check.",
    )
    paper_rows = []
    for ref in results.get("references", []):
        if ref.get("property") == "eos" and ref.get("kind") == "paper":
            paper_rows.append([ref.get("potential", ""), ref["key"], fmt(ref["value"]), ref["citation"]])
    tables = [table]
    if paper_rows:
        tables.append(Table("The paper's ε_x for ANI-Al (against its own DFT)", ["Potential", "Key", "Value", "Source"],
                            paper_rows))
    return Section("eos", "Cold curves and equations of state",
                   intro="E(V) of FCC, HCP, BCC, SC and diamond over 11-25 Å³/atom (the paper's Fig. 2 range); "
                         "each minimum located on a 10-32 Å³/atom scan and fitted with 21 points within ±10 % "
                         "(a ±6 % fit, the ACWF protocol, is in results.json as fit_6pct).",
                   tables=tables, figures=figures)
