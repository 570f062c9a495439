"""Melting line from solid-liquid coexistence (the paper's Fig. 5) and the crystalline fraction along the runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt
from validation.report.sections.liquid import pm, ran_and_skipped, skipped_notes, tier_flag
from validation.report.style import EXPERIMENT_COLOUR, colour, label, new_figure, save


def _reference(results: dict, key: str, kind: str, potential: str | None = None):
    for ref in results.get("references", []):
        if (ref.get("property") == "melting" and ref.get("key") == key and ref.get("kind") == kind
                and ref.get("potential") == potential and not ref.get("condition")):
            return ref
    return None


def _melting_line_figure(ran: dict, results: dict, path: Path) -> None:
    fig, (ax, ax2) = new_figure(10.0, 4.2, ncols=2, gridspec_kw={"width_ratios": [2.2, 1]})
    order = list(ran)
    exp = _reference(results, "Tm_0GPa_K", "experiment")
    cc = next((e.get("clausius_clapeyron") for e in ran.values() if e.get("clausius_clapeyron")), None)
    p_max = max([max(e["P_GPa"]) for e in ran.values() if e["P_GPa"]] + [10.0])
    for name, e in ran.items():
        if not e["P_GPa"]:
            continue
        P, Tm, err = (np.array(e[k], float) for k in ("P_GPa", "Tm_K", "err_K"))
        ax.errorbar(P, Tm, yerr=np.nan_to_num(err), fmt="o-", ms=4, capsize=2, color=colour(name, order),
                    label=label(name))
        fit = e.get("fit") or {}
        if (fit.get("model") or "").startswith("Simon") and fit.get("params"):
            p = fit["params"]
            x = np.linspace(0, max(P), 100)
            ax.plot(x, p["T0_K"] * (1 + x / p["a_GPa"]) ** (1 / p["c"]), ":", color=colour(name, order), lw=0.8)
        for P_i, phase in zip(P, e.get("phase_formed", [])):
            if "bcc" in phase:
                ax.annotate("BCC", (P_i, Tm[list(P).index(P_i)]), textcoords="offset points", xytext=(4, -10),
                            fontsize=7, color=colour(name, order))
    if exp is not None:
        ax.plot([0], [exp["value"]], "*", color=EXPERIMENT_COLOUR, ms=10, label=f"Experiment ({exp['label']})")
        if cc:
            x = np.linspace(0, min(10.0, p_max), 20)
            ax.plot(x, exp["value"] + cc["dTm_dP_K_per_GPa"] * x, "--", color=EXPERIMENT_COLOUR, lw=1.0,
                    label=f"Clausius-Clapeyron slope ({cc['dTm_dP_K_per_GPa']:.0f} K/GPa)")
    ax.set_xlabel("Pressure (GPa)")
    ax.set_ylabel("Melting temperature (K)")
    ax.set_title("(a) FCC-liquid coexistence")
    ax.legend(fontsize=7)
    names, errs, cols = [], [], []
    if exp is not None:
        for name, e in ran.items():
            if e.get("Tm_0GPa_K") is not None:
                names.append(label(name))
                errs.append((e["Tm_0GPa_K"] - exp["value"], e.get("Tm_0GPa_err_K") or 0.0))
                cols.append(colour(name, order))
                paper = _reference(results, "Tm_0GPa_K", "paper", potential=name)
                if paper is not None:
                    names.append(f"{label(name)} (paper)")
                    errs.append((paper["value"] - exp["value"], 0.0))
                    cols.append("#cccccc")
    if names:
        y = np.arange(len(names))
        ax2.barh(y, [v for v, _ in errs], xerr=[np.nan_to_num(s) for _, s in errs], color=cols, capsize=2)
        ax2.set_yticks(y, names, fontsize=7)
        ax2.axvline(0, color="black", lw=0.8)
        ax2.set_xlabel("Tm(1 atm) − 933.47 K (K)")
        ax2.set_title("(b) error at 1 atm")
    else:
        ax2.set_visible(False)
    save(fig, path)


def _fraction_figure(ran: dict, path: Path) -> bool:
    """Temperature and solid share along the NPH coexistence run at the lowest pressure (first valid seed)."""
    order = list(ran)
    fig, (ax1, ax2) = new_figure(9.0, 3.4, ncols=2)
    drawn = False
    for name, e in ran.items():
        runs = [r for r in e.get("runs", []) if r.get("outcome") == "coexistence" and not r.get("superseded")]
        if not runs:
            continue
        p_low = min(r["P_target_GPa"] for r in runs)
        r = next(r for r in runs if r["P_target_GPa"] == p_low)
        col = colour(name, order)
        ax1.plot(r["T_t_ps"], r["T_K"], color=col, lw=1.0, label=f"{label(name)} ({p_low:g} GPa)")
        ax1.axhline(r["Tm_K"], color=col, ls=":", lw=0.8)
        ax2.plot(r["t_ps"], r["solid_share"], color=col, lw=1.0, label=label(name))
        drawn = True
    if not drawn:
        return False
    ax1.set_xlabel("Time in the NPH run (ps)")
    ax1.set_ylabel("Temperature (K)")
    ax1.set_title("(a) temperature (dotted: Tm of the run)")
    ax1.legend(fontsize=7)
    ax2.set_xlabel("Time in the NPH run (ps)")
    ax2.set_ylabel("Solid share (CNA, relative to a pure crystal)")
    ax2.set_ylim(0, 1)
    ax2.set_title("(b) crystalline fraction")
    save(fig, path)
    return True


def build_section(results: dict, fig_dir: Path) -> Section | None:
    ran, skipped = ran_and_skipped(results, "melting")
    if not ran and not skipped:
        return None
    figures, tables = [], []
    if ran:
        path = fig_dir / "melting_line.png"
        _melting_line_figure(ran, results, path)
        figures.append(Figure(path, "(a) Melting temperature versus pressure from explicit FCC-liquid interfaces "
                                    "(mean ± standard error over seeds; dotted: Simon-Glatzel fit), with the "
                                    "experimental melting point and the Clausius-Clapeyron slope from the latent heat "
                                    "and volume change. (b) Error of Tm at 1 atm, with the paper's values. Compare "
                                    "the paper's Fig. 5."))
        path = fig_dir / "melting_fraction.png"
        if _fraction_figure(ran, path):
            figures.append(Figure(path, "The coexistence run at the lowest pressure (first valid seed): (a) the "
                                        "temperature relaxing to the melting point at constant enthalpy, (b) the "
                                        "crystalline fraction (adaptive CNA, relative to a pure crystal at the same "
                                        "T) versus time."))
        pressures = sorted({P for e in ran.values() for P in e["P_GPa"]})
        rows = []
        for P in pressures:
            row = [f"{P:g}"]
            for e in ran.values():
                if P in e["P_GPa"]:
                    i = e["P_GPa"].index(P)
                    row.append(f"{pm(e['Tm_K'][i], e['err_K'][i], 4)} ({e['phase_formed'][i]}, "
                               f"{e['n_valid_seeds'][i]} seeds)")
                else:
                    row.append("—")
            rows.append(row)
        tables.append(Table("Melting temperature (K) by pressure (GPa)", ["P (GPa)", *(label(n) for n in ran)], rows))
        rows = []
        for name, e in ran.items():
            cc = e.get("clausius_clapeyron") or {}
            rows.append([label(name), pm(e.get("Tm_0GPa_K"), e.get("Tm_0GPa_err_K"), 4),
                         fmt(e.get("dTm_dP_K_per_GPa"), 3), fmt(cc.get("dTm_dP_K_per_GPa"), 3),
                         str((e.get("n_atoms") or {}).get("fcc")), f"{e.get('wall_time_s', 0):.0f} s"])
        tables.append(Table("Tm at 1 atm (experiment 933.47 K; paper ≈925 K for ANI-Al and Mendelev) and the initial "
                            "slope", ["Potential", "Tm(0) (K)", "dTm/dP fit (K/GPa)", "Clausius-Clapeyron (K/GPa)",
                                      "atoms", "wall time"], rows))
    notes = sorted({n for e in ran.values() for n in e.get("notes", [])[:1]})
    notes += [f"{label(n)}: {x}" for n, e in ran.items() for x in e.get("notes", [])[1:]]
    notes += skipped_notes(skipped)
    return Section("melting", "Melting line (Fig. 5)",
                   intro=tier_flag(results) + "Explicit solid-liquid interfaces: a crystal slab and a liquid slab in contact along z, run at "
                         "constant enthalpy and pressure until the temperature settles at the melting point.",
                   tables=tables, figures=figures, notes=notes)
