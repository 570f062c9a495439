"""Surface energies of (111), (100), (110): thickness convergence figure and table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save

FACETS = ("111", "100", "110")


def mj(x) -> str:
    """A surface energy in mJ/m² to 0.1 ("—" for missing): fmt's 4 significant digits would print 1006 as 1.01e+03."""
    return "—" if x is None else f"{x:.1f}"


def build_section(results: dict, fig_dir: Path) -> Section | None:
    surf = property_results(results, "surface")
    if not surf:
        return None
    order = list(results.get("potentials", {}))
    own_dft = results.get("dft_references", {}).get("surface")
    fig, axes = new_figure(12.0, 3.6, ncols=4, gridspec_kw={"width_ratios": [2.0, 1, 1, 1]})
    ax = axes[0]
    x = np.arange(len(FACETS))
    width = 0.8 / (len(surf) + (1 if own_dft else 0))
    for i, (name, e) in enumerate(surf.items()):
        ax.bar(x - 0.4 + width * (i + 0.5), [e[f"{f}_mJ_m2"] for f in FACETS], width, color=colour(name, order),
               label=label(name))
    if own_dft:
        ax.bar(x - 0.4 + width * (len(surf) + 0.5), [own_dft.get(f"{f}_mJ_m2") or 0 for f in FACETS], width,
               color="white", edgecolor="black", hatch="//", label=own_dft.get("label", "GPAW-PBE (ours)"))
    exp = next((r for r in results.get("references", []) if r.get("property") == "surface"
                and r.get("kind") == "experiment"), None)
    if exp:
        ax.axhline(exp["value"], color="black", ls="--", lw=0.8, label=f"{exp['label']} (polycrystal)")
    ax.set_xticks(x, [f"({f})" for f in FACETS])
    ax.set_ylabel("γ_s (mJ/m²)")
    ax.set_ylim(0, 1750)
    ax.legend(fontsize=5.5, loc="upper center", ncol=2)
    for ax, facet in zip(axes[1:], FACETS):
        for name, e in surf.items():
            c = e["convergence"][facet]
            dev = np.array(c["gamma_mJ_m2"]) - c["gamma_mJ_m2"][-1]
            ax.plot(c["n_layers"], dev, "o-", color=colour(name, order), ms=3)
        ax.set_title(f"({facet}) convergence")
        ax.set_xlabel("layers")
        ax.set_ylabel("γ_s − γ_s(thickest) (mJ/m²)")
    path = fig_dir / "surface_convergence.png"
    save(fig, path)

    rows = []
    for name, e in surf.items():
        conv = e["convergence"]
        rows.append([label(name), *(mj(e[f"{f}_mJ_m2"]) for f in FACETS), mj(e["average_mJ_m2"]),
                     *(fmt(conv[f]["thickness_change_mJ_m2"], 2) for f in FACETS),
                     *(fmt(conv[f]["outer_spacing_change_percent"][-1], 3) for f in FACETS)])
    ref_rows: dict[str, list] = {}  # one row per source
    for ref in results.get("references", []):
        col = {"111_mJ_m2": 1, "100_mJ_m2": 2, "110_mJ_m2": 3, "average_mJ_m2": 4}.get(ref.get("key"))
        if ref.get("property") != "surface" or col is None:
            continue
        who = f"{label(ref['potential'])} (published)" if ref.get("potential") else f"{ref['label']} ({ref['kind']})"
        row = ref_rows.setdefault(who, [who] + [""] * 10)
        row[col] = mj(ref["value"])
    rows.extend(ref_rows.values())
    if own_dft:
        rows.append([own_dft.get("label", "GPAW-PBE (ours)"), *(mj(own_dft.get(f"{f}_mJ_m2")) for f in FACETS),
                     "", "", "", "", "", "", ""])
    n_layers = next(iter(surf.values()))["convergence"]["111"]["n_layers"]
    table = Table("Surface energies (mJ/m²), relaxed, thickest slab",
                  ["Potential", "(111)", "(100)", "(110)", "mean of 3", "Δ thickness (111)", "Δ (100)", "Δ (110)",
                   "d12 change (111) %", "d12 (100) %", "d12 (110) %"], rows,
                  note=f"Slabs of {', '.join(map(str, n_layers))} layers, 10 Å vacuum each side, all atoms relaxed. "
                       "Δ: change of γ_s between the two thickest slabs. The experimental 1140 mJ/m² (Tyson & Miller "
                       "1977) is a polycrystal average from liquid surface tension; the mean of the three facets is "
                       "only a proxy for it. PBE itself gives Al surface energies ~20 % below it.")
    return Section("surface", "Surface energies", intro="Low-index surface energies with slab-thickness convergence.",
                   tables=[table], figures=[Figure(path, "Left: relaxed surface energies (thickest slab). Right: "
                                                           "convergence with slab thickness, relative to the thickest "
                                                           "slab.")])
