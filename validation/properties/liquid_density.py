"""Density of liquid aluminium versus temperature at 1 atm (the paper's Fig. 4b).

Protocol: an FCC supercell at the potential's own a0, expanded 12 % in volume, is melted at 2000 K (Langevin,
fixed cell), then cooled through the temperatures from the hottest down, each one an NPT run (MTK barostat and
Nosé-Hoover chain, isotropic, P = 0): equilibration, then production sampled every few steps. The density is the
block average of N m / V over production with its standard error. The last production frame goes through
common-neighbour analysis: a run that crystallised (possible below the potential's own melting point, e.g.
943 K for a potential that melts higher) is flagged and left out of comparisons and fits.

Experiment (``reference_data/experiment.json``, ``liquid_density`` entries with a ``formula``, in g/cm³ like every
density of the suite): Assael et al. 2006, ρ = 2.37723 − 3.11e-4 (T − 933.47) g/cm³ (933-1190 K), and the CRC
Handbook 2005, ρ = 2.3750 − 2.33e-4 (T − 933.47) g/cm³ (to 1613 K). The final state at each temperature is kept
for the rdf property, and written out (extended XYZ, with velocities).
"""

from __future__ import annotations

import time

import numpy as np

from alal.analysis.blocks import block_average
from alal.analysis.cna import cna_fractions
from alal.md import Stage, maxwell_boltzmann, run_stages
from validation.md.common import (MD_DTYPE, budget_check, density_g_cm3, full_tier_note, liquid_start, md_engine,
                                  md_seed, settings_with_engine, skipped)
from validation.properties.base import KEPT, Comparison, PotentialContext, Property, PropertyResult, snapshot

CRYSTALLISED_FRACTION = 0.2  # CNA crystalline fraction above which a "liquid" run counts as crystallised
RHO_TOLERANCE_G_CM3 = 0.05  # ~2 %: the experiments scatter by ~1 %, quick-tier error bars are ~0.3 %
SLOPE_TOLERANCE = 1.5e-4  # g/cm³/K: Assael (−3.11e-4) and CRC (−2.33e-4) differ by 0.8e-4 themselves


def protocol_settings(tier: str) -> dict:
    if tier == "quick":
        return {"n_cells": 4, "n_atoms": 256, "dt_fs": 2.0, "T_K": [943.0, 1023.0, 1123.0, 1183.0, 1273.0],
                "P_GPa": 0.0, "melt_T_K": 2000.0, "melt_ps": 1.5, "first_equil_ps": 1.5, "equil_ps": 0.8,
                "production_ps": 2.0, "tdamp_fs": 100.0, "pdamp_fs": 500.0, "sample_every": 5, "min_blocks": 4}
    return {"n_cells": 8, "n_atoms": 2048, "dt_fs": 1.0,
            "T_K": [943.0, 1023.0, 1123.0, 1183.0, 1273.0, 1373.0, 1473.0],
            "P_GPa": 0.0, "melt_T_K": 2000.0, "melt_ps": 10.0, "first_equil_ps": 20.0, "equil_ps": 10.0,
            "production_ps": 50.0, "tdamp_fs": 100.0, "pdamp_fs": 1000.0, "sample_every": 10, "min_blocks": 8}


def protocol_atom_steps(s: dict, n_temperatures: int | None = None) -> float:
    n_t = len(s["T_K"]) if n_temperatures is None else n_temperatures
    ps = s["melt_ps"] + s["first_equil_ps"] + n_t * (s["equil_ps"] + s["production_ps"])
    return s["n_atoms"] * ps * 1000.0 / s["dt_fs"]


def steps(ps: float, dt_fs: float) -> int:
    return max(int(round(ps * 1000.0 / dt_fs)), 1)


