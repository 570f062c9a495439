"""Heating and cooling through melting and freezing, with common-neighbour analysis (the paper's Fig. 6).

Protocol: 108 atoms (3x3x3 conventional FCC cells at the potential's own a0, fixed cell as in the paper, which
plots the pressure), Langevin thermostat with its target ramped linearly 300 → 1500 K and back to 300 K.
Recorded every 0.1 ps: potential energy, mean force magnitude, pressure, temperature; every
``frame_interval_ps`` the fractions of FCC / HCP / BCC / other atoms from adaptive CNA (OVITO). Melting time:
the first frame of the heating ramp after which the crystalline (fcc+hcp+bcc) fraction, smoothed over three
frames, stays below 0.5 for the rest of the heating; freezing time: the first frame of the cooling ramp after
which it stays above 0.5. Independent seeds (parallel processes for LAMMPS) give the error bars. The paper's
run (about 400 ps each way, melting near 300 ps, refreezing near 700 ps) is the full tier; the quick tier
ramps ~13 times faster, so the crystal superheats further and a 108-atom liquid may not refreeze at all:
then ``t_freeze_ps`` is null and the note says so.

Full tier only: DFT (GPAW-PBE with the settings of ``validation.dft``) on frames every ``dft_every_ps``: mean
absolute errors of energy, mean force and pressure (paper: 0.84 meV/atom, 4.1 meV/Å, 0.36 GPa).

The state at the end of each seed's cooling ramp is kept (extended XYZ, with velocities).
"""

from __future__ import annotations

import time

import numpy as np

from alal.analysis.blocks import mean_and_sem
from alal.analysis.cna import CRYSTALLINE, cna_labels, fractions_from_labels
from alal.md import Stage, maxwell_boltzmann, run_stages
from alal.structures import fcc_cubic
from validation.md.common import (MD_DTYPE, budget_check, full_tier_note, md_engine, md_seed, settings_with_engine,
                                  skipped)
from validation.md.parallel import run_jobs, worker_count
from validation.properties.base import KEPT, Comparison, PotentialContext, Property, PropertyResult, snapshot

CRYSTALLINE_THRESHOLD = 0.5
TIME_TOLERANCE_PS = 100.0  # the paper's times are read off a figure ("near 300 / 700 ps"); full tier only


def protocol_settings(tier: str) -> dict:
    common = {"n_cells": 3, "n_atoms": 108, "T_low_K": 300.0, "T_high_K": 1500.0, "tdamp_fs": 100.0,
              "sample_every_ps": 0.1}
    if tier == "quick":
        return {**common, "dt_fs": 2.0, "heat_ps": 30.0, "cool_ps": 30.0, "frame_interval_ps": 0.5, "seeds": 2,
                "dft_every_ps": None}
    return {**common, "dt_fs": 1.0, "heat_ps": 400.0, "cool_ps": 400.0, "frame_interval_ps": 0.5, "seeds": 3,
            "dft_every_ps": 2.5}


def seed_atom_steps(s: dict) -> float:
    return s["n_atoms"] * (s["heat_ps"] + s["cool_ps"]) * 1000.0 / s["dt_fs"]


def transition_time(t, crystalline, *, falling: bool) -> float | None:
    """First time after which the 3-frame running mean of ``crystalline`` stays below (falling) or above 0.5."""
    t, c = np.asarray(t, float), np.asarray(crystalline, float)
    if len(c) < 3:
        return None
    smooth = np.convolve(c, np.ones(3) / 3.0, mode="same")
    smooth[0], smooth[-1] = c[0], c[-1]
    ok = smooth < CRYSTALLINE_THRESHOLD if falling else smooth > CRYSTALLINE_THRESHOLD
    if not ok[-1]:
        return None
    bad = np.where(~ok)[0]
    first = 0 if len(bad) == 0 else bad[-1] + 1
    return float(t[first])


