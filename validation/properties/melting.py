"""Melting line Tm(P) from explicit solid-liquid coexistence (the paper's Fig. 5).

Protocol per pressure and seed (the interface method of Morris et al., Phys. Rev. B 49, 3109 (1994)):
  1. crystal slab: an FCC supercell (BCC for the high-pressure branch) at the static lattice constant for P,
     equilibrated at a guess T_guess (x/y/z independent);
  2. liquid slab: a copy melted at 1.8 T_guess and brought back to T_guess with only z free (x, y stay the
     crystal's), so the liquid has its own density at (T_guess, P);
  3. contact: the slabs are stacked along z (two (001) interfaces; no atom closer than 0.75 nearest-neighbour
     distances) and relaxed briefly (z free) at T_guess;
  4. coexistence: constant enthalpy and pressure (velocity Verlet + Berendsen barostat, x/y/z independent;
     LAMMPS fix nve + fix press/berendsen, the same formula in ASE). Latent heat exchanged as the interfaces
     move drives the temperature to the melting temperature at that pressure, and keeps it there: an energy
     error (interface annealing, a poor guess) only changes how much of each phase there is.
Steps 1-3 use a Langevin thermostat with a Berendsen barostat (``npt_langevin`` in alal.md): no oscillations.
Tm of a run is the asymptote of T(t) = Tm + A exp(−t/τ) fitted to the NPH temperature when τ is well inside the
run (a guess far from Tm relaxes slowly), else the block average over the last ``average_last_ps``. The solid
share (adaptive CNA crystalline fraction relative to the pure crystal) is recorded along the run; a run is
valid when both phases survive (mean share over the averaging window between 10 and 90 %). When the crystal
melts completely the guess was too hot (the seed is repeated ``T_step_fraction`` lower), when the liquid
freezes too cold. Independent seeds give the error bar. T_guess: 933.47 K at 0 GPa, later pressures
extrapolate the potential's own results. The phase that forms is reported (the paper saw BCC nucleate with
Mendelev above ~20 GPa). Seeds of one pressure run in parallel processes for LAMMPS
(``validation.md.parallel``).

The cell at the end of every NPH run is kept (extended XYZ, with velocities).

Reference: experiment at 1 atm (933.47 K) and the Clausius-Clapeyron slope dTm/dP = Tm ΔV / L from the latent
heat (10.71 kJ/mol), the volume change on melting (6.9 %) and the liquid density at Tm (Assael et al. 2006);
the paper's ≈925 K at 1 atm for ANI-Al and Mendelev.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, brentq, curve_fit

from alal.analysis.blocks import block_average, mean_and_sem
from alal.analysis.cna import CRYSTALLINE, cna_labels, fractions_from_labels
from alal.errors import AlalError
from alal.md import Stage, maxwell_boltzmann, run_stages
from alal.structures import crystal, lattice_constant_from_volume
from validation.md.common import (MD_DTYPE, budget_check, full_tier_note, md_engine, md_seed, settings_with_engine,
                                  skipped)
from validation.md.parallel import run_jobs, worker_count
from validation.properties.base import KEPT, Comparison, PotentialContext, Property, PropertyResult, snapshot

TM_TOLERANCE_K = 50.0  # a good Al potential is within 50 K of 933 K; quick-tier runs carry ~±15 K of their own
SLOPE_TOLERANCE_K_PER_GPA = 15.0  # ~25 %: the initial slope comes from a fit to a few points with ~10 K errors
SOLID_SHARE_RANGE = (0.1, 0.9)  # mean solid share over the averaging window for a valid coexistence run


def protocol_settings(tier: str) -> dict:
    common = {"dt_fs": 1.0, "tdamp_fs": 100.0, "pdamp_fs": 500.0, "melt_T_factor": 1.8, "contact_tdamp_fs": 50.0,
              "contact_pdamp_fs": 250.0, "nph_pdamp_fs": 1000.0, "max_attempts": 3, "T_step_fraction": 0.05,
              "refine_K": 25.0,  # re-run a coexistence run whose late average drifted this far from its guess
              "first_guess_K": 933.47, "min_blocks": 4}
    if tier == "quick":
        # 0 GPa with two seeds first; then 5 and 10 GPa, one seed each (their guesses extrapolate 0 GPa), so the
        # two cores stay busy: two rounds, enough for Tm(0) and dTm/dP. 25 and 50 GPa are full tier only: with one
        # short seed and a guess extrapolated from 0-10 GPa they lost one phase in both attempts (Mishin 1999,
        # measured run), and they cost ~2 min per EAM potential of the quick tier's 15 min.
        return {**common, "rounds": [[{"P_GPa": 0.0, "lattice": "fcc", "seeds": 2}],
                                     [{"P_GPa": 5.0, "lattice": "fcc", "seeds": 1},
                                      {"P_GPa": 10.0, "lattice": "fcc", "seeds": 1}]],
                # 2 fs (the full tier's 1 fs halves the error of Verlet's energy, which NPH relies on; at 2 fs it
                # stays ~1e-4 eV/atom without drift for Al near Tm, test_md_engines) halves the cost for ANI-Al
                "dt_fs": 2.0, "repeat": {"fcc": [4, 4, 12], "bcc": [5, 5, 14]}, "solid_ps": 1.5, "melt_ps": 1.0,
                "settle_ps": 1.0, "contact_ps": 1.0, "nph_ps": 6.0, "average_last_ps": 3.0, "frame_interval_ps": 0.5,
                "max_attempts": 2}
    return {**common, "rounds": [[{"P_GPa": p, "lattice": "fcc", "seeds": 3}] for p in (0.0, 5.0, 10.0, 25.0, 50.0, 75.0,
                                                                                        100.0)]
            + [[{"P_GPa": 250.0, "lattice": "bcc", "seeds": 3}]],
            "repeat": {"fcc": [8, 8, 24], "bcc": [10, 10, 28]}, "solid_ps": 10.0, "melt_ps": 5.0,
            "settle_ps": 5.0, "contact_ps": 2.0, "nph_ps": 60.0, "average_last_ps": 30.0, "frame_interval_ps": 1.0}


def atoms_per_cell(lattice: str) -> int:
    return {"fcc": 4, "bcc": 2}[lattice]


def n_atoms(s: dict, lattice: str) -> int:
    return atoms_per_cell(lattice) * int(np.prod(s["repeat"][lattice]))


def seed_atom_steps(s: dict, lattice: str) -> float:
    """MD cost of one seed at one pressure (slab preparation on half the atoms, contact, the NPH run)."""
    ps = 0.5 * (s["solid_ps"] + s["melt_ps"] + s["settle_ps"]) + s["contact_ps"] + s["nph_ps"]
    return n_atoms(s, lattice) * ps * 1000.0 / s["dt_fs"]


def seeds_text(s: dict) -> str:
    return ", ".join(f"{r['seeds']} at {r['P_GPa']:g} GPa" for rnd in s["rounds"] for r in rnd)


def round_cost(s: dict, rnd: list[dict], workers: int) -> float:
    """Wall-time cost of a round in atom-steps per worker: its seed runs shared out over ``workers``."""
    costs = sorted((seed_atom_steps(s, r["lattice"]) for r in rnd for _ in range(r["seeds"])), reverse=True)
    loads = [0.0] * max(workers, 1)
    for c in costs:
        loads[loads.index(min(loads))] += c
    return max(loads)


def plan_rounds(s: dict, fits, workers: int) -> list[list[dict]]:
    """The quick-tier budget rule: drop rounds from the end (the first, 0 GPa, stays), then the first round's
    extra seeds, until ``fits(cost)``; an empty list when even one seed at 0 GPa does not fit."""
    rounds = [list(r) for r in s["rounds"]]
    while rounds:
        if fits(sum(round_cost(s, r, workers) for r in rounds)):
            return rounds
        if len(rounds) > 1:
            rounds = rounds[:-1]
        elif rounds[0][0]["seeds"] > 1:
            rounds = [[dict(rounds[0][0], seeds=rounds[0][0]["seeds"] - 1)]]
        else:
            return []
    return []


def static_lattice_constant(calc, lattice: str, P_GPa: float) -> float:
    """Cubic lattice constant where the static (0 K) pressure equals ``P_GPa`` (conventional cubic cell)."""
    from ase import units

    def pressure(v):  # GPa at volume per atom v
        atoms = crystal(lattice, v)
        atoms.calc = calc
        return float(-np.trace(atoms.get_stress(voigt=False)) / 3.0 / units.GPa)

    lo, hi = 7.0, 22.0  # Å³/atom; Al at 0-300 GPa lies inside
    grid = np.linspace(lo, hi, 31)
    p = np.array([pressure(v) for v in grid])
    for i in range(len(grid) - 1):
        if p[i] >= P_GPa > p[i + 1]:
            v = brentq(lambda x: pressure(x) - P_GPa, grid[i], grid[i + 1], xtol=1e-6)
            return float(lattice_constant_from_volume(lattice, v))
    raise AlalError(f"no {lattice} volume between {lo} and {hi} Å³/atom has a static pressure of {P_GPa} GPa")


def cubic_supercell(lattice: str, a: float, repeat):
    from ase.build import bulk

    return bulk("Al", lattice, a=a, cubic=True).repeat(tuple(repeat))


def stack_slabs(solid, liquid, lattice: str, n_layers_z: int):
    """Solid slab + liquid slab (same x, y) in one periodic cell along z, no atom closer than 0.75 d_nn.

    The solid's (001) layers, h apart, are put at h/2, 3h/2, ... (wrapping about the layer centres, so a
    layer's thermal spread is not split across the cell); the liquid's lowest possible atom sits 0.75 d_nn above
    the top layer and the cell ends so that the bottom layer's image is 0.75 d_nn above its highest possible atom.
    """
    from ase import Atoms

    lx, ly, lz_s = np.diag(solid.cell.array)
    lz_l = liquid.cell.array[2, 2]
    h = lz_s / n_layers_z / 2.0  # (001) layer spacing of a cubic fcc or bcc cell
    d = 0.75 * (2.0 * h / np.sqrt(2.0) if lattice == "fcc" else 2.0 * h * np.sqrt(3.0) / 2.0)
    s_pos = solid.get_positions()
    z0 = np.median(s_pos[:, 2] - 2.0 * h * np.round(s_pos[:, 2] / (2.0 * h)))  # offset of the layers from 0
    z = s_pos[:, 2] - z0 + 0.5 * h
    s_pos[:, 2] = z - lz_s * np.floor(z / lz_s)  # layers now at h/2 + k h
    l_pos = liquid.get_positions()
    l_pos[:, 2] -= lz_l * np.floor(l_pos[:, 2] / lz_l)
    offset = lz_s - 0.5 * h + d
    l_pos[:, 2] += offset
    lz = offset + lz_l + d - 0.5 * h
    atoms = Atoms(f"Al{len(solid) + len(liquid)}", positions=np.vstack([s_pos, l_pos]), cell=np.diag([lx, ly, lz]),
                  pbc=True)
    atoms.set_velocities(np.vstack([solid.get_velocities(), liquid.get_velocities()]))
    atoms.wrap()
    return atoms


def prepare_interface(engine, calc, lattice: str, P_GPa: float, T_guess: float, s: dict, seed: int, progress):
    """Steps 1-3: the stacked crystal + liquid cell at T_guess, and the pure crystal's CNA crystalline fraction.

    Every stage is Langevin + Berendsen (no thermostat or barostat oscillations to wait out).
    """
    dt = s["dt_fs"]
    nsteps = lambda ps: max(int(round(ps * 1000.0 / dt)), 1)  # noqa: E731
    a = static_lattice_constant(calc, lattice, P_GPa)
    nx, ny, nz = s["repeat"][lattice]
    half = nz // 2
    solid = cubic_supercell(lattice, a, (nx, ny, half))
    maxwell_boltzmann(solid, T_guess, seed)
    label = f"{P_GPa:g} GPa"
    common = dict(P_GPa=P_GPa, tdamp_fs=s["tdamp_fs"], pdamp_fs=s["pdamp_fs"], bulk_modulus_GPa=bulk_modulus(P_GPa),
                  sample_every=20)
    crystal_stage = run_stages(solid, engine, [
        Stage("npt_langevin", nsteps(s["solid_ps"]), T_K=T_guess, barostat="aniso", frame_every=nsteps(s["solid_ps"]),
              label=f"{label} crystal slab at {T_guess:.0f} K", **common)], dt_fs=dt, seed=seed, progress=progress)[0]
    liquid = solid.copy()
    run_stages(liquid, engine, [
        Stage("npt_langevin", nsteps(s["melt_ps"]), T_K=s["melt_T_factor"] * T_guess, barostat="z",
              label=f"{label} melt liquid slab", **common),
        Stage("npt_langevin", nsteps(s["settle_ps"]), T_K=T_guess, barostat="z",
              label=f"{label} liquid slab to {T_guess:.0f} K", **common),
    ], dt_fs=dt, seed=seed + 1, progress=progress)
    atoms = stack_slabs(solid, liquid, lattice, half)
    run_stages(atoms, engine, [
        Stage("npt_langevin", nsteps(s["contact_ps"]), T_K=T_guess, barostat="z", P_GPa=P_GPa,
              tdamp_fs=s["contact_tdamp_fs"], pdamp_fs=s["contact_pdamp_fs"], bulk_modulus_GPa=bulk_modulus(P_GPa),
              sample_every=20, label=f"{label} interfaces in contact")], dt_fs=dt, seed=seed + 2, progress=progress)
    ref = fractions_from_labels(cna_labels(crystal_stage.frames[-1].atoms()))
    return atoms, a, sum(ref[k] for k in CRYSTALLINE)


def bulk_modulus(P_GPa: float) -> float:
    """A rough bulk modulus of aluminium at P (GPa), B0 + B' P: it only sets how fast the Berendsen cell responds."""
    return 75.0 + 4.5 * P_GPa


