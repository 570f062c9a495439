"""Phonons: dispersion over the neutron points at X and L, density of states, convergence and QHA."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save

KEYS = ("X_T_THz", "X_L_THz", "L_T_THz", "L_L_THz")


def _experiment(results: dict) -> dict:
    return {r["key"]: r for r in results.get("references", [])
            if r.get("property") == "phonons" and r.get("kind") == "experiment"}


def build_section(results: dict, fig_dir: Path) -> Section | None:
    ph = property_results(results, "phonons")
    if not ph:
        return None
    order = list(results.get("potentials", {}))
    exp = _experiment(results)
    fig, (ax, ax_dos) = new_figure(9.0, 4.2, ncols=2, gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    first = next(iter(ph.values()))["dispersion"]
    for name, e in ph.items():
        d = e["dispersion"]
        x = np.array(d["distance_2pi_over_a"])
        f = np.array(d["frequencies_THz"])
        for b in range(f.shape[1]):
            ax.plot(x, f[:, b], color=colour(name, order), lw=1.1, label=label(name) if b == 0 else None)
        dos = e["dos"]
        ax_dos.plot(dos["dos_states_per_THz"], dos["frequency_THz"], color=colour(name, order), lw=1.0)
    ticks, labels = first["ticks"], first["labels"]
    pos = {"X": ticks[1], "L": ticks[-1]}
    for point in ("X", "L"):
        for mode in ("T", "L"):
            ref = exp.get(f"{point}_{mode}_THz")
            if ref:
                ax.plot([pos[point]], [ref["value"]], "ks", mfc="white", ms=6, clip_on=False, zorder=5,
                        label="neutron, 80 K (Stedman & Nilsson 1966)" if (point, mode) == ("X", "T") else None)
    for t in ticks:
        ax.axvline(t, color="0.7", lw=0.6)
    ax.set_xticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(bottom=0)
    ax.set_ylabel("frequency (THz)")
    ax.set_ylim(0, 1.18 * max(np.max(e["dispersion"]["frequencies_THz"]) for e in ph.values()))
    ax.legend(fontsize=7, loc="upper center", ncol=3, bbox_to_anchor=(0.5, 1.0), frameon=True)
    ax_dos.set_xlabel("DOS (states/THz)")
    ax_dos.set_xlim(left=0)
    path = fig_dir / "phonon_dispersion.png"
    save(fig, path)
    figures = [Figure(path, f"Phonon dispersion along Γ-X-K-Γ-L ({first['supercell']} supercell, finite "
                            "displacements with phonopy) and density of states; squares: neutron data at 80 K at X "
                            "and L (the X-K segment is the [ζζ0] line from X' = (1,1,0)2π/a).")]

    rows = []
    for name, e in ph.items():
        rows.append([label(name), *(fmt(e[k], 4) for k in KEYS), fmt(e["K_THz"][0], 4), fmt(e["K_THz"][1], 4),
                     fmt(e["K_THz"][2], 4), fmt(e["convergence"].get("max_band_change_THz"), 2),
                     fmt(e["min_frequency_THz"], 2)])
    if exp:
        rows.append([f"experiment 80 K ({next(iter(exp.values()))['label']})",
                     *(fmt(exp[k]["value"], 4) if k in exp else "" for k in KEYS), "", "", "", "", ""])
    own_dft = results.get("dft_references", {}).get("phonons")
    if own_dft:
        rows.append([own_dft.get("label", "GPAW-PBE (ours)"), *(fmt(own_dft.get(k), 4) for k in KEYS),
                     "", "", "", "", ""])
    tables = [Table("Zone-boundary frequencies (THz)",
                    ["Potential", "X T", "X L", "L T", "L L", "K 1", "K 2", "K 3", "max Δν between the two largest "
                     "supercells", "lowest ν on the path"], rows,
                    note="X and L are commensurate with the even supercells, so their frequencies are exact for the "
                         "harmonic crystal; Δν measures the interpolation error elsewhere on the path.")]
    conv_rows = []
    for name, e in ph.items():
        c = e["convergence"]
        for i, n in enumerate(c["n"]):
            conv_rows.append([label(name), f"{n}×{n}×{n} ({c['atoms'][i]} atoms)", *(fmt(c[k][i], 5) for k in KEYS)])
    tables.append(Table("Supercell convergence (THz)", ["Potential", "supercell", "X T", "X L", "L T", "L L"],
                        conv_rows, note="X is commensurate with every supercell here, L only with the even ones."))
    gr = {n: e["gruneisen"] for n, e in ph.items() if e.get("gruneisen")}
    if gr:
        g0 = next(iter(gr.values()))
        tables.append(Table(
            "Mode Grüneisen parameters γ = −d ln ν / d ln V and the Grüneisen-model thermal expansion at 298 K",
            ["Potential", "X T", "X L", "L T", "L L", "mesh mean", "γ_th (298 K)", "B (GPa)", "α (10⁻⁶/K)"],
            [[label(n), *(fmt(g[k], 3) for k in ("X_T", "X_L", "L_T", "L_L", "mean_mode_gamma",
                                                  "thermal_gamma_298K")), fmt(g["B_GPa"], 3),
              fmt(g["thermal_expansion_298K_per_K"] * 1e6, 3)] for n, g in gr.items()],
            note=f"Central differences over ±{g0['lattice_strain'] * 100:g} % lattice strain, "
                 f"{g0['supercell']}×{g0['supercell']}×{g0['supercell']} supercells; α = γ_th C_v / (3 B V) with "
                 "the heat-capacity-weighted γ_th. Simple metals have γ ≈ 2 (Al: thermal Grüneisen parameter ≈ 2.2, "
                 "α = 23.1×10⁻⁶/K); a negative or erratic γ means the potential's phonons do not vary smoothly "
                 "with volume, and quasi-harmonic properties from it are not meaningful."))
    qha = {n: e for n, e in ph.items() if "thermal_expansion_298K_per_K" in e}
    if qha:
        fig, axq = new_figure(5.0, 3.4)
        for name, e in qha.items():
            q = e["qha"]
            axq.plot(q["temperatures_K"], np.array(q["linear_expansion_per_K"]) * 1e6, color=colour(name, order),
                     label=label(name))
        ref = next((r for r in results.get("references", []) if r.get("key") == "thermal_expansion_per_K"), None)
        if ref:
            axq.plot([298], [ref["value"] * 1e6], "ks", mfc="white", label=ref["label"])
        axq.set_xlabel("T (K)")
        axq.set_ylabel("α (10⁻⁶/K)")
        axq.legend(fontsize=7)
        path = fig_dir / "phonon_qha_expansion.png"
        save(fig, path)
        figures.append(Figure(path, "Linear thermal expansion in the quasi-harmonic approximation."))
        tables.append(Table("Thermal expansion at 298 K (QHA)", ["Potential", "α (10⁻⁶/K)"],
                            [[label(n), fmt(e["thermal_expansion_298K_per_K"] * 1e6, 3)] for n, e in qha.items()]))
    return Section("phonons", "Phonons", intro="Harmonic phonons from finite displacements (phonopy) at each "
                                                "potential's own a0.", tables=tables, figures=figures)
