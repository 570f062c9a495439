"""Elastic constants: comparison figure and tables (fit and per strain amplitude)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.properties.elastic import cubic_matrix, elastic_moduli, zener_anisotropy
from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save

KEYS = ("C11_GPa", "C12_GPa", "C44_GPa", "B_GPa")
NAMES = ("C11", "C12", "C44", "B")
# polycrystal averages and anisotropy: (results.json key, column header)
MODULI = (("K_voigt_GPa", "K_V"), ("K_reuss_GPa", "K_R"), ("K_VRH_GPa", "K_VRH"), ("G_voigt_GPa", "G_V"),
          ("G_reuss_GPa", "G_R"), ("G_VRH_GPa", "G_VRH"), ("E_VRH_GPa", "E"), ("poisson_ratio_VRH", "ν"),
          ("zener_anisotropy", "A (Zener)"), ("universal_anisotropy", "A_U"))


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
    tables = [main, by_strain]
    moduli = _moduli_table(per_pot, exp)
    if moduli is not None:
        tables.insert(1, moduli)
    return Section("elastic", "Elastic constants",
                   intro="Stress-strain on a 32-atom cubic cell: ±δ on each Voigt component, δ = 0.25, 0.5, 1, 2 %.",
                   tables=tables, figures=figures)


def _moduli_table(per_pot: dict, exp: dict) -> Table | None:
    """Voigt/Reuss/Hill moduli, Young's modulus, Poisson ratio, anisotropy and Born stability per potential."""
    have = {n: e for n, e in per_pot.items() if "G_VRH_GPa" in e}  # absent from results.json of older runs
    if not have:
        return None
    rows = []
    for n, e in have.items():
        born = e["born_stability"]
        rows.append([label(n), *(fmt(e[k]) for k, _ in MODULI),
                     f"{fmt(born['min_eigenvalue_GPa'])} ({'stable' if born['stable'] else 'UNSTABLE'})"])
    if all(k in exp for k in ("C11_GPa", "C12_GPa", "C44_GPa")):
        c11, c12, c44 = (exp[k][0] for k in ("C11_GPa", "C12_GPa", "C44_GPa"))
        derived = {**elastic_moduli(cubic_matrix(c11, c12, c44)), "zener_anisotropy": zener_anisotropy(c11, c12, c44)}
        rows.append([f"Experiment (0 K): {exp['C11_GPa'][1]}", *(fmt(derived[k]) for k, _ in MODULI), ""])
    return Table("Polycrystal averages (GPa) from the fitted C11, C12, C44 (pymatgen ElasticTensor), anisotropy and "
                 "Born stability", ["Potential", *(h for _, h in MODULI), "Born: min eigenvalue"], rows,
                 note="K: bulk, G: shear modulus; V/R/VRH: Voigt, Reuss, Hill averages; E and ν from the Hill "
                      "averages; A = 2 C44/(C11 − C12) (1 = isotropic); A_U = 5 G_V/G_R + K_V/K_R − 6 (0 = "
                      "isotropic). Born stability: the smallest eigenvalue of the measured 6×6 matrix (0.5 % "
                      "strain) must be positive. Experiment row: the same formulas applied to the experimental "
                      "constants.")