def heat_cool_trajectory(engine, a0: float, s: dict, seed: int, progress=None) -> dict:
    """One heating + cooling trajectory; thermo series, CNA fractions, melting and freezing times."""
    dt = s["dt_fs"]
    atoms = fcc_cubic(a0, s["n_cells"])
    maxwell_boltzmann(atoms, s["T_low_K"], seed)
    every = max(int(round(s["sample_every_ps"] * 1000.0 / dt)), 1)
    frame_every = max(int(round(s["frame_interval_ps"] * 1000.0 / dt)), 1)
    common = dict(tdamp_fs=s["tdamp_fs"], sample_every=every, frame_every=frame_every, forces=True)
    t0 = time.perf_counter()
    heat, cool = run_stages(atoms, engine, [
        Stage("langevin", int(round(s["heat_ps"] * 1000.0 / dt)), T_K=s["T_low_K"], T_end_K=s["T_high_K"],
              label=f"heating {s['T_low_K']:.0f} → {s['T_high_K']:.0f} K", **common),
        Stage("langevin", int(round(s["cool_ps"] * 1000.0 / dt)), T_K=s["T_high_K"], T_end_K=s["T_low_K"],
              label=f"cooling {s['T_high_K']:.0f} → {s['T_low_K']:.0f} K", **common),
    ], dt_fs=dt, seed=seed, progress=progress)
    n = len(atoms)
    t = np.concatenate([heat.t_ps, cool.t_ps + s["heat_ps"]])
    frames = heat.frames + cool.frames
    t_frames = np.array([f.t_ps for f in heat.frames] + [f.t_ps + s["heat_ps"] for f in cool.frames])
    fractions = [fractions_from_labels(cna_labels(f.atoms())) for f in frames]
    cryst = np.array([sum(f[k] for k in CRYSTALLINE) for f in fractions])
    on_heat = t_frames <= s["heat_ps"]
    t_melt = transition_time(t_frames[on_heat], cryst[on_heat], falling=True)
    t_freeze = transition_time(t_frames[~on_heat], cryst[~on_heat], falling=False)
    final = fractions[-1]

    def target_T(time_ps):
        if time_ps <= s["heat_ps"]:
            return s["T_low_K"] + (s["T_high_K"] - s["T_low_K"]) * time_ps / s["heat_ps"]
        return s["T_high_K"] + (s["T_low_K"] - s["T_high_K"]) * (time_ps - s["heat_ps"]) / s["cool_ps"]

    dft_frames = []
    if s.get("dft_every_ps"):
        step = max(int(round(s["dft_every_ps"] / s["frame_interval_ps"])), 1)
        dft_frames = [{"t_ps": float(t_frames[i]), "positions": frames[i].positions, "cell": frames[i].cell}
                      for i in range(0, len(frames), step)]
    return {
        "seed": seed, "t_ps": t, "T_K": np.concatenate([heat.T_K, cool.T_K]),
        "Epot_eV_per_atom": np.concatenate([heat.Epot_eV, cool.Epot_eV]) / n,
        "Fmean_eV_A": np.concatenate([heat.Fmean_eV_A, cool.Fmean_eV_A]),
        "P_GPa": np.concatenate([heat.P_GPa, cool.P_GPa]),
        "t_frames_ps": t_frames, "fractions": {k: [f[k] for f in fractions] for k in ("fcc", "hcp", "bcc", "other")},
        "crystalline": cryst, "t_melt_ps": t_melt, "t_freeze_ps": t_freeze,
        "T_melt_K": target_T(t_melt) if t_melt is not None else None,
        "T_freeze_K": target_T(t_freeze) if t_freeze is not None else None,
        "final_fractions": final, "dft_frames": dft_frames, "wall_s": time.perf_counter() - t0,
        # the state at the end of cooling (positions, velocities), with its potential energy
        "final_frame": snapshot(atoms, cool.Epot_eV[-1], seed=seed, T_target_K=s["T_low_K"], t_ps=float(t[-1]),
                                crystalline_fraction=float(cryst[-1])),
    }


def dft_spot_checks(traj: dict, calc_factory, progress=None) -> dict:
    """Energy, mean force and pressure of the potential against a reference calculator on saved frames.

    ``calc_factory()`` returns two calculators (potential, reference); returns per-frame values and the MAEs.
    """
    from ase import Atoms, units

    pot, ref = calc_factory()
    rows = []
    for i, fr in enumerate(traj["dft_frames"]):
        atoms = Atoms(f"Al{len(fr['positions'])}", positions=fr["positions"], cell=fr["cell"], pbc=True)
        vals = []
        for calc in (pot, ref):
            atoms.calc = calc
            e = atoms.get_potential_energy() / len(atoms)
            f = float(np.mean(np.linalg.norm(atoms.get_forces(), axis=1)))
            p = float(-np.trace(atoms.get_stress(voigt=False)) / 3.0 / units.GPa)
            vals.append((e, f, p))
        rows.append({"t_ps": fr["t_ps"], "potential": vals[0], "reference": vals[1]})
        if progress:
            progress(f"heat_cool: reference calculation {i + 1}/{len(traj['dft_frames'])}")
    if not rows:
        return {}
    a = np.array([r["potential"] for r in rows])
    b = np.array([r["reference"] for r in rows])
    d = a - b
    d[:, 0] -= np.mean(d[:, 0])  # energies compared up to a constant shift (different zero of energy)
    return {"frames": rows, "mae_energy_meV_per_atom": float(np.mean(np.abs(d[:, 0])) * 1e3),
            "mae_mean_force_meV_per_A": float(np.mean(np.abs(d[:, 1])) * 1e3),
            "mae_pressure_GPa": float(np.mean(np.abs(d[:, 2])))}


