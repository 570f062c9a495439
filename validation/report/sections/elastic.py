"""Elastic constants: comparison figure and tables (fit and per strain amplitude)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save

KEYS = ("C11_GPa", "C12_GPa", "C44_GPa", "B_GPa")
NAMES = ("C11", "C12", "C44", "B")


def _reference_values(results: dict, kind: str, potential: str | None = None, condition: str | None = None):
    vals = {}
    for ref in results.get("references", []):
        if (ref.get("property") == "elastic" and ref.get("kind") == kind and ref.get("potential") == potential
                and ref.get("condition") == condition):
            vals[ref["key"]] = (ref["value"], ref.get("label", kind))
    return vals


def build_section(results: dict, fig_dir: Path) -> Section | None:
    per_pot = property_results(results, "elastic")
    if not per_pot:
        return None
    exp = _reference_values(results, "experiment")
    exp_rt = _reference_values(results, "experiment", condition="room temperature")
    order = list(per_pot)
    fig, ax = new_figure(8.0, 3.8)
    x = np.arange(len(KEYS))
    series = [(label(n), [per_pot[n][k] for k in KEYS], colour(n, order), None) for n in order]
    if "ani-al" in per_pot:
        paper = _reference_values(results, "paper", potential="ani-al")
        if paper:
            series.append(("ANI-Al (paper)", [paper.get(k, (np.nan,))[0] for k in KEYS], "#f4a3a3", "//"))
    if exp:
        series.append(("Experiment (0 K, Simmons & Wang)", [exp.get(k, (np.nan,))[0] for k in KEYS], "black", None))
    width = 0.8 / len(series)
    for i, (name, vals, col, hatch) in enumerate(series):
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width, color=col, label=name, hatch=hatch,
               edgecolor="white" if hatch is None else "#d62728")
    ax.set_xticks(x, NAMES)
    ax.set_ylabel("GPa")
    ax.legend(fontsize=7, ncol=2)
    path = fig_dir / "elastic_constants.png"
    save(fig, path)
    figures = [Figure(path, "Elastic constants at each potential's own relaxed lattice constant (float64, "
                            "least-squares fit over strains of 0.25-1 %), against experiment and the paper.")]

    rows = []
    for n, e in per_pot.items():
        rows.append([label(n), fmt(e["a0_A"], 6), *(fmt(e[k]) for k in KEYS), fmt(e["residual_GPa"], 2)])
    for src, vals in (("Experiment (0 K)", exp), ("Experiment (room temperature)", exp_rt)):
        if vals:
            rows.append([f"{src}: {next(iter(vals.values()))[1]}", "", *(fmt(vals.get(k, (None,))[0]) for k in KEYS), ""])
    main = Table("Elastic constants (GPa)", ["Potential", "a0 (Å)", "C11", "C12", "C44", "B", "fit residual"], rows)
    strain_rows = []
    for n, e in per_pot.items():
        for amp, vals in e["by_strain"].items():
            strain_rows.append([label(n), amp, *(fmt(vals[k]) for k in KEYS)])
    by_strain = Table("Per strain amplitude (central differences); the spread shows anharmonicity and, for "
                      "neural-network potentials, the roughness of the energy surface",
                      ["Potential", "strain", "C11", "C12", "C44", "B"], strain_rows)
    return Section("elastic", "Elastic constants",
                   intro="Stress-strain on a 32-atom cubic cell: ±δ on each Voigt component, δ = 0.25, 0.5, 1, 2 %.",
                   tables=[main, by_strain], figures=figures)
