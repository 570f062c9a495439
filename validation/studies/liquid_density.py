"""Which protocol choice moves a potential's liquid density? One factor at a time, independent seeds.

The quick tier's liquid density (:mod:`validation.properties.liquid_density`) runs 256 atoms, a 2 fs step,
float32 inference and the MTK barostat (pdamp 500 fs). The paper ran 1 fs and larger cells in float64-trained
ANI. When a potential's density disagrees with experiment (ANI-Al at 943 K: 2.322 g/cm³ in our quick tier against
2.374 measured), the question is whether the protocol or the potential is the cause. This study answers it by
measurement: a baseline (the quick tier's settings) and variants that each change one factor —

  float64             inference in float64 instead of float32
  1 fs                a 1 fs time step instead of 2 fs
  2048 atoms          an 8×8×8 FCC supercell melted (2,048 atoms) instead of 4×4×4 (256)
  Langevin+Berendsen  Langevin thermostat + Berendsen barostat (first-order couplings) instead of MTK NPT

— each run from ``n_seeds`` independent seeds (melt velocities and thermostat noise differ; nothing else), at one
temperature. A seed's density is the mean of N·m/V over its production run; a variant's error bar is the standard
error over its seeds (block averages inside one run are not independent seeds). A factor matters when the
variant's mean differs from the baseline's by more than twice their combined standard error.

Pure steps: :func:`plan` (what to run), :func:`analyse` (the table from the per-seed results), :func:`markdown`.
The MD is :func:`run_piece`. Each piece is written to ``OUT/pieces/`` as it finishes; a rerun skips the pieces
already there (same settings), so a killed study continues where it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from alal.errors import AlalError

T_DEFAULT_K = 943.0  # the paper's lowest liquid temperature (Fig. 4b), 10 K above the melting point


@dataclass(frozen=True)
class Variant:
    """One protocol: the baseline, or the baseline with one factor changed (``changes`` says which)."""

    name: str
    changes: str
    n_cells: int = 4  # FCC n×n×n supercell melted: 4 -> 256 atoms
    dt_fs: float = 2.0
    dtype: str = "float32"
    ensemble: str = "npt"  # "npt" (MTK, Nosé-Hoover chains) or "npt_langevin" (Langevin + Berendsen)
    pdamp_fs: float = 500.0
    tdamp_fs: float = 100.0

    @property
    def n_atoms(self) -> int:
        return 4 * self.n_cells**3


BASELINE = Variant("quick tier", "none: the quick tier's 256 atoms, 2 fs, float32, MTK NPT (pdamp 500 fs)")
VARIANTS: tuple[Variant, ...] = (
    BASELINE,
    replace(BASELINE, name="float64", changes="float64 inference", dtype="float64"),
    replace(BASELINE, name="1 fs", changes="1 fs time step", dt_fs=1.0),
    replace(BASELINE, name="2048 atoms", changes="2,048 atoms (8×8×8 FCC melted)", n_cells=8),
    replace(BASELINE, name="Langevin+Berendsen", changes="Langevin thermostat + Berendsen barostat (pdamp 1 ps, B 70 GPa)",
            ensemble="npt_langevin", pdamp_fs=1000.0),
)


@dataclass(frozen=True)
class Lengths:
    """Run lengths (ps) of every piece; the same for every variant so that only the factor changes."""

    melt_T_K: float = 2000.0
    melt_ps: float = 1.5
    equil_ps: float = 3.0
    production_ps: float = 10.0
    sample_every_fs: float = 10.0


@dataclass(frozen=True)
class Piece:
    variant: Variant
    seed: int
    T_K: float
    lengths: Lengths = field(default_factory=Lengths)

    @property
    def key(self) -> str:
        """File name of the piece: variant, seed and a hash of every setting (a changed setting reruns it)."""
        blob = json.dumps({"v": asdict(self.variant), "seed": self.seed, "T": self.T_K, "l": asdict(self.lengths)},
                          sort_keys=True)
        slug = "".join(c if c.isalnum() else "-" for c in self.variant.name.lower())
        return f"{slug}-s{self.seed}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"

    @property
    def atom_steps(self) -> float:
        ps = self.lengths.melt_ps + self.lengths.equil_ps + self.lengths.production_ps
        return self.variant.n_atoms * ps * 1000.0 / self.variant.dt_fs


def plan(variants: tuple[Variant, ...] = VARIANTS, n_seeds: int = 3, first_seed: int = 1, T_K: float = T_DEFAULT_K,
         lengths: Lengths = Lengths()) -> list[Piece]:
    """Every (variant, seed) piece, cheapest variants first (a partial study still has a baseline to compare with)."""
    if n_seeds < 2:
        raise AlalError("the liquid-density study needs at least 2 seeds per variant (the error bar is over seeds)")
    if not any(v.name == BASELINE.name for v in variants):
        raise AlalError(f"the variants must include the baseline '{BASELINE.name}'")
    pieces = [Piece(v, first_seed + k, T_K, lengths) for v in variants for k in range(n_seeds)]
    return sorted(pieces, key=lambda p: (p.atom_steps, p.variant.name != BASELINE.name, p.variant.name, p.seed))


def run_piece(piece: Piece, potential: str, a0_A: float, progress=None) -> dict:
    """Melt an FCC cell of the potential's own a0 (volume +12 %) at ``melt_T_K`` (Langevin, fixed cell), then run
    NPT at ``T_K``: equilibration, production. Returns the per-seed result (plain data)."""
    from alal.analysis.blocks import block_average
    from alal.analysis.cna import cna_fractions
    from alal.md import Stage, engine_for, maxwell_boltzmann, run_stages
    from alal.potentials import load
    from alal.structures import fcc_cubic
    from validation.md.common import density_g_cm3

    v, L = piece.variant, piece.lengths
    atoms = fcc_cubic(a0_A * 1.12 ** (1.0 / 3.0), v.n_cells)
    engine = engine_for(load(potential, dtype=v.dtype))
    steps = lambda ps: max(int(round(ps * 1000.0 / v.dt_fs)), 1)  # noqa: E731
    every = max(int(round(L.sample_every_fs / v.dt_fs)), 1)
    maxwell_boltzmann(atoms, L.melt_T_K, piece.seed)
    t0 = time.perf_counter()
    npt = dict(T_K=piece.T_K, P_GPa=0.0, barostat="iso", tdamp_fs=v.tdamp_fs, pdamp_fs=v.pdamp_fs, sample_every=every,
               bulk_modulus_GPa=70.0)
    prod = steps(L.production_ps)
    traces = run_stages(atoms, engine, [
        Stage("langevin", steps(L.melt_ps), T_K=L.melt_T_K, tdamp_fs=v.tdamp_fs, sample_every=50, pressure=False,
              label=f"melt at {L.melt_T_K:.0f} K"),
        Stage(v.ensemble, steps(L.equil_ps), label=f"{piece.T_K:.0f} K equilibration", **npt),
        Stage(v.ensemble, prod, frame_every=prod, label=f"{piece.T_K:.0f} K production", **npt),
    ], dt_fs=v.dt_fs, seed=piece.seed, progress=progress)
    production = traces[2]
    rho = density_g_cm3(len(atoms), production.V_A3)
    mean, block_err = block_average(rho, 4)
    cna = cna_fractions(production.frames[-1].atoms())
    return {"variant": v.name, "seed": piece.seed, "T_K": piece.T_K, "n_atoms": len(atoms), "engine": engine.name,
            "rho_g_cm3": mean, "rho_block_err_g_cm3": block_err, "T_mean_K": float(np.mean(production.T_K)),
            "P_mean_GPa": float(np.mean(production.P_GPa)), "crystalline_fraction": float(cna["crystalline"]),
            "wall_s": time.perf_counter() - t0, "atom_steps_per_s": production.atom_steps_per_s,
            "settings": {"variant": asdict(v), "lengths": asdict(L)}}


CRYSTALLISED_FRACTION = 0.2  # as the liquid-density property: a "liquid" above this crystalline share froze


def analyse(pieces: list[dict], experiment_g_cm3: float | None = None, experiment_label: str = "") -> dict:
    """Per variant: the mean density over its seeds ± the standard error over seeds, the difference from the
    baseline ± their combined standard error, whether it is significant (> 2 σ), and the offset from experiment.
    Crystallised pieces are left out (and counted)."""
    by_variant: dict[str, list[dict]] = {}
    for p in pieces:
        by_variant.setdefault(p["variant"], []).append(p)
    rows = []
    for name, ps in by_variant.items():
        liquid = [p for p in ps if p["crystalline_fraction"] <= CRYSTALLISED_FRACTION]
        vals = np.array([p["rho_g_cm3"] for p in liquid])
        n = len(vals)
        rows.append({
            "variant": name, "n_seeds": n, "n_crystallised": len(ps) - n, "n_atoms": ps[0]["n_atoms"],
            "rho_g_cm3": float(vals.mean()) if n else None,
            "sem_g_cm3": float(vals.std(ddof=1) / math.sqrt(n)) if n >= 2 else None,
            "seed_values_g_cm3": [float(x) for x in vals],
            "T_mean_K": float(np.mean([p["T_mean_K"] for p in liquid])) if n else None,
            "P_mean_GPa": float(np.mean([p["P_mean_GPa"] for p in liquid])) if n else None,
            "wall_s": float(sum(p["wall_s"] for p in ps)),
        })
    base = next((r for r in rows if r["variant"] == BASELINE.name), None)
    for r in rows:
        r["delta_vs_baseline_g_cm3"] = r["delta_err_g_cm3"] = r["significant"] = None
        if base and r is not base and r["rho_g_cm3"] is not None and base["rho_g_cm3"] is not None \
                and r["sem_g_cm3"] is not None and base["sem_g_cm3"] is not None:
            d = r["rho_g_cm3"] - base["rho_g_cm3"]
            err = math.hypot(r["sem_g_cm3"], base["sem_g_cm3"])
            r.update(delta_vs_baseline_g_cm3=d, delta_err_g_cm3=err, significant=bool(abs(d) > 2 * err))
        r["vs_experiment_percent"] = (100.0 * (r["rho_g_cm3"] / experiment_g_cm3 - 1.0)
                                      if experiment_g_cm3 and r["rho_g_cm3"] is not None else None)
    order = {v.name: i for i, v in enumerate(VARIANTS)}
    rows.sort(key=lambda r: order.get(r["variant"], len(order)))
    return {"rows": rows, "experiment_g_cm3": experiment_g_cm3, "experiment_label": experiment_label}


def _f(x, fmt=".4f") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(result: dict, potential: str, T_K: float, lengths: Lengths) -> str:
    exp = result["experiment_g_cm3"]
    lines = [f"## Liquid density of {potential} at {T_K:.0f} K: one protocol factor at a time",
             "",
             f"Each variant changes one factor of the quick tier's protocol; {lengths.melt_ps:g} ps melt at "
             f"{lengths.melt_T_K:.0f} K, {lengths.equil_ps:g} ps equilibration and {lengths.production_ps:g} ps production "
             f"at {T_K:.0f} K and 0 GPa per seed. ± is the standard error over independent seeds; Δ is the difference from "
             "the baseline ± their combined standard error, significant when |Δ| > 2σ.",
             "",
             "| variant | atoms | seeds | ρ (g/cm³) | Δ vs baseline (g/cm³) | significant | vs experiment | per seed |",
             "| --- | ---: | ---: | ---: | ---: | --- | ---: | --- |"]
    for r in result["rows"]:
        d = "-" if r["delta_vs_baseline_g_cm3"] is None else f"{r['delta_vs_baseline_g_cm3']:+.4f} ± {r['delta_err_g_cm3']:.4f}"
        sig = "-" if r["significant"] is None else ("yes" if r["significant"] else "no")
        seeds = f"{r['n_seeds']}" + (f" (+{r['n_crystallised']} crystallised)" if r["n_crystallised"] else "")
        lines.append(f"| {r['variant']} | {r['n_atoms']} | {seeds} | {_f(r['rho_g_cm3'])} ± {_f(r['sem_g_cm3'])} | {d} | {sig} | "
                     f"{_f(r['vs_experiment_percent'], '+.2f')} % | {', '.join(f'{x:.4f}' for x in r['seed_values_g_cm3'])} |")
    if exp:
        lines += ["", f"Experiment: {exp:.4f} g/cm³ at {T_K:.0f} K ({result['experiment_label']})."]
    return "\n".join(lines) + "\n"


def experiment_at(T_K: float) -> tuple[float | None, str]:
    """The first experimental ρ(T) curve of the reference data valid at T (Assael et al. 2006 first)."""
    from validation.properties.liquid_density import evaluate_curve, experimental_curves
    from validation.references import load_references

    for c in experimental_curves(load_references()):
        lo, hi = c["valid_K"]
        if lo - 15.0 <= T_K <= hi:  # 943 K lies 10 K above the melting point where the fits start
            return float(evaluate_curve(c, T_K)), c["label"]
    return None, ""


def study(potential: str, out: Path, *, variants: tuple[Variant, ...] = VARIANTS, n_seeds: int = 3, first_seed: int = 1,
          T_K: float = T_DEFAULT_K, lengths: Lengths = Lengths(), echo=print) -> dict:
    """Run (or continue) the study; writes ``OUT/pieces/*.json``, ``OUT/liquid_density.json`` and ``.md``."""
    from validation.studies.pieces import cached_fcc_a0, run_pieces

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pieces = plan(variants, n_seeds, first_seed, T_K, lengths)
    a0 = cached_fcc_a0(out, potential)
    t_start = time.perf_counter()
    results = run_pieces(
        pieces, out, lambda piece, progress: run_piece(piece, potential, a0, progress=progress), potential=potential,
        describe=lambda p: f"{p.variant.name}, seed {p.seed}, {p.variant.n_atoms} atoms",
        summary=lambda r: (f"ρ = {r['rho_g_cm3']:.4f} g/cm³, T {r['T_mean_K']:.0f} K, P {r['P_mean_GPa']:+.3f} GPa, "
                           f"crystalline {100 * r['crystalline_fraction']:.0f} %"),
        echo=echo)
    exp, label = experiment_at(T_K)
    result = analyse(results, exp, label)
    result.update(potential=potential, T_K=T_K, a0_A=a0, lengths=asdict(lengths), n_seeds=n_seeds, first_seed=first_seed,
                  wall_s=time.perf_counter() - t_start)
    (out / "liquid_density.json").write_text(json.dumps(result, indent=1))
    md = markdown(result, potential, T_K, lengths)
    (out / "liquid_density.md").write_text(md)
    return result
