"""Liquid aluminium (the paper's Fig. 4): density versus temperature and the radial distribution function.

``build_section`` renders the liquid_density property, ``build_rdf_section`` the rdf property (registered through
``sections/rdf.py``). ``ran_and_skipped`` is shared by the MD sections: potentials whose MD property ran, and the
ones the quick-tier budget skipped (with the reason).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt, property_results
from validation.report.style import EXPERIMENT_COLOUR, colour, label, new_figure, save


def ran_and_skipped(results: dict, prop: str) -> tuple[dict, dict]:
    ran, skipped = {}, {}
    for name, entry in property_results(results, prop).items():
        (skipped if entry.get("skipped") else ran)[name] = entry
    return ran, skipped


def tier_flag(results: dict) -> str:
    """The warning every MD section opens with in the quick tier."""
    if results.get("meta", {}).get("tier") != "quick":
        return ""
    return ("QUICK TIER: small cells and short runs (sizes and lengths in the notes); MD error bars are larger "
            "than the full tier's, and finite-size effects are not removed. ")


def skipped_notes(skipped: dict) -> list[str]:
    return [f"{label(n)}: {e.get('reason', 'skipped')}" for n, e in skipped.items()]


def pm(value, err, digits: int = 4) -> str:
    if value is None:
        return "—"
    if err is None or not np.isfinite(err):
        return fmt(value, digits)
    return f"{fmt(value, digits)} ± {fmt(err, 2)}"


def _experimental_formulas(results: dict) -> list[dict]:
    out = []
    for ref in results.get("references", []):
        f = (ref.get("extra") or {}).get("formula")
        if ref.get("property") == "liquid_density" and ref.get("kind") == "experiment" and f:
            out.append({"label": ref.get("label", ref["key"]), "rho0": f["rho0_g_cm3"],
                        "slope": f["slope_g_cm3_per_K"], "T0": f["T0_K"], "valid": f["valid_K"]})
    return out


def build_section(results: dict, fig_dir: Path) -> Section | None:
    ran, skipped = ran_and_skipped(results, "liquid_density")
    if not ran and not skipped:
        return None
    figures, tables = [], []
    if ran:
        fig, ax = new_figure(6.0, 4.2)
        order = list(ran)
        for i, (name, e) in enumerate(ran.items()):
            T = np.array(e["T_K"], float)
            rho = np.array(e["rho_g_cm3"], float)
            err = np.array(e["err_g_cm3"], float)
            bad = np.array(e["crystallised"], bool)
            shift = (i - (len(ran) - 1) / 2) * 4.0  # spread the markers a little so the error bars stay visible
            ax.errorbar(T[~bad] + shift, rho[~bad], yerr=err[~bad], fmt="o", ms=4, capsize=2, color=colour(name, order),
                        label=label(name))
            if bad.any():
                ax.plot(T[bad] + shift, rho[bad], "x", color=colour(name, order), ms=6)
        styles = ["-", "--", ":"]
        for j, f in enumerate(_experimental_formulas(results)):
            Tv = np.linspace(f["valid"][0], min(f["valid"][1], 1500.0), 50)
            ax.plot(Tv, f["rho0"] + f["slope"] * (Tv - f["T0"]), styles[j % 3], color=EXPERIMENT_COLOUR, lw=1.0,
                    label=f"Experiment: {f['label']}")
        ax.set_xlabel("Temperature (K)")
        ax.set_ylabel("Density (g/cm³)")
        ax.legend(fontsize=7)
        path = fig_dir / "liquid_density.png"
        save(fig, path)
        figures.append(Figure(path, "Liquid density at 1 atm (NPT), block-average error bars (markers offset by a few K "
                                    "for legibility; × = the liquid crystallised). Black lines: experimental fits "
                                    "over their stated ranges. Compare the paper's Fig. 4b."))
        temps = sorted({T for e in ran.values() for T in e["T_K"]})
        rows = []
        for T in temps:
            row = [f"{T:.0f}"]
            for e in ran.values():
                if T in e["T_K"]:
                    i = e["T_K"].index(T)
                    mark = " (crystallised)" if e["crystallised"][i] else ""
                    row.append(pm(e["rho_g_cm3"][i], e["err_g_cm3"][i]) + mark)
                else:
                    row.append("—")
            for f in _experimental_formulas(results):
                inside = f["valid"][0] <= T <= f["valid"][1]
                row.append(fmt(f["rho0"] + f["slope"] * (T - f["T0"]), 4) + ("" if inside else " (extrap.)"))
            rows.append(row)
        exp_cols = [f"Exp. {f['label']}" for f in _experimental_formulas(results)]
        tables.append(Table("Liquid density (g/cm³) at 1 atm", ["T (K)", *(label(n) for n in ran), *exp_cols], rows))
        rows = []
        for n, e in ran.items():
            fit = e.get("fit") or {}
            slope = fit.get("slope_g_cm3_per_K")
            rows.append([label(n), pm(slope * 1e3 if slope is not None else None,
                                      (fit.get("slope_err_g_cm3_per_K") or np.nan) * 1e3, 3),
                         str(e.get("n_atoms")), f"{e.get('run_ps_per_temperature')} ps", f"{e.get('wall_time_s', 0):.0f} s"])
        tables.append(Table("Slope dρ/dT (10⁻³ g/cm³/K; experiment: Assael −0.311, CRC −0.233), run size and wall time",
                            ["Potential", "dρ/dT", "atoms", "run per T", "wall time"], rows))
    notes = [n for e in ran.values() for n in e.get("notes", [])[:1]]
    notes = sorted(set(notes)) + skipped_notes(skipped)
    return Section("liquid_density", "Liquid density (Fig. 4b)",
                   intro=tier_flag(results) + "NPT molecular dynamics of the liquid at 1 atm; EAM potentials run in LAMMPS, others in ASE.",
                   tables=tables, figures=figures, notes=notes)


def build_rdf_section(results: dict, fig_dir: Path) -> Section | None:
    ran, skipped = ran_and_skipped(results, "rdf")
    if not ran and not skipped:
        return None
    figures, tables, notes = [], [], []
    temps = sorted({k for e in ran.values() for k in e if k.isdigit()}, key=float)
    if ran and temps:
        fig, axes = new_figure(3.2 * len(temps), 3.6, ncols=len(temps), sharey=True)
        axes = np.atleast_1d(axes)
        order = list(ran)
        for ax, T in zip(axes, temps):
            for name, e in ran.items():
                if T in e:
                    ax.plot(e[T]["r_A"], e[T]["g"], color=colour(name, order), lw=1.1, label=label(name))
            exp = next((e[T].get("experiment") for e in ran.values() if T in e and e[T].get("experiment")), None)
            if exp:
                ax.plot(exp["r_A"], exp["g"], color=EXPERIMENT_COLOUR, lw=1.3, label=f"Experiment: {exp['label']}")
            ax.set_title(f"{T} K")
            ax.set_xlabel("r (Å)")
            ax.set_xlim(1.8, max(float(e[T]["r_A"][-1]) for e in ran.values() if T in e))
        axes[0].set_ylabel("g(r)")
        axes[0].legend(fontsize=7)
        path = fig_dir / "liquid_rdf.png"
        save(fig, path)
        figures.append(Figure(path, "Radial distribution functions of the liquid (NVT at the NPT density, 0.05 Å "
                                    "bins), with the tabulated g(r) where the reference data has it (its label in the legend; how to cite it "
                                    "in the notes). Compare the paper's Fig. 4a (experiment: Mauro et al. 2011)."))
        rows = []
        for T in temps:
            for name, e in ran.items():
                if T not in e:
                    continue
                r = e[T]
                d = r.get("D_m2_s")
                rms = (r.get("experiment") or {}).get("rms_g_difference")
                rows.append([T, label(name), pm(r["peak_r_A"], r.get("peak_r_A_err"), 4),
                             pm(r["peak_g"], r.get("peak_g_err"), 3), pm(r["min_r_A"], r.get("min_r_A_err"), 3),
                             pm(r["cn"], r.get("cn_err"), 3), fmt(d * 1e9 if d is not None else None, 3),
                             fmt(r.get("rho_g_cm3"), 4), fmt(rms, 3)])
            exp = next((e[T].get("experiment") for e in ran.values() if T in e and e[T].get("experiment")), None)
            if exp:
                rows.append([T, f"Experiment: {exp['label']}", fmt(exp["peak_r_A"], 4), fmt(exp["peak_g"], 3),
                             fmt(exp["min_r_A"], 3), "", "", "", ""])
        tables.append(Table("First coordination shell", ["T (K)", "Potential", "peak r (Å)", "peak g", "minimum r (Å)",
                                                         "CN", "D (10⁻⁹ m²/s)", "ρ (g/cm³)", "RMS Δg vs table (r ≥ 2 Å)"],
                            rows))
        missing = sorted({T for e in ran.values() for T in e.get("experiment_missing", [])}, key=float)
        if missing:
            notes.append(f"No tabulated g(r) for {', '.join(missing)} K: the comparison with experiment is missing there. "
                         f"Tables go in reference_data/experiment/rdf/ (format in its README.md) or in the data directory's "
                         f"reference/liquid_rdf/.")
    notes += sorted({n for e in ran.values() for n in e.get("notes", [])[:1]}) + skipped_notes(skipped)
    return Section("rdf", "Liquid structure: radial distribution function (Fig. 4a)",
                   intro=tier_flag(results) + "g(r) averaged over frames 0.1 ps apart at the end of NVT runs at each liquid's own NPT "
                         "density; error bars from blocks of frames; D from the mean-squared displacement.",
                   tables=tables, figures=figures, notes=notes)
