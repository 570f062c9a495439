"""Heating/cooling trajectory with common-neighbour analysis (the paper's Fig. 6)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from validation.report.model import Figure, Section, Table
from validation.report.sections import fmt
from validation.report.sections.liquid import pm, ran_and_skipped, skipped_notes, tier_flag
from validation.report.style import colour, label, new_figure, save

CNA_COLOURS = {"fcc": "#2ca02c", "hcp": "#d62728", "bcc": "#1f77b4", "other": "#bbbbbb"}


def _thermo_figure(ran: dict, path: Path) -> None:
    fig, axes = new_figure(11.0, 3.6, ncols=3)
    order = list(ran)
    for name, e in ran.items():
        t = np.array(e["t_ps"], float)
        c = colour(name, order)
        e0 = np.array(e["Epot_eV_per_atom"], float)
        axes[0].plot(t, e0 - e0[0], color=c, lw=0.8, label=label(name))
        axes[1].plot(t, e["Fmean_eV_A"], color=c, lw=0.8)
        axes[2].plot(t, e["P_GPa"], color=c, lw=0.8)
        for ax in axes:
            for key, ls in (("t_melt_ps", "--"), ("t_freeze_ps", ":")):
                if e.get(key) is not None:
                    ax.axvline(e[key], color=c, ls=ls, lw=0.8)
    first = next(iter(ran.values()))
    twin = axes[2].twinx()
    twin.plot(first["t_ps"], first["T_K"], color="grey", lw=0.5, alpha=0.6)
    twin.set_ylabel("T (K)", color="grey")
    twin.grid(False)
    axes[0].set_ylabel("E_pot − E_pot(0) (eV/atom)")
    axes[1].set_ylabel("mean |F| (eV/Å)")
    axes[2].set_ylabel("Pressure (GPa)")
    for ax in axes:
        ax.set_xlabel("Time (ps)")
    axes[0].legend(fontsize=7)
    save(fig, path)


def _cna_figure(ran: dict, path: Path) -> None:
    fig, axes = new_figure(7.0, 1.6 * len(ran) + 0.6, nrows=len(ran), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, (name, e) in zip(axes, ran.items()):
        t = np.array(e["t_frames_ps"], float)
        fr = e["fractions"]
        ax.stackplot(t, *(fr[k] for k in ("fcc", "hcp", "bcc", "other")), colors=[CNA_COLOURS[k] for k in CNA_COLOURS],
                     labels=[k.upper() if k != "other" else "other" for k in CNA_COLOURS])
        ax.set_ylim(0, 1)
        ax.set_ylabel("fraction")
        ax.set_title(label(name), fontsize=8)
    axes[0].legend(fontsize=6, ncol=4, loc="lower left")
    axes[-1].set_xlabel("Time (ps)")
    save(fig, path)


def build_section(results: dict, fig_dir: Path) -> Section | None:
    ran, skipped = ran_and_skipped(results, "heat_cool")
    if not ran and not skipped:
        return None
    figures, tables = [], []
    if ran:
        path = fig_dir / "heat_cool_thermo.png"
        _thermo_figure(ran, path)
        figures.append(Figure(path, "Potential energy, mean force magnitude and pressure along heating 300 → 1500 K "
                                    "and cooling back (first seed; dashed: melting, dotted: freezing; grey: "
                                    "instantaneous temperature of the first potential). Compare the paper's Fig. 6."))
        path = fig_dir / "heat_cool_cna.png"
        _cna_figure(ran, path)
        figures.append(Figure(path, "Common-neighbour analysis (OVITO, adaptive): fractions of FCC, HCP, BCC and "
                                    "other atoms along the same trajectory (the paper's Fig. 6 insets)."))
        rows = []
        for name, e in ran.items():
            per_seed = ", ".join(f"{fmt(s['t_melt_ps'], 3)}/{fmt(s['t_freeze_ps'], 3)}" for s in e.get("per_seed", []))
            rows.append([label(name), pm(e.get("t_melt_ps"), e.get("t_melt_err_ps"), 3), fmt(e.get("T_melt_K"), 4),
                         pm(e.get("t_freeze_ps"), e.get("t_freeze_err_ps"), 3), fmt(e.get("T_freeze_K"), 4), per_seed,
                         f"{e.get('wall_time_s', 0):.0f} s"])
        tables.append(Table("Melting and freezing along the ramp (paper, ANI-Al at its slower ramps: melting near "
                            "300 ps, freezing near 700 ps)",
                            ["Potential", "t_melt (ps)", "T target at melting (K)", "t_freeze (ps)",
                             "T target at freezing (K)", "per seed melt/freeze (ps)", "wall time"], rows))
        dft_rows = [[label(n), fmt(e["dft"]["mae_energy_meV_per_atom"], 3), fmt(e["dft"]["mae_mean_force_meV_per_A"], 3),
                     fmt(e["dft"]["mae_pressure_GPa"], 3), str(len(e["dft"]["frames"]))]
                    for n, e in ran.items() if e.get("dft")]
        if dft_rows:
            tables.append(Table("Against DFT on frames of the trajectory (paper, ANI-Al: 0.84 meV/atom, 4.1 meV/Å, "
                                "0.36 GPa)", ["Potential", "MAE E (meV/atom)", "MAE mean |F| (meV/Å)",
                                              "MAE P (GPa)", "frames"], dft_rows))
    notes = sorted({n for e in ran.values() for n in e.get("notes", [])[:2]})
    notes += [f"{label(n)}: {x}" for n, e in ran.items() for x in e.get("notes", [])[2:]]
    notes += skipped_notes(skipped)
    return Section("heat_cool", "Heating and cooling through the melting transition (Fig. 6)",
                   intro=tier_flag(results) + "108 atoms at fixed volume, Langevin thermostat ramped 300 → 1500 → 300 K; structure by "
                         "common-neighbour analysis.", tables=tables, figures=figures, notes=notes)