def run_liquid_series(atoms, engine, temperatures, s: dict, seed: int, progress=None) -> list[dict]:
    """Melt ``atoms`` and run NPT at each temperature (hottest first); one dict per temperature.

    Each dict: T_K (target), T_mean_K, P_mean_GPa, rho_g_cm3, err_g_cm3, V_A3_per_atom, crystalline_fraction,
    crystallised, wall_s, state (Atoms with velocities at the end), Epot_end_eV (its potential energy), V_mean_A3.
    """
    dt = s["dt_fs"]
    n = len(atoms)
    maxwell_boltzmann(atoms, s["melt_T_K"], seed)
    t0 = time.perf_counter()
    run_stages(atoms, engine, [Stage("langevin", steps(s["melt_ps"], dt), T_K=s["melt_T_K"], tdamp_fs=s["tdamp_fs"],
                                     sample_every=50, pressure=False, label=f"melt at {s['melt_T_K']:.0f} K")],
               dt_fs=dt, seed=seed, progress=progress)
    if progress:
        progress(f"melted {n} atoms at {s['melt_T_K']:.0f} K in {time.perf_counter() - t0:.0f} s")
    out = []
    for i, T in enumerate(sorted(temperatures, reverse=True)):
        t0 = time.perf_counter()
        equil_ps = s["first_equil_ps"] if i == 0 else s["equil_ps"]
        prod = steps(s["production_ps"], dt)
        common = dict(T_K=T, P_GPa=s["P_GPa"], barostat="iso", tdamp_fs=s["tdamp_fs"], pdamp_fs=s["pdamp_fs"],
                      sample_every=s["sample_every"])
        traces = run_stages(atoms, engine, [
            Stage("npt", steps(equil_ps, dt), label=f"{T:.0f} K NPT equilibration", **common),
            Stage("npt", prod, frame_every=prod, label=f"{T:.0f} K NPT production", **common),
        ], dt_fs=dt, seed=seed + 17 * (i + 1), progress=progress)
        production = traces[1]
        rho, err = block_average(density_g_cm3(n, production.V_A3), s["min_blocks"])
        cna = cna_fractions(production.frames[-1].atoms())
        point = {
            "T_K": float(T), "T_mean_K": float(np.mean(production.T_K)), "P_mean_GPa": float(np.mean(production.P_GPa)),
            "rho_g_cm3": rho, "err_g_cm3": err, "V_A3_per_atom": float(np.mean(production.V_A3) / n),
            "V_mean_A3": float(np.mean(production.V_A3)), "crystalline_fraction": cna["crystalline"],
            "crystallised": bool(cna["crystalline"] > CRYSTALLISED_FRACTION),
            "wall_s": time.perf_counter() - t0, "state": atoms.copy(), "Epot_end_eV": float(production.Epot_eV[-1]),
        }
        point["state"].set_velocities(atoms.get_velocities())
        if progress:
            progress(f"{T:.0f} K: ρ = {rho:.4f} ± {err:.4f} g/cm³ (T = {point['T_mean_K']:.0f} K, "
                     f"P = {point['P_mean_GPa']:.3f} GPa, crystalline {100 * cna['crystalline']:.0f} %) "
                     f"in {point['wall_s']:.0f} s")
        out.append(point)
    return sorted(out, key=lambda p: p["T_K"])


def experimental_curves(references) -> list[dict]:
    """The experimental ρ(T) formulas: label, citation, rho0 (g/cm³), slope (g/cm³/K), T0, valid range."""
    out = []
    for ref in references.find("liquid_density", kind="experiment"):
        f = ref.extra.get("formula")
        if not f:
            continue
        out.append({"key": ref.key, "label": ref.label, "citation": ref.citation,
                    "rho0_g_cm3": f["rho0_g_cm3"], "slope_g_cm3_per_K": f["slope_g_cm3_per_K"],
                    "T0_K": f["T0_K"], "valid_K": list(f["valid_K"])})
    return out


def evaluate_curve(curve: dict, T) -> np.ndarray:
    return curve["rho0_g_cm3"] + curve["slope_g_cm3_per_K"] * (np.asarray(T, float) - curve["T0_K"])


def weighted_line(T, rho, err) -> dict:
    """Straight-line fit ρ = a + b T weighted by 1/err²; slope and its standard error."""
    T, rho, err = (np.asarray(v, float) for v in (T, rho, err))
    if len(T) < 2:
        return {"slope_g_cm3_per_K": None, "slope_err_g_cm3_per_K": None, "intercept_g_cm3": None}
    w = 1.0 / np.maximum(err, 1e-6) ** 2
    A = np.vstack([np.ones_like(T), T]).T
    cov = np.linalg.inv(A.T @ (A * w[:, None]))
    coef = cov @ (A.T @ (w * rho))
    resid = rho - A @ coef
    chi2 = float(np.sum(w * resid**2) / max(len(T) - 2, 1)) if len(T) > 2 else 1.0
    scale = max(chi2, 1.0)  # inflate the error when the scatter exceeds the error bars
    return {"slope_g_cm3_per_K": float(coef[1]), "slope_err_g_cm3_per_K": float(np.sqrt(cov[1, 1] * scale)),
            "intercept_g_cm3": float(coef[0])}


