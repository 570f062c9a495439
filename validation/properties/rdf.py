"""Radial distribution function of liquid aluminium at 1123, 1183 and 1273 K (the paper's Fig. 4a).

Protocol (the paper's, scaled by tier): the liquid at each temperature is taken at its NPT density — the final
state of the liquid_density property when it ran in this session with the same cell, else a short melt + NPT
run here — rescaled to the mean NPT volume, equilibrated in NVT (Nosé-Hoover chain, the Shinoda-style MTK
equations the paper used in LAMMPS), then sampled: g(r) with 0.05 Å bins averaged over frames 0.1 ps apart at
the end of the run (paper: 100 frames over the last 10 ps of a 50 ps NVT run, 1 fs step). Reported: first-peak
position and height, first-minimum position, coordination number up to it, each with a standard error from
splitting the frames into blocks, and the self-diffusion coefficient from the same frames (Einstein relation).

Experiment: tabulated g(r) files are compared when present, first in ``reference_data/experiment/rdf/`` (a slot
for the user's own tables; format in that folder's README.md), then in the data directory's
``reference/liquid_rdf/`` (``$ALAL_DATA_DIR``; the LANL hippynn tables at 943-1323 K, which the project does not
redistribute; their file headers carry the label and how to cite them). Per temperature: first-peak position and
height against the table's, and the RMS difference of g over the common range r ≥ 2 Å.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np

from alal.analysis.blocks import mean_and_sem
from alal.analysis.rdf import first_shell, rdf_per_frame, self_diffusion
from alal.errors import AlalError
from alal.md import Stage, run_stages
from validation.md.common import (MD_DTYPE, budget_check, density_g_cm3, full_tier_note, liquid_start, md_engine,
                                  md_seed, settings_with_engine, skipped)
from validation.properties.base import KEPT, Comparison, PotentialContext, Property, PropertyResult, snapshot
from validation.properties.liquid_density import protocol_settings as density_settings
from validation.properties.liquid_density import run_liquid_series, steps

RDF_TEMPERATURES_K = (1123.0, 1183.0, 1273.0)
EXPERIMENT_DIR = ("experiment", "rdf")
PEAK_R_TOLERANCE_A = 0.05  # one bin: the experimental peak position is known to about a bin
PEAK_G_TOLERANCE = 0.2  # ~8 % of the first-peak height; experimental normalisation is uncertain by several %


def protocol_settings(tier: str) -> dict:
    if tier == "quick":
        return {"T_K": list(RDF_TEMPERATURES_K), "n_cells": 4, "n_atoms": 256, "dt_fs": 2.0, "equil_ps": 0.4,
                "n_frames": 30, "frame_interval_ps": 0.1, "bin_A": 0.05, "r_max_A": 8.0, "tdamp_fs": 100.0,
                "n_blocks": 5,
                # used only when no liquid state from liquid_density is available:
                "prep": {**density_settings("quick"), "first_equil_ps": 1.5, "equil_ps": 1.0, "production_ps": 1.5}}
    return {"T_K": list(RDF_TEMPERATURES_K), "n_cells": 8, "n_atoms": 2048, "dt_fs": 1.0, "equil_ps": 40.0,
            "n_frames": 100, "frame_interval_ps": 0.1, "bin_A": 0.05, "r_max_A": 10.0, "tdamp_fs": 100.0,
            "n_blocks": 5, "prep": {**density_settings("full"), "production_ps": 20.0}}


def nvt_atom_steps(s: dict) -> float:
    ps = len(s["T_K"]) * (s["equil_ps"] + s["n_frames"] * s["frame_interval_ps"])
    return s["n_atoms"] * ps * 1000.0 / s["dt_fs"]


DATA_DIR_TABLES = ("reference", "liquid_rdf")


def experiment_dirs(references) -> list[Path]:
    """Where tabulated g(r) files are looked for, in order: the project's slot, then the data directory's tables."""
    from alal.config import data_dir

    return [Path(references.root).joinpath(*EXPERIMENT_DIR), data_dir().joinpath(*DATA_DIR_TABLES)]


def find_experimental_rdf(folders: list[Path], T_K: float) -> dict | None:
    """The first table for ``T_K`` found in ``folders`` (see :func:`load_experimental_rdf`)."""
    for folder in folders:
        exp = load_experimental_rdf(folder, T_K)
        if exp is not None:
            return exp
    return None


def load_experimental_rdf(folder: Path, T_K: float) -> dict | None:
    """The tabulated experimental g(r) for ``T_K`` (a file ``*_<T>K.dat``), or None when there is none.

    Format: text; ``#`` lines are comments, ``# citation: ...`` and ``# label: ...`` are read; then two columns,
    r in Å and g(r). Raises AlalError for a file that does not parse.
    """
    if not folder.is_dir():
        return None
    matches = sorted(p for p in folder.glob("*.dat") if re.search(rf"(^|_){int(round(T_K))}K\.dat$", p.name))
    if not matches:
        return None
    path = matches[0]
    meta = {"label": path.stem, "citation": ""}
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"#\s*(citation|label)\s*:\s*(.+)", line, re.I)
            if m:
                meta[m.group(1).lower()] = m.group(2).strip()
            continue
        parts = line.replace(",", " ").split()
        try:
            rows.append((float(parts[0]), float(parts[1])))
        except (ValueError, IndexError) as exc:
            raise AlalError(f"experimental g(r) file {path}: cannot read the line '{line}' (want: r_A g)") from exc
    if len(rows) < 10:
        raise AlalError(f"experimental g(r) file {path} has {len(rows)} data rows; need at least 10")
    r, g = np.array(rows).T
    return {"file": str(path), "label": meta["label"], "citation": meta["citation"], "r_A": r, "g": g}


def analyse_frames(frames, s: dict) -> dict:
    """g(r) over all frames plus first-shell numbers with block standard errors, and self-diffusion."""
    cell = frames[0].cell
    heights = cell.volume / np.linalg.norm(np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)
    r_max = min(s["r_max_A"], 0.5 * float(heights.min()))  # beyond half the cell g(r) sees its own images
    r, g_frames, rho_frames = rdf_per_frame(frames, r_max, s["bin_A"])
    g, rho = g_frames.mean(axis=0), float(rho_frames.mean())
    shell = first_shell(r, g, rho)
    per_block = [first_shell(r, g_frames[idx].mean(axis=0), float(rho_frames[idx].mean()))
                 for idx in np.array_split(np.arange(len(frames)), s["n_blocks"])]
    errors = {f"{k}_err": mean_and_sem([b[k] for b in per_block])[1] for k in shell}
    diffusion = self_diffusion(frames, s["frame_interval_ps"])
    return {"r_A": r, "g": g, **shell, **errors, "r_max_A": r_max, "number_density_A3": rho,
            "D_m2_s": diffusion["D_m2_s"]}


def compare_to_experiment(result: dict, exp: dict) -> dict:
    """Experimental first-shell numbers and the RMS difference of g over the common r range (≥ 2 Å)."""
    r_e, g_e = exp["r_A"], exp["g"]
    shell = first_shell(r_e, g_e, result["number_density_A3"])
    lo, hi = max(2.0, r_e.min()), min(result["r_max_A"], r_e.max())
    sel = (result["r_A"] >= lo) & (result["r_A"] <= hi)
    diff = result["g"][sel] - np.interp(result["r_A"][sel], r_e, g_e)
    return {"file": exp["file"], "label": exp["label"], "citation": exp["citation"], "r_A": r_e, "g": g_e,
            "peak_r_A": shell["peak_r_A"], "peak_g": shell["peak_g"], "min_r_A": shell["min_r_A"],
            "rms_g_difference": float(np.sqrt(np.mean(diff**2))) if diff.size else None}


class LiquidRDF(Property):
    name = "rdf"
    title = "Liquid radial distribution function"
    dtype = MD_DTYPE

    def settings(self, tier: str) -> dict:
        return protocol_settings(tier)

    def build(self, ctx: PotentialContext) -> dict:
        s = self.settings(ctx.tier)
        return {"settings": s}

    def _cached_states(self, ctx: PotentialContext, s: dict) -> dict | None:
        cached = ctx.cache.get("md:liquid")
        if not cached or cached["n_atoms"] != s["n_atoms"]:
            return None
        if not all(T in cached["states"] for T in s["T_K"]):
            return None
        return cached["states"]

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        raw = self._simulate(built, ctx)
        # The full tier's cost estimate may probe the engine's throughput (MD): calculator work, so here, not in
        # analyse.
        raw["full_tier_note"] = self.full_note(ctx)
        return raw

    def _simulate(self, built: dict, ctx: PotentialContext) -> dict:
        s = settings_with_engine(built["settings"], ctx)
        states = self._cached_states(ctx, s)
        prep = s["prep"]
        cost = nvt_atom_steps(s)
        if states is None:
            cost += (prep["melt_ps"] + prep["first_equil_ps"] + len(s["T_K"]) * (prep["equil_ps"] + prep["production_ps"])
                     ) * 1000.0 / prep["dt_fs"] * s["n_atoms"]
        decision = budget_check(ctx, self.name, cost)
        if not decision.run:
            return {"skipped": decision, "settings": s}
        seed = md_seed(ctx, self.name)
        s["md_seed"] = seed
        engine = md_engine(ctx)
        t0 = time.perf_counter()
        source = "liquid_density (same session)"
        if states is None:
            source = "own melt + NPT"
            ctx.progress(f"rdf: no liquid states from liquid_density; preparing {s['n_atoms']} atoms here")
            points = run_liquid_series(liquid_start(ctx, s["n_cells"]), engine, s["T_K"], prep, seed + 1, ctx.progress)
            states = {p["T_K"]: (p["state"], p["V_mean_A3"]) for p in points}
        out, kept = {}, {}
        dt = s["dt_fs"]
        every = steps(s["frame_interval_ps"], dt)
        for i, T in enumerate(s["T_K"]):
            t1 = time.perf_counter()
            state, v_mean = states[T]
            atoms = state.copy()
            atoms.set_cell(atoms.cell.array * (v_mean / atoms.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
            ctx.progress(f"rdf: {T:.0f} K NVT at ρ = {density_g_cm3(len(atoms), v_mean):.4f} g/cm³, "
                         f"{s['equil_ps']} ps + {s['n_frames']} frames")
            traces = run_stages(atoms, engine, [
                Stage("nvt", steps(s["equil_ps"], dt), T_K=T, tdamp_fs=s["tdamp_fs"], sample_every=10,
                      label=f"{T:.0f} K NVT equilibration"),
                Stage("nvt", s["n_frames"] * every, T_K=T, tdamp_fs=s["tdamp_fs"], sample_every=every,
                      frame_every=every, label=f"{T:.0f} K NVT sampling"),
            ], dt_fs=dt, seed=seed + 31 * (i + 1), progress=ctx.progress)
            sampling = traces[1]
            result = analyse_frames([f.atoms() for f in sampling.frames], s)
            result.update({"T_mean_K": float(np.mean(sampling.T_K)), "P_mean_GPa": float(np.nanmean(sampling.P_GPa)),
                           "rho_g_cm3": float(density_g_cm3(len(atoms), v_mean)), "n_frames": len(sampling.frames),
                           "wall_s": time.perf_counter() - t1})
            ctx.progress(f"rdf: {T:.0f} K first peak {result['peak_r_A']:.3f} Å, g = {result['peak_g']:.2f}, "
                         f"CN = {result['cn']:.1f} ({result['wall_s']:.0f} s)")
            out[T] = result
            # the NVT state at the end of sampling (positions, velocities), kept as extended XYZ
            kept[f"{T:.0f}K_final"] = snapshot(atoms, sampling.Epot_eV[-1], T_target_K=T,
                                               T_mean_K=result["T_mean_K"], rho_g_cm3=result["rho_g_cm3"])
        return {"results": out, "settings": s, "source": source, "md_wall_s": time.perf_counter() - t0,
                "budget": decision.as_dict(), KEPT: kept}

    def full_note(self, ctx: PotentialContext) -> str:
        return full_tier_note(ctx, nvt_atom_steps(protocol_settings("full")))

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = raw["settings"]
        full_note = raw["full_tier_note"]
        if "skipped" in raw:
            result = skipped(self, ctx, raw["skipped"], s)
            result.notes.append(full_note)
            return result
        folders = experiment_dirs(ctx.references)
        data: dict = {}
        comparisons: list[Comparison] = []
        missing = []
        for T, res in raw["results"].items():
            key = f"{T:.0f}"
            entry = {k: v for k, v in res.items()}
            exp = find_experimental_rdf(folders, T)
            if exp is None:
                missing.append(key)
            else:
                entry["experiment"] = compare_to_experiment(res, exp)
                e = entry["experiment"]
                comparisons.append(Comparison(f"{key}.peak_r_A", res["peak_r_A"], e["peak_r_A"], "experiment", e["label"],
                                              PEAK_R_TOLERANCE_A, f"g(r) first peak r, {key} K (Å)"))
                comparisons.append(Comparison(f"{key}.peak_g", res["peak_g"], e["peak_g"], "experiment", e["label"],
                                              PEAK_G_TOLERANCE, f"g(r) first peak height, {key} K"))
            data[key] = entry
        data["source_of_liquid"] = raw["source"]
        data["n_atoms"] = s["n_atoms"]
        data["md_wall_s"] = raw["md_wall_s"]
        data["budget"] = raw["budget"]
        data["experiment_missing"] = missing
        notes = [f"{s['n_atoms']} atoms, NVT at the NPT density, {s['dt_fs']} fs step, {s['equil_ps']} ps equilibration "
                 f"then {s['n_frames']} frames {s['frame_interval_ps']} ps apart; bins {s['bin_A']} Å; errors from "
                 f"{s['n_blocks']} blocks of frames. Liquid from {raw['source']}."]
        if ctx.tier == "quick":
            notes.append("Quick tier: 256 atoms (g(r) only to half the cell, ~8 Å), 2 fs step and short sampling "
                         "(the paper: 50 ps NVT, 100 frames, 1 fs); error bars are larger than the full tier's.")
            notes.append(full_note + " (NVT part; the NPT densities come from liquid_density)")
        if missing:
            notes.append(f"Tabulated g(r) not available for {', '.join(missing)} K: put tables in {folders[0]} (see its "
                         f"README.md) or in {folders[1]} to compare.")
        used = {(e["experiment"]["label"], e["experiment"]["citation"]) for e in data.values()
                if isinstance(e, dict) and e.get("experiment")}
        for lab, cite in sorted(used):
            notes.append(f"g(r) reference '{lab}': {cite}" if cite else f"g(r) reference '{lab}'.")
        return PropertyResult(self.name, ctx.name, data, comparisons, settings=s, notes=notes)