def relaxation_fit(t_ps, T_K, bin_ps: float = 0.25) -> dict | None:
    """Fit T(t) = Tm + A exp(−t/τ) to the NPH temperature (binned to ``bin_ps`` against noise).

    The asymptote Tm removes the bias of a run that has not finished relaxing from its starting temperature.
    Returns None when the fit fails.
    """
    t, T = np.asarray(t_ps, float), np.asarray(T_K, float)
    edges = np.arange(t.min(), t.max() + bin_ps, bin_ps)
    idx = np.digitize(t, edges)
    tb = np.array([t[idx == i].mean() for i in np.unique(idx)])
    Tb = np.array([T[idx == i].mean() for i in np.unique(idx)])
    if len(tb) < 6:
        return None
    model = lambda x, tm, amp, tau: tm + amp * np.exp(-(x - tb[0]) / tau)  # noqa: E731
    try:
        popt, pcov = curve_fit(model, tb, Tb, p0=[Tb[-len(Tb) // 3:].mean(), Tb[0] - Tb[-1], 2.0],
                               bounds=([0.0, -1e4, 0.2], [1e5, 1e4, 100.0]), maxfev=20000)
    except (RuntimeError, ValueError):
        return None
    resid = Tb - model(tb, *popt)
    return {"Tm_K": float(popt[0]), "Tm_err_K": float(np.sqrt(max(pcov[0, 0], 0.0))), "amplitude_K": float(popt[1]),
            "tau_ps": float(popt[2]), "rms_K": float(np.sqrt(np.mean(resid**2)))}


def nph_run(engine, atoms, P_GPa: float, s: dict, seed: int, solid_ref: float, progress) -> dict:
    """Step 4: constant-enthalpy coexistence; temperature, solid share and the Tm estimate of the run."""
    dt = s["dt_fs"]
    steps = max(int(round(s["nph_ps"] * 1000.0 / dt)), 1)
    every = max(int(round(s["frame_interval_ps"] * 1000.0 / dt)), 1)
    (trace,) = run_stages(atoms, engine, [
        Stage("nph", steps, P_GPa=P_GPa, barostat="aniso", pdamp_fs=s["nph_pdamp_fs"],
              bulk_modulus_GPa=bulk_modulus(P_GPa), sample_every=10, frame_every=every,
              label=f"{P_GPa:g} GPa coexistence NPH")], dt_fs=dt, seed=seed, progress=progress)
    fractions = [fractions_from_labels(cna_labels(f.atoms())) for f in trace.frames]
    share = np.array([sum(f[k] for k in CRYSTALLINE) for f in fractions]) / max(solid_ref, 1e-9)
    t_frames = np.array([f.t_ps for f in trace.frames])
    window = trace.t_ps >= trace.t_ps[-1] - s["average_last_ps"]
    T_avg, T_err = block_average(trace.T_K[window], s["min_blocks"])
    P_avg, _ = block_average(trace.P_GPa[window], s["min_blocks"])
    fit = relaxation_fit(trace.t_ps, trace.T_K)
    # The fitted asymptote is used when the relaxation time is well inside the run (a quarter of it: the data
    # then pin the asymptote); otherwise the late-window average, with the fit recorded.
    use_fit = fit is not None and fit["tau_ps"] < 0.25 * s["nph_ps"]
    tm = fit["Tm_K"] if use_fit else T_avg
    tm_err = max(fit["Tm_err_K"], T_err) if use_fit else T_err
    share_window = share[t_frames >= trace.t_ps[-1] - s["average_last_ps"]]
    mean_share = float(np.mean(share_window)) if share_window.size else float(share[-1])
    outcome = ("melted" if mean_share < SOLID_SHARE_RANGE[0] else
               "solidified" if mean_share > SOLID_SHARE_RANGE[1] else "coexistence")
    final = fractions[-1]
    blocks = np.array_split(np.arange(len(trace.t_ps)), 40)
    return {
        "Tm_K": tm, "Tm_err_K": tm_err, "T_window_mean_K": T_avg, "T_window_err_K": T_err, "fit": fit,
        "used_fit": bool(use_fit), "P_mean_GPa": P_avg, "outcome": outcome, "mean_solid_share": mean_share,
        "t_ps": t_frames, "solid_share": share, "final_fractions": final,
        "phase_grown": "bcc" if final["bcc"] > final["fcc"] + final["hcp"] else "fcc",
        "T_t_ps": [float(trace.t_ps[b].mean()) for b in blocks], "T_K": [float(trace.T_K[b].mean()) for b in blocks],
        "wall_s": trace.wall_s,
    }


def coexistence_seed(engine, lattice: str, P_GPa: float, T_guess: float, s: dict, seed: int, progress=None) -> list:
    """One seed at one pressure: prepare at T_guess, run NPH; when a phase disappears, repeat from another guess.

    A run that melts completely started too hot (the next starts ``T_step_fraction`` lower); one that freezes
    started too cold. Returns the attempts; the last one's ``outcome`` is "coexistence" when it gave Tm.
    Module-level so that worker processes can run it.
    """
    calc = engine.calculator()
    attempts = []
    for attempt in range(s["max_attempts"]):
        t0 = time.perf_counter()
        if progress:
            progress(f"{P_GPa:g} GPa ({lattice}), attempt {attempt + 1}: interface prepared at {T_guess:.0f} K")
        run_seed = seed + 1000 * attempt
        atoms, a, solid_ref = prepare_interface(engine, calc, lattice, P_GPa, T_guess, s, run_seed, progress)
        res = nph_run(engine, atoms, P_GPa, s, run_seed + 3, solid_ref, progress)
        # the coexistence cell at the end of the run, its energy evaluated afresh: the Berendsen barostat rescales
        # the cell after each step's energy, so the last sampled energy belongs to slightly different positions
        end = atoms.copy()
        end.calc = calc
        res["final_frame"] = snapshot(atoms, end.get_potential_energy(), P_target_GPa=P_GPa, T_guess_K=T_guess,
                                      outcome=res["outcome"], solid_share=float(res["solid_share"][-1]))
        res.update({"P_target_GPa": P_GPa, "lattice": lattice, "T_guess_K": T_guess, "seed": run_seed,
                    "n_atoms": len(atoms), "a_static_A": a, "solid_reference_crystalline": solid_ref,
                    "attempt": attempt + 1, "wall_s": time.perf_counter() - t0})
        attempts.append(res)
        if progress:
            fit = res["fit"] or {}
            progress(f"{P_GPa:g} GPa → {res['outcome']}: Tm = {res['Tm_K']:.0f} ± {res['Tm_err_K']:.0f} K "
                     f"({'relaxation fit, τ = %.1f ps' % fit['tau_ps'] if res['used_fit'] else 'late average'}), "
                     f"P = {res['P_mean_GPa']:.2f} GPa, solid share {100 * res['mean_solid_share']:.0f} %, "
                     f"{res['phase_grown']} ({res['wall_s']:.0f} s)")
        if res["outcome"] == "coexistence":
            # A late average still far from where the run started means the temperature was still relaxing
            # (the relaxation fit did not pin an asymptote): the run is too short to trust, so, attempts
            # permitting, start again at that temperature and keep only the new run.
            drift = res["T_window_mean_K"] - T_guess
            res["T_drift_K"] = float(drift)
            if (s.get("refine_K") is None or res["used_fit"] or abs(drift) <= s["refine_K"]
                    or attempt + 1 == s["max_attempts"]):
                break
            res["superseded"] = True
            T_guess = res["T_window_mean_K"] + 0.5 * drift  # still drifting: aim a little past the late average
            if progress:
                progress(f"{P_GPa:g} GPa: still drifting ({drift:+.0f} K from the guess); again at {T_guess:.0f} K")
            continue
        # A run that melted completely ended at or above Tm (melting stops once T falls to Tm), one that froze at
        # or below it: start the next attempt a step beyond both the guess and that end temperature.
        if res["outcome"] == "melted":
            T_guess = min(T_guess, res["T_window_mean_K"]) * (1.0 - s["T_step_fraction"])
        else:
            T_guess = max(T_guess, res["T_window_mean_K"]) * (1.0 + s["T_step_fraction"])
    return attempts


def is_valid(attempt: dict) -> bool:
    """A run that kept both phases and was not superseded by a re-run from a better guess."""
    return attempt["outcome"] == "coexistence" and not attempt.get("superseded")


def guess_T(results_so_far: list[tuple[float, float]], P: float, first_guess: float) -> float:
    """T_guess from this potential's own Tm at lower pressures, else ``first_guess``.

    One point: Al's initial slope, ~60 K/GPa. Two: a straight line. Three or more: a Simon-Glatzel fit (melting
    lines bend down, and a straight line from 5-10 GPa overshoots at 25-50 GPa by ~10 %).
    """
    pts = sorted(results_so_far)
    if not pts:
        return first_guess
    if len(pts) == 1:
        return pts[0][1] + 60.0 * (P - pts[0][0])
    if len(pts) >= 3:
        fit = fit_melting_line([p for p, _ in pts], [t for _, t in pts], [10.0] * len(pts), min_points=3)
        if fit.get("params") and fit["model"].startswith("Simon"):
            q = fit["params"]
            return float(simon_glatzel(P, q["T0_K"], q["a_GPa"], q["c"]))
    (p1, t1), (p2, t2) = pts[-2], pts[-1]
    slope = (t2 - t1) / (p2 - p1) if p2 != p1 else 60.0
    return t2 + max(slope, 0.0) * (P - p2)


def simon_glatzel(P, T0, a, c):
    return T0 * (1.0 + P / a) ** (1.0 / c)


def fit_melting_line(P, Tm, err, min_points: int = 4) -> dict:
    """Simon-Glatzel fit Tm = T0 (1 + P/a)^(1/c) (≥ ``min_points`` points), else a line; slope at 0 GPa."""
    P, Tm = np.asarray(P, float), np.asarray(Tm, float)
    err = np.asarray([e if e is not None and np.isfinite(e) and e > 0 else 10.0 for e in err], float)
    out = {"model": None, "dTm_dP_K_per_GPa": None, "params": None}
    if len(P) >= min_points:
        try:
            with warnings.catch_warnings():  # three points determine the fit exactly: no covariance, no matter
                warnings.simplefilter("ignore", OptimizeWarning)
                popt, _ = curve_fit(simon_glatzel, P, Tm, p0=[Tm[np.argmin(P)], 15.0, 2.0], sigma=err,
                                    bounds=([100.0, 0.5, 0.5], [5000.0, 500.0, 20.0]), maxfev=20000)
            return {"model": "Simon-Glatzel T0 (1 + P/a)^(1/c)", "params": {"T0_K": popt[0], "a_GPa": popt[1],
                                                                            "c": popt[2]},
                    "dTm_dP_K_per_GPa": float(popt[0] / (popt[1] * popt[2]))}
        except (RuntimeError, ValueError):
            pass
    low = P <= 10.0 + 1e-9
    if low.sum() >= 2:
        c = np.polyfit(P[low], Tm[low], 1, w=1.0 / err[low])
        out = {"model": "straight line through P <= 10 GPa", "params": {"T0_K": c[1], "slope": c[0]},
               "dTm_dP_K_per_GPa": float(c[0])}
    return out


def clausius_clapeyron(references) -> dict | None:
    """dTm/dP (K/GPa) = Tm ΔV / L from the experimental entries (latent heat, volume change, liquid density)."""
    tm = references.get("melting", "Tm_0GPa_K", kind="experiment")
    L = references.get("melting", "latent_heat_kJ_per_mol", kind="experiment")
    dv = references.get("melting", "volume_change_percent", kind="experiment")
    rho = references.get("liquid_density", "assael2006", kind="experiment")
    if not all((tm, L, dv, rho)) or "formula" not in rho.extra:
        return None
    rho_l = rho.extra["formula"]["rho0_g_cm3"]  # its T0 is the melting point
    molar_mass_kg = 26.9815385e-3
    v_liquid = molar_mass_kg / (rho_l * 1e3)  # m³/mol (1 g/cm³ = 1000 kg/m³)
    v_solid = v_liquid / (1.0 + dv.value / 100.0)
    slope = tm.value * (v_liquid - v_solid) / (L.value * 1e3) * 1e9  # K/Pa -> K/GPa
    return {"dTm_dP_K_per_GPa": slope, "label": "Clausius-Clapeyron (experiment: L, ΔV, ρ_liquid)",
            "inputs": {"Tm_K": tm.value, "L_kJ_per_mol": L.value, "dV_percent": dv.value, "rho_liquid_g_cm3": rho_l}}


class MeltingLine(Property):
    name = "melting"
    title = "Melting line from solid-liquid coexistence"
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
        workers = worker_count(2, engine)
        rounds = plan_rounds(s, lambda cost: budget_check(ctx, self.name, cost).run, workers)
        if not rounds:
            return {"skipped": budget_check(ctx, self.name, seed_atom_steps(s, "fcc")), "settings": s}
        wall_cost = sum(round_cost(s, r, workers) for r in rounds)
        if budget_check(ctx, self.name, wall_cost).budget_s is not None:
            # budgeted (an ASE-driven potential in the quick tier): no re-run of a drifting run, which would double
            # the predicted cost; the drift is recorded and flagged in the notes instead
            s["refine_K"] = None
        planned = [r for rnd in rounds for r in rnd]
        s["planned"] = {"runs": planned, "dropped": [r for rnd in s["rounds"] for r in rnd
                                                     if (r["P_GPa"], r["lattice"]) not in
                                                     {(q["P_GPa"], q["lattice"]) for q in planned}],
                        "workers": workers, "atom_steps_per_worker": wall_cost}
        t0 = time.perf_counter()
        all_runs, kept = [], {}
        found: dict[str, list[tuple[float, float]]] = {"fcc": [], "bcc": []}
        for rnd in rounds:
            jobs, meta = [], []
            for r in rnd:
                P, lattice = r["P_GPa"], r["lattice"]
                T_guess = guess_T(found[lattice] or found["fcc"], P, s["first_guess_K"])
                ctx.progress(f"melting: {P:g} GPa ({lattice}-liquid), {r['seeds']} seed(s) of "
                             f"{n_atoms(s, lattice)} atoms, T_guess = {T_guess:.0f} K")
                for k in range(r["seeds"]):
                    jobs.append({"engine": engine, "lattice": lattice, "P_GPa": P, "T_guess": T_guess, "s": s,
                                 "seed": md_seed(ctx, self.name, P, lattice, k)})
                    meta.append((P, lattice, k))
            results = run_jobs(coexistence_seed, jobs, engine, ctx.progress, prefix=f"[{ctx.name}] melting ")
            tms: dict[tuple, list[float]] = {}
            for (P, lattice, k), attempts in zip(meta, results):
                for a in attempts:
                    kept[f"{P:g}GPa_{lattice}_seed{k}_attempt{a['attempt']}_final"] = a.pop("final_frame")
                all_runs.append({"P_GPa": P, "lattice": lattice, "seed_index": k, "attempts": attempts})
                tms.setdefault((P, lattice), []).extend(a["Tm_K"] for a in attempts if is_valid(a))
            for (P, lattice), values in tms.items():
                if values:
                    found[lattice].append((P, float(np.mean(values))))
        return {"runs": all_runs, "settings": s, "md_wall_s": time.perf_counter() - t0,
                "budget": budget_check(ctx, self.name, wall_cost).as_dict(), KEPT: kept}

    def full_note(self, ctx: PotentialContext) -> str:
        full = protocol_settings("full")
        full_workers = worker_count(3, md_engine(ctx))
        return full_tier_note(ctx, sum(round_cost(full, r, full_workers) for r in full["rounds"]), full_workers)

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = raw["settings"]
        full_note = raw["full_tier_note"]
        if "skipped" in raw:
            result = skipped(self, ctx, raw["skipped"], s)
            result.notes.append(full_note)
            return result
        groups: dict[tuple, list[dict]] = {}
        for run in raw["runs"]:
            groups.setdefault((run["P_GPa"], run["lattice"]), []).append(run)
        table = {k: [] for k in ("P_GPa", "Tm_K", "err_K", "P_measured_GPa", "lattice", "phase_formed",
                                 "n_valid_seeds")}
        notes = []
        for (P, lattice), runs in sorted(groups.items()):
            valid = [a for run in runs for a in run["attempts"] if is_valid(a)]
            grown = sorted({a["phase_grown"] for run in runs for a in run["attempts"]})
            if lattice == "fcc" and "bcc" in grown:
                notes.append(f"{P:g} GPa: BCC grew at an FCC-liquid interface (the paper saw BCC nucleate with "
                             f"Mendelev above ~20 GPa).")
            if not valid:
                notes.append(f"{P:g} GPa ({lattice}): no seed kept both phases in {s['max_attempts']} attempts; "
                             f"no Tm reported.")
                continue
            tm, err = mean_and_sem([a["Tm_K"] for a in valid])
            for a in valid:
                drifting = abs(a.get("T_drift_K") or 0.0) > protocol_settings(ctx.tier)["refine_K"]
                if s.get("refine_K") is None and drifting and not a["used_fit"]:
                    notes.append(f"{P:g} GPa: the run's temperature was still drifting ({a['T_drift_K']:+.0f} K from "
                                 f"its start) and was not re-run (quick-tier budget): Tm is biased towards the start "
                                 f"temperature, {a['T_guess_K']:.0f} K.")
            if len(valid) == 1:
                err = valid[0]["Tm_err_K"]
                notes.append(f"{P:g} GPa: one valid seed; its error bar is that run's own (fit or block average).")
            table["P_GPa"].append(P)
            table["Tm_K"].append(tm)
            table["err_K"].append(err)
            table["P_measured_GPa"].append(float(np.mean([a["P_mean_GPa"] for a in valid])))
            table["lattice"].append(lattice)
            table["phase_formed"].append("/".join(grown))
            table["n_valid_seeds"].append(len(valid))
        fcc = [i for i, lat in enumerate(table["lattice"]) if lat == "fcc"]
        fit = fit_melting_line([table["P_GPa"][i] for i in fcc], [table["Tm_K"][i] for i in fcc],
                               [table["err_K"][i] for i in fcc])
        at0 = [i for i in fcc if table["P_GPa"][i] == 0.0]
        data = {
            **table,
            "Tm_0GPa_K": table["Tm_K"][at0[0]] if at0 else None,
            "Tm_0GPa_err_K": table["err_K"][at0[0]] if at0 else None,
            "dTm_dP_K_per_GPa": fit["dTm_dP_K_per_GPa"], "fit": fit,
            "clausius_clapeyron": clausius_clapeyron(ctx.references),
            "runs": [dict(a, seed_index=run["seed_index"]) for run in raw["runs"] for a in run["attempts"]],
            "n_atoms": {lat: n_atoms(s, lat) for lat in s["repeat"]}, "md_wall_s": raw["md_wall_s"],
            "budget": raw["budget"], "planned": s.get("planned"),
        }
        notes.insert(0, f"Cells: {n_atoms(s, 'fcc')} atoms (FCC {'x'.join(map(str, s['repeat']['fcc']))} cubic cells, "
                        f"half crystal, half liquid, two (001) interfaces); per seed {s['solid_ps']} + {s['melt_ps']} + "
                        f"{s['settle_ps']} ps slab preparation, {s['contact_ps']} ps contact, {s['nph_ps']} ps NPH (Tm "
                        f"from the relaxation fit or the last {s['average_last_ps']} ps); {s['dt_fs']} fs step; error "
                        f"bars: standard error over independent seeds ({seeds_text(s)}; with one seed, that run's own "
                        f"error).")
        planned = s.get("planned") or {}
        if planned.get("dropped"):
            dropped = ", ".join(f"{r['P_GPa']:g}" for r in planned["dropped"])
            notes.append(f"Quick-tier budget: {dropped} GPa not run for this potential (see settings.planned).")
        if ctx.tier == "quick":
            notes.append("Quick tier: small interface cells and short NPH runs; Tm carries roughly ±15 K of "
                         "finite-size and sampling error besides the seed-to-seed error bar.")
            notes.append(full_note)
        return PropertyResult(self.name, ctx.name, data, self.comparisons(data, ctx), settings=s, notes=notes)

    def comparisons(self, data: dict, ctx: PotentialContext) -> list[Comparison]:
        out = []
        refs = ctx.references
        if data["Tm_0GPa_K"] is not None:
            exp = refs.get("melting", "Tm_0GPa_K", kind="experiment")
            if exp is not None:
                out.append(Comparison("Tm_0GPa_K", data["Tm_0GPa_K"], exp.value, "experiment", exp.label,
                                      TM_TOLERANCE_K, "Tm at 0 GPa (K)"))
            paper = refs.get("melting", "Tm_0GPa_K", kind="paper", potential=ctx.name)
            if paper is not None:
                out.append(Comparison("Tm_0GPa_K", data["Tm_0GPa_K"], paper.value, "paper", paper.label,
                                      TM_TOLERANCE_K, "Tm at 0 GPa (K)"))
        cc = data["clausius_clapeyron"]
        if data["dTm_dP_K_per_GPa"] is not None and cc is not None:
            out.append(Comparison("dTm_dP_K_per_GPa", data["dTm_dP_K_per_GPa"], cc["dTm_dP_K_per_GPa"], "experiment",
                                  "Clausius-Clapeyron (L, ΔV)", SLOPE_TOLERANCE_K_PER_GPA, "dTm/dP at 0 GPa (K/GPa)"))
        return out