def gpaw_pair(ctx: PotentialContext, cell):
    """(the potential's float64 calculator, GPAW-PBE with the production settings of validation.dft)."""
    from ase import Atoms
    from gpaw import GPAW

    from validation.dft.settings import DFTSettings, kpoint_mesh

    settings = DFTSettings()
    kpts = kpoint_mesh(Atoms(cell=cell, pbc=True), settings.kpoint_density_per_A_inv)
    return ctx.calculator("float64"), GPAW(**settings.gpaw_parameters(kpts), txt=None)


class HeatCool(Property):
    name = "heat_cool"
    title = "Heating and cooling through melting (CNA)"
    dtype = MD_DTYPE

    def settings(self, tier: str) -> dict:
        return protocol_settings(tier)

    def build(self, ctx: PotentialContext) -> dict:
        return {"settings": self.settings(ctx.tier)}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        raw = self._simulate(built, ctx)
        # The full tier's cost estimate may probe the engine's throughput (MD): calculator work, so here, not in
        # analyse.
        raw["full_tier_note"] = self.full_note(ctx)
        return raw

    def _simulate(self, built: dict, ctx: PotentialContext) -> dict:
        s = settings_with_engine(built["settings"], ctx)
        engine = md_engine(ctx)
        workers = worker_count(s["seeds"], engine)
        cost = seed_atom_steps(s) * -(-s["seeds"] // workers)
        decision = budget_check(ctx, self.name, cost)
        if not decision.run:
            return {"skipped": decision, "settings": s}
        ctx.progress(f"heat_cool: {s['n_atoms']} atoms, {s['T_low_K']:.0f} → {s['T_high_K']:.0f} → "
                     f"{s['T_low_K']:.0f} K over {s['heat_ps'] + s['cool_ps']:.0f} ps, {s['seeds']} seed(s)")
        t0 = time.perf_counter()
        a0 = ctx.fcc_a0()
        jobs = [{"engine": engine, "a0": a0, "s": s, "seed": md_seed(ctx, self.name, k)} for k in range(s["seeds"])]
        trajectories = run_jobs(heat_cool_trajectory, jobs, engine, ctx.progress, prefix=f"[{ctx.name}] heat_cool ")
        kept = {f"seed{k}_final": tr.pop("final_frame") for k, tr in enumerate(trajectories)}
        for tr in trajectories:
            ctx.progress(f"heat_cool: seed {tr['seed']}: melting at {tr['t_melt_ps']} ps, freezing at "
                         f"{tr['t_freeze_ps']} ps ({tr['wall_s']:.0f} s)")
        dft = {}
        if s.get("dft_every_ps") and trajectories[0]["dft_frames"]:
            cell = trajectories[0]["dft_frames"][0]["cell"]
            dft = dft_spot_checks(trajectories[0], lambda: gpaw_pair(ctx, cell), ctx.progress)
        return {"trajectories": trajectories, "dft": dft, "settings": s, "md_wall_s": time.perf_counter() - t0,
                "budget": decision.as_dict(), "a0_A": a0, KEPT: kept}

    def full_note(self, ctx: PotentialContext) -> str:
        full = protocol_settings("full")
        full_workers = worker_count(full["seeds"], md_engine(ctx))
        note = full_tier_note(ctx, seed_atom_steps(full) * -(-full["seeds"] // full_workers), full_workers)
        if full.get("dft_every_ps"):
            n_dft = int((full["heat_ps"] + full["cool_ps"]) / full["dft_every_ps"])
            note += f" Plus {n_dft} GPAW-PBE calculations of 108 atoms (hours each on 2 cores: a cluster job)."
        return note

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = raw["settings"]
        full_note = raw["full_tier_note"]
        if "skipped" in raw:
            result = skipped(self, ctx, raw["skipped"], s)
            result.notes.append(full_note)
            return result
        trs = raw["trajectories"]
        melt = [tr["t_melt_ps"] for tr in trs]
        freeze = [tr["t_freeze_ps"] for tr in trs]
        t_melt, t_melt_err = mean_and_sem([m for m in melt if m is not None])
        t_freeze, t_freeze_err = mean_and_sem([f for f in freeze if f is not None])
        first = trs[0]
        data = {
            "t_melt_ps": t_melt if any(m is not None for m in melt) else None, "t_melt_err_ps": t_melt_err,
            "t_freeze_ps": t_freeze if any(f is not None for f in freeze) else None, "t_freeze_err_ps": t_freeze_err,
            "T_melt_K": mean_and_sem([tr["T_melt_K"] for tr in trs if tr["T_melt_K"] is not None])[0]
            if any(tr["T_melt_K"] is not None for tr in trs) else None,
            "T_freeze_K": mean_and_sem([tr["T_freeze_K"] for tr in trs if tr["T_freeze_K"] is not None])[0]
            if any(tr["T_freeze_K"] is not None for tr in trs) else None,
            "per_seed": [{k: tr[k] for k in ("seed", "t_melt_ps", "t_freeze_ps", "T_melt_K", "T_freeze_K",
                                             "final_fractions", "wall_s")} for tr in trs],
            # the first seed's series for the figure (thermo every 0.1 ps, fractions every frame)
            "t_ps": first["t_ps"], "T_K": first["T_K"], "Epot_eV_per_atom": first["Epot_eV_per_atom"],
            "Fmean_eV_A": first["Fmean_eV_A"], "P_GPa": first["P_GPa"], "t_frames_ps": first["t_frames_ps"],
            "fractions": first["fractions"], "n_atoms": s["n_atoms"], "md_wall_s": raw["md_wall_s"],
            "budget": raw["budget"], "dft": raw["dft"] or None,
        }
        notes = [f"{s['n_atoms']} atoms at fixed volume (a0 = {raw['a0_A']:.4f} Å), Langevin (damping "
                 f"{s['tdamp_fs']:.0f} fs), {s['T_low_K']:.0f} → {s['T_high_K']:.0f} K in {s['heat_ps']:.0f} ps and back in "
                 f"{s['cool_ps']:.0f} ps, {s['dt_fs']} fs step; {s['seeds']} seeds (mean ± standard error); CNA every "
                 f"{s['frame_interval_ps']} ps."]
        if ctx.tier == "quick":
            notes.append(f"Quick tier: ramps {400.0 / s['heat_ps']:.0f}x faster than the paper's, so the crystal "
                         "superheats further (later "
                         "melting) and the small liquid has little time to refreeze; times are not comparable "
                         "with the paper's 300 / 700 ps.")
        if ctx.tier == "quick":
            notes.append(full_note)
        n_melted = sum(m is not None for m in melt)
        if n_melted < len(melt):
            notes.append(f"{len(melt) - n_melted} of {len(melt)} trajectories never fell below 0.5 crystalline during "
                         f"heating (superheated at fixed volume, or melted too late for the 3-frame criterion); their "
                         f"melting time is left out of the mean.")
        n_frozen = sum(f is not None for f in freeze)
        if n_frozen < len(freeze):
            notes.append(f"{len(freeze) - n_frozen} of {len(freeze)} trajectories did not refreeze by the end of "
                         f"cooling (CNA crystalline fraction still below 0.5).")
        comparisons = []
        if ctx.tier == "full":
            for key in ("t_melt_ps", "t_freeze_ps"):
                paper = ctx.references.get("heat_cool", key, kind="paper", potential=ctx.name)
                if paper is not None and data[key] is not None:
                    comparisons.append(Comparison(key, data[key], paper.value, "paper", paper.label, TIME_TOLERANCE_PS,
                                                  key.replace("_ps", " (ps)")))
            for key, ours in (("dft_mae_energy_meV_per_atom", "mae_energy_meV_per_atom"),
                              ("dft_mae_mean_force_meV_per_A", "mae_mean_force_meV_per_A"),
                              ("dft_mae_pressure_GPa", "mae_pressure_GPa")):
                paper = ctx.references.get("heat_cool", key, kind="paper", potential=ctx.name)
                if paper is not None and raw["dft"]:
                    comparisons.append(Comparison(key, raw["dft"][ours], paper.value, "paper", paper.label, None, key))
        return PropertyResult(self.name, ctx.name, data, comparisons, settings=s, notes=notes)
