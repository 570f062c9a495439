"""Self-diffusion of the liquid against the neutron measurement, with the finite-size correction stated.

Beyond the paper: D(T) at 980, 1020 and 1060 K, where Kargl et al. (2012) measured liquid Al by incoherent
quasielastic neutron scattering (7.9e-9 m²/s at 1020 K, activation energy 0.28 ± 0.07 eV;
``reference_data/experiment.json``).

Protocol per (temperature, seed): an FCC cell of the potential's own a0 (volume +12 %) melted at 2000 K
(Langevin, fixed cell), NPT at T and 0 GPa (MTK), the cell rescaled to the mean NPT volume of the second half of
that run, NVT equilibration, then an NVT production run (Nosé-Hoover chain, tdamp 250 fs: weak enough not to
damp diffusion measurably) with frames every 50 fs. D_PBC is the Einstein slope of the MSD over all time origins
(:func:`alal.analysis.rdf.self_diffusion`, fit over 30-100 % of half the run). Independent seeds give the error bar.

Finite size (Yeh & Hummer, J. Phys. Chem. B 108, 15873 (2004)): in a periodic cubic box of side L,
D_∞ = D_PBC + ξ k_B T / (6 π η L) with ξ = 2.837297. η is the *experimental* viscosity (Assael et al. 2006), not
the potential's own (which is not computed here); the correction is stated beside the raw value so either can
be compared. For 256 atoms (L ≈ 16.9 Å) at 1020 K it is ~1.1e-9 m²/s, ~14 % of D.

Pure steps: :func:`plan`, :func:`yeh_hummer_correction`, :func:`arrhenius`, :func:`analyse`, :func:`markdown`; the MD
is :func:`run_piece`. Pieces are written to ``OUT/pieces/`` as they finish and reused on a rerun.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import units

from alal.errors import AlalError

TEMPERATURES_K = (980.0, 1020.0, 1060.0)  # the neutron measurement's temperatures
YEH_HUMMER_XI = 2.837297  # cubic lattice sum


@dataclass(frozen=True)
class Protocol:
    n_cells: int = 4  # 4 -> 256 atoms
    dt_fs: float = 2.0
    dtype: str = "float32"
    melt_T_K: float = 2000.0
    melt_ps: float = 1.5
    npt_ps: float = 4.0
    nvt_equil_ps: float = 1.0
    production_ps: float = 10.0
    frame_every_fs: float = 50.0
    tdamp_fs: float = 250.0
    pdamp_fs: float = 500.0

    @property
    def n_atoms(self) -> int:
        return 4 * self.n_cells**3


@dataclass(frozen=True)
class Piece:
    T_K: float
    seed: int
    protocol: Protocol

    @property
    def key(self) -> str:
        blob = json.dumps({"T": self.T_K, "seed": self.seed, "p": asdict(self.protocol)}, sort_keys=True)
        return f"T{self.T_K:.0f}-s{self.seed}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"

    @property
    def atom_steps(self) -> float:
        p = self.protocol
        return p.n_atoms * (p.melt_ps + p.npt_ps + p.nvt_equil_ps + p.production_ps) * 1000.0 / p.dt_fs


def plan(temperatures=TEMPERATURES_K, n_seeds: int = 3, first_seed: int = 1, protocol: Protocol = Protocol()) -> list[Piece]:
    if n_seeds < 2:
        raise AlalError("the diffusion study needs at least 2 seeds per temperature (the error bar is over seeds)")
    if not temperatures:
        raise AlalError("the diffusion study needs at least one temperature")
    return [Piece(float(T), first_seed + k, protocol) for k in range(n_seeds) for T in temperatures]


def viscosity_Pa_s(T_K: float, formula: dict) -> float:
    """Assael et al. 2006: log10(η / mPa s) = a + b / T."""
    return 1e-3 * 10.0 ** (formula["log10_mPa_s_intercept"] + formula["log10_mPa_s_K"] / T_K)


def yeh_hummer_correction(T_K: float, eta_Pa_s: float, L_A: float) -> float:
    """ξ k_B T / (6 π η L) in m²/s."""
    kT_J = units.kB * T_K / units.J
    return YEH_HUMMER_XI * kT_J / (6.0 * math.pi * eta_Pa_s * L_A * 1e-10)


def arrhenius(T_K, D_m2_s) -> dict:
    """Least-squares ln D = ln D0 − Ea / (k_B T): Ea in eV (None with fewer than 2 temperatures)."""
    T, D = np.asarray(T_K, float), np.asarray(D_m2_s, float)
    ok = np.isfinite(D) & (D > 0)
    if ok.sum() < 2:
        return {"Ea_eV": None, "D0_m2_s": None}
    slope, intercept = np.polyfit(1.0 / (units.kB * T[ok]), np.log(D[ok]), 1)
    return {"Ea_eV": float(-slope), "D0_m2_s": float(np.exp(intercept))}


def run_piece(piece: Piece, potential: str, a0_A: float, progress=None) -> dict:
    from alal.analysis.rdf import self_diffusion
    from alal.md import Stage, engine_for, maxwell_boltzmann, run_stages
    from alal.potentials import load
    from alal.structures import fcc_cubic

    p = piece.protocol
    atoms = fcc_cubic(a0_A * 1.12 ** (1.0 / 3.0), p.n_cells)
    engine = engine_for(load(potential, dtype=p.dtype))
    steps = lambda ps: max(int(round(ps * 1000.0 / p.dt_fs)), 1)  # noqa: E731
    maxwell_boltzmann(atoms, p.melt_T_K, piece.seed)
    t0 = time.perf_counter()
    npt = run_stages(atoms, engine, [
        Stage("langevin", steps(p.melt_ps), T_K=p.melt_T_K, tdamp_fs=100.0, sample_every=50, pressure=False,
              label=f"melt at {p.melt_T_K:.0f} K"),
        Stage("npt", steps(p.npt_ps), T_K=piece.T_K, P_GPa=0.0, barostat="iso", tdamp_fs=100.0, pdamp_fs=p.pdamp_fs,
              sample_every=5, label=f"{piece.T_K:.0f} K NPT"),
    ], dt_fs=p.dt_fs, seed=piece.seed, progress=progress)[1]
    V = float(np.mean(npt.V_A3[len(npt.V_A3) // 2:]))
    atoms.set_cell(atoms.cell * (V / atoms.get_volume()) ** (1.0 / 3.0), scale_atoms=True)
    every = max(int(round(p.frame_every_fs / p.dt_fs)), 1)
    prod = run_stages(atoms, engine, [
        Stage("nvt", steps(p.nvt_equil_ps), T_K=piece.T_K, tdamp_fs=p.tdamp_fs, sample_every=10, label=f"{piece.T_K:.0f} K NVT equilibration"),
        Stage("nvt", steps(p.production_ps), T_K=piece.T_K, tdamp_fs=p.tdamp_fs, sample_every=every, frame_every=every,
              label=f"{piece.T_K:.0f} K NVT production"),
    ], dt_fs=p.dt_fs, seed=piece.seed + 1, progress=progress)[1]
    frames = [f.atoms() for f in prod.frames]
    d = self_diffusion(frames, every * p.dt_fs * 1e-3)
    return {"T_K": piece.T_K, "seed": piece.seed, "n_atoms": len(atoms), "engine": engine.name, "V_A3": V,
            "L_A": V ** (1.0 / 3.0), "T_mean_K": float(np.mean(prod.T_K)), "D_pbc_m2_s": d["D_m2_s"],
            "n_frames": len(frames), "wall_s": time.perf_counter() - t0, "protocol": asdict(p)}


def analyse(pieces: list[dict], viscosity_formula: dict | None, experiment: dict | None) -> dict:
    """Per temperature: D_PBC mean ± standard error over seeds, the Yeh-Hummer correction at the mean box size
    and the experimental viscosity, D_∞; the Arrhenius fit of D_∞; the ratio to experiment at its temperature."""
    by_T: dict[float, list[dict]] = {}
    for p in pieces:
        by_T.setdefault(float(p["T_K"]), []).append(p)
    rows = []
    for T in sorted(by_T):
        ps = by_T[T]
        D = np.array([p["D_pbc_m2_s"] for p in ps])
        n = len(D)
        L = float(np.mean([p["L_A"] for p in ps]))
        corr = yeh_hummer_correction(T, viscosity_Pa_s(T, viscosity_formula), L) if viscosity_formula else None
        mean = float(D.mean())
        rows.append({"T_K": T, "n_seeds": n, "n_atoms": ps[0]["n_atoms"], "L_A": L, "D_pbc_m2_s": mean,
                     "D_pbc_sem_m2_s": float(D.std(ddof=1) / math.sqrt(n)) if n >= 2 else None,
                     "seed_values_m2_s": [float(x) for x in D], "correction_m2_s": corr,
                     "D_inf_m2_s": mean + corr if corr is not None else None})
    out = {"rows": rows, "arrhenius_pbc": arrhenius([r["T_K"] for r in rows], [r["D_pbc_m2_s"] for r in rows]),
           "arrhenius_inf": arrhenius([r["T_K"] for r in rows], [r["D_inf_m2_s"] or math.nan for r in rows]),
           "experiment": experiment}
    if experiment:
        at = next((r for r in rows if abs(r["T_K"] - experiment["T_K"]) < 0.5), None)
        if at is not None:
            out["ratio_to_experiment_pbc"] = at["D_pbc_m2_s"] / experiment["value_m2_s"]
            if at["D_inf_m2_s"] is not None:
                out["ratio_to_experiment_inf"] = at["D_inf_m2_s"] / experiment["value_m2_s"]
    return out


def _e9(x) -> str:
    return "-" if x is None else f"{x * 1e9:.2f}"


def markdown(result: dict, potential: str) -> str:
    lines = [f"## Liquid self-diffusion of {potential} against neutron scattering",
             "",
             "D in 10⁻⁹ m²/s; ± is the standard error over independent seeds. D_∞ = D_PBC + ξ k_B T / (6 π η L) "
             "(Yeh & Hummer 2004) with the experimental viscosity (Assael et al. 2006).",
             "",
             "| T (K) | atoms | seeds | D_PBC | correction | D_∞ | per seed (D_PBC) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in result["rows"]:
        pm = f"{_e9(r['D_pbc_m2_s'])} ± {_e9(r['D_pbc_sem_m2_s'])}"
        lines.append(f"| {r['T_K']:.0f} | {r['n_atoms']} | {r['n_seeds']} | {pm} | {_e9(r['correction_m2_s'])} | "
                     f"{_e9(r['D_inf_m2_s'])} | {', '.join(_e9(x) for x in r['seed_values_m2_s'])} |")
    a_p, a_i = result["arrhenius_pbc"], result["arrhenius_inf"]
    if a_p["Ea_eV"] is not None:
        lines += ["", f"Arrhenius activation energy: {a_p['Ea_eV']:.3f} eV (D_PBC), "
                      + (f"{a_i['Ea_eV']:.3f} eV (D_∞)" if a_i["Ea_eV"] is not None else "")]
    exp = result.get("experiment")
    if exp:
        lines += [f"Experiment ({exp['label']}): {exp['value_m2_s'] * 1e9:.2f} at {exp['T_K']:.0f} K, activation energy "
                  f"{exp['Ea_eV']:.2f} ± {exp['Ea_err_eV']:.2f} eV."]
        if "ratio_to_experiment_inf" in result:
            lines.append(f"Ratio to experiment at {exp['T_K']:.0f} K: {result['ratio_to_experiment_pbc']:.2f} (D_PBC), "
                         f"{result['ratio_to_experiment_inf']:.2f} (D_∞).")
    return "\n".join(lines) + "\n"


def references() -> tuple[dict | None, dict | None]:
    """(the experimental viscosity formula, the experimental D) from reference_data/experiment.json."""
    from validation.references import load_references

    refs = load_references()
    visc = next(iter(refs.find("liquid_viscosity", kind="experiment")), None)
    d = next(iter(refs.find("self_diffusion", kind="experiment")), None)
    exp = None
    if d is not None:
        exp = {"label": d.label, "citation": d.citation, "value_m2_s": d.value, "T_K": d.extra["T_K"],
               "Ea_eV": d.extra.get("activation_energy_eV"), "Ea_err_eV": d.extra.get("activation_energy_err_eV")}
    return (visc.extra["formula"] if visc is not None else None), exp


def study(potential: str, out: Path, *, temperatures=TEMPERATURES_K, n_seeds: int = 3, first_seed: int = 1,
          protocol: Protocol = Protocol(), echo=print) -> dict:
    """Run (or continue) the study; writes ``OUT/pieces/*.json``, ``OUT/diffusion.json`` and ``OUT/diffusion.md``."""
    from validation.studies.pieces import cached_fcc_a0, run_pieces

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pieces = plan(temperatures, n_seeds, first_seed, protocol)
    a0 = cached_fcc_a0(out, potential)
    t_start = time.perf_counter()
    results = run_pieces(
        pieces, out, lambda piece, progress: run_piece(piece, potential, a0, progress=progress), potential=potential,
        describe=lambda p: f"{p.T_K:.0f} K, seed {p.seed}, {p.protocol.n_atoms} atoms",
        summary=lambda r: f"D_PBC = {r['D_pbc_m2_s'] * 1e9:.2f}e-9 m²/s, L {r['L_A']:.2f} Å", echo=echo)
    visc, exp = references()
    result = analyse(results, visc, exp)
    result.update(potential=potential, a0_A=a0, protocol=asdict(protocol), wall_s=time.perf_counter() - t_start)
    (out / "diffusion.json").write_text(json.dumps(result, indent=1))
    (out / "diffusion.md").write_text(markdown(result, potential))
    return result