class LiquidDensity(Property):
    name = "liquid_density"
    title = "Liquid density versus temperature (1 atm)"
    dtype = MD_DTYPE

    def settings(self, tier: str) -> dict:
        return protocol_settings(tier)

    def build(self, ctx: PotentialContext) -> dict:
        s = self.settings(ctx.tier)
        return {"settings": s, "atom_steps": protocol_atom_steps(s)}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        raw = self._simulate(built, ctx)
        # The full tier's cost estimate may probe the engine's throughput (MD): calculator work, so here, not in
        # analyse.
        raw["full_tier_note"] = self.full_note(ctx)
        return raw

    def _simulate(self, built: dict, ctx: PotentialContext) -> dict:
        s = settings_with_engine(built["settings"], ctx)
        decision = budget_check(ctx, self.name, built["atom_steps"])
        if not decision.run:
            return {"skipped": decision, "settings": s}
        seed = md_seed(ctx, self.name)
        s["md_seed"] = seed
        atoms = liquid_start(ctx, s["n_cells"])
        ctx.progress(f"liquid density: {len(atoms)} atoms, {len(s['T_K'])} temperatures, "
                     f"{s['production_ps']} ps production each ({md_engine(ctx).name} engine)")
        t0 = time.perf_counter()
        points = run_liquid_series(atoms, md_engine(ctx), s["T_K"], s, seed, ctx.progress)
        ctx.cache["md:liquid"] = {"n_atoms": len(atoms), "dt_fs": s["dt_fs"],
                                  "states": {p["T_K"]: (p["state"], p["V_mean_A3"]) for p in points}}
        kept = {f"{p['T_K']:.0f}K_final": snapshot(p["state"], p["Epot_end_eV"], T_target_K=p["T_K"],
                                                   T_mean_K=p["T_mean_K"], P_mean_GPa=p["P_mean_GPa"],
                                                   rho_g_cm3=p["rho_g_cm3"], crystallised=p["crystallised"])
                for p in points}
        return {"points": points, "settings": s, "md_wall_s": time.perf_counter() - t0, "budget": decision.as_dict(),
                KEPT: kept}

    def full_note(self, ctx: PotentialContext) -> str:
        return full_tier_note(ctx, protocol_atom_steps(protocol_settings("full")))

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = raw["settings"]
        full_note = raw["full_tier_note"]
        if "skipped" in raw:
            result = skipped(self, ctx, raw["skipped"], s)
            result.notes.append(full_note)
            return result
        points = raw["points"]
        keep = ["T_K", "T_mean_K", "P_mean_GPa", "rho_g_cm3", "err_g_cm3", "V_A3_per_atom", "crystalline_fraction",
                "crystallised", "wall_s"]
        data = {k: [p[k] for p in points] for k in keep}
        valid = [p for p in points if not p["crystallised"]]
        # against the measured mean temperature: after each 80-90 K cooling step the liquid runs ~0-15 K above
        # the thermostat's target for the quick tier's short equilibration (structural relaxation releases heat)
        data["fit"] = weighted_line([p["T_mean_K"] for p in valid], [p["rho_g_cm3"] for p in valid],
                                    [p["err_g_cm3"] for p in valid])
        curves = experimental_curves(ctx.references)
        data["experiment"] = {c["key"]: {"label": c["label"], "valid_K": c["valid_K"],
                                         "rho_g_cm3": [float(evaluate_curve(c, T)) for T in data["T_K"]]}
                              for c in curves}
        data["n_atoms"] = s["n_atoms"]
        data["run_ps_per_temperature"] = s["equil_ps"] + s["production_ps"]
        data["md_wall_s"] = raw["md_wall_s"]
        data["budget"] = raw["budget"]
        notes = [f"{s['n_atoms']} atoms, NPT (MTK) at P = 0, {s['dt_fs']} fs step, {s['equil_ps']} ps equilibration "
                 f"({s['first_equil_ps']} ps at the first temperature after melting at {s['melt_T_K']:.0f} K) + "
                 f"{s['production_ps']} ps production per temperature; errors are blocking standard errors "
                 f"(Flyvbjerg-Petersen, at least {s['min_blocks']} blocks)."]
        if ctx.tier == "quick":
            notes.append("Quick tier: small cell and short runs; error bars are larger than the full tier's and "
                         "finite-size effects (~0.1-0.3 %) are not removed.")
            notes.append(full_note)
        for p in points:
            if p["crystallised"]:
                notes.append(f"{p['T_K']:.0f} K: the liquid crystallised (CNA crystalline fraction "
                             f"{100 * p['crystalline_fraction']:.0f} %) — below this potential's melting point; "
                             f"left out of comparisons and the fit.")
        return PropertyResult(self.name, ctx.name, data, self.comparisons(points, data, curves), settings=s,
                              notes=notes)

    def comparisons(self, points, data, curves) -> list[Comparison]:
        out = []
        by_T = {p["T_K"]: p for p in points if not p["crystallised"]}
        if not by_T:
            return out
        lowest, highest = min(by_T), max(by_T)
        for c in curves:
            lo, hi = c["valid_K"]
            for T in sorted({lowest, highest}):
                if lo <= T <= hi:
                    out.append(Comparison(f"rho_{T:.0f}K_g_cm3", by_T[T]["rho_g_cm3"],
                                          float(evaluate_curve(c, by_T[T]["T_mean_K"])),
                                          "experiment", c["label"], RHO_TOLERANCE_G_CM3, f"ρ liquid {T:.0f} K (g/cm³)"))
            slope = data["fit"]["slope_g_cm3_per_K"]
            if slope is not None:
                out.append(Comparison("slope_g_cm3_per_K", slope, c["slope_g_cm3_per_K"], "experiment", c["label"],
                                      SLOPE_TOLERANCE, "dρ/dT liquid (g/cm³/K)"))
        return out
