"""Verification checks: one pass/fail table (value against tolerance) and the NVE energy traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import colour, label, new_figure, save

TITLES = {
    "forces_fd": "forces = −dE/dx (finite differences)",
    "stress_fd": "stress = (1/V) dE/dε (finite differences)",
    "nve_drift": "NVE energy drift",
    "ev_smoothness": "smoothness of E(V)",
    "gsfe_smoothness": "smoothness of the GSFE slip path",
    "elastic_cubic_symmetry": "cubic symmetry of C_ij",
    "born_stability": "Born stability (smallest eigenvalue of the 6×6 C_ij)",
}


def build_section(results: dict, fig_dir: Path) -> Section | None:
    chk = property_results(results, "checks")
    if not chk:
        return None
    order = list(results.get("potentials", {}))
    names = list(chk)
    first = next(iter(chk.values()))["checks"]
    rows, classes = [], []
    for key, title in TITLES.items():
        if key not in first:
            continue
        c0 = first[key]
        crit = ">" if c0["criterion"].startswith("value >") else "≤"
        row = [title, f"{crit} {fmt(c0['tolerance'], 3)} {c0['unit']}"]
        cls = ["", ""]
        for n in names:
            c = chk[n]["checks"].get(key)
            row.append(f"{fmt(c['value'], 3)} ({'pass' if c['passed'] else 'FAIL'})" if c else "")
            cls.append(("pass" if c["passed"] else "fail") if c else "")
        rows.append(row)
        classes.append(cls)
    why = "; ".join(f"{TITLES[k].split(' (')[0]}: {v['why']}" for k, v in first.items() if k in TITLES)
    table = Table("Verification checks (value and verdict per potential)", ["Check", "criterion",
                                                                           *(label(n) for n in names)],
                  rows, classes=classes, note="Tolerances — " + why)
    fig, (ax1, ax2) = new_figure(9.0, 3.2, ncols=2)
    for n, e in chk.items():
        cur = e["curves"]
        ax1.plot(cur["nve_time_ps"], cur["nve_total_meV_per_atom"], color=colour(n, order), lw=0.9, label=label(n))
        v = np.array(cur["ev_V_A3_per_atom"])
        ax2.semilogy(v[2:-2], np.maximum(np.abs(_quartic(cur["ev_meV_per_atom"])), 1e-9), color=colour(n, order),
                     lw=0.9)
    ax1.set_xlabel("t (ps)")
    ax1.set_ylabel("E_tot − E_tot(0) (meV/atom)")
    ax1.set_title("NVE total energy")
    ax1.legend(fontsize=6)
    ax2.set_xlabel("V (Å³/atom)")
    ax2.set_ylabel("|Δ⁴E|/6 (meV/atom)")
    ax2.set_title("E(V) smoothness residual")
    path = fig_dir / "checks_nve_smoothness.png"
    save(fig, path)
    s = next(iter(chk.values()))
    return Section("checks", "Verification checks",
                   intro="Checks every potential must pass whatever its accuracy: consistency of forces and stress "
                         "with the energy, energy conservation, smoothness, symmetry and stability. Seed "
                         f"{s['seed']} (rattles and velocities).",
                   tables=[table],
                   figures=[Figure(path, "Left: total energy in NVE (velocity Verlet, 1 fs). Right: the smoothness "
                                         "residual (Δ⁴E)/6 along E(V); a jump or kink shows as a spike.")])


def _quartic(y) -> np.ndarray:
    from validation.properties.checks import quartic_residual

    return quartic_residual(y)
