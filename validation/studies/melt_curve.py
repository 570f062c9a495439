"""The melting curve Tm(P) up to 50 GPa from solid-liquid coexistence, independent seeds per pressure (the paper's Fig. 5).

The paper's headline MD result: ANI-Al's FCC-liquid melting line tracks experiment to 50 GPa, while Mendelev 2008 falls
below above ~5 GPa and grows BCC above ~20 GPa. The quick tier of ``make validate`` stops at 10 GPa with one seed per
pressure (its budget); this study runs every pressure of the paper's range with several independent seeds.

Protocol per (potential, pressure, seed): :func:`validation.properties.melting.coexistence_seed`, the interface method
of the ``melting`` property (crystal and liquid slabs stacked along z, then constant-enthalpy NPH; a run where a phase
disappears is repeated from a better guess). The settings are the quick tier's cell (768 atoms, 2 fs) with a longer NPH
run (10 ps, the last 4 ps averaged) and up to 3 attempts: at 25-50 GPa the quick tier's 6 ps and 2 attempts lost a phase
in every try (Mishin 1999, measured). The full tier's 6,144-atom cells and 60 ps NPH runs are for a GPU or a cluster.

Pressures run in order for each potential: each pressure's T_guess extrapolates that potential's own Tm at the lower
pressures (:func:`validation.properties.melting.guess_T`), so a rerun that reads the lower pressures back from
``OUT/<potential>/pieces/`` guesses the same. Seeds of one pressure run in parallel processes for LAMMPS.

Every run records the phase that grew (adaptive CNA of its last frame: BCC when BCC atoms outnumber FCC + HCP), so a
BCC-liquid "melting point" is flagged, not averaged into the FCC line silently. Reference: experiment at 1 atm and the
Clausius-Clapeyron slope from the experimental latent heat, volume change and liquid density. No experimental or DFT
melting curve under pressure is tabulated here yet (``$ALAL_DATA_DIR/reference/README.md``): a curve without a source we
can cite stays out of the plot.

Pure steps: :func:`plan`, :func:`summarise_pressure`, :func:`analyse`, :func:`markdown`; the MD is :func:`run_piece`.
"""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alal.errors import AlalError

PRESSURES_GPA = (0.0, 5.0, 10.0, 20.0, 30.0, 50.0)  # the and the paper's FCC-liquid range
POTENTIALS = ("ani-al", "eam-mendelev2008", "eam-mishin1999")


def protocol(**overrides) -> dict:
    """The study's coexistence settings: the quick tier's cell with a longer NPH run and a third attempt."""
    from validation.properties.melting import protocol_settings

    s = protocol_settings("quick")
    s.pop("rounds")
    s.update({"nph_ps": 10.0, "average_last_ps": 4.0, "max_attempts": 3, "dtype": "float32"})
    unknown = set(overrides) - set(s)
    if unknown:
        raise AlalError(f"unknown melt-curve setting(s): {', '.join(sorted(unknown))}")
    s.update(overrides)
    if not 0 < s["average_last_ps"] <= s["nph_ps"]:
        raise AlalError(f"the averaging window ({s['average_last_ps']:g} ps) must lie inside the NPH run ({s['nph_ps']:g} ps)")
    return s


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Piece:
    potential: str
    P_GPa: float
    seed: int
    T_guess_K: float
    settings_digest: str
    n_atoms: int
    atom_steps_one_attempt: float

    @property
    def key(self) -> str:
        # the guess is an input: if lower pressures came out differently, this pressure runs again
        return f"P{self.P_GPa:g}-s{self.seed}-T{self.T_guess_K:.1f}-{self.settings_digest}"

    @property
    def atom_steps(self) -> float:
        return self.atom_steps_one_attempt


def plan(potential: str, P_GPa: float, T_guess_K: float, settings: dict, n_seeds: int, first_seed: int) -> list[Piece]:
    """The seeds of one pressure (their T_guess comes from the lower pressures' results)."""
    from validation.properties.melting import n_atoms, seed_atom_steps

    if n_seeds < 1:
        raise AlalError("the melt-curve study needs at least 1 seed per pressure (3 for an error bar that holds)")
    digest = _digest(settings)
    return [Piece(potential, float(P_GPa), piece_seed(potential, P_GPa, first_seed + k), float(T_guess_K), digest,
                  n_atoms(settings, "fcc"), seed_atom_steps(settings, "fcc")) for k in range(n_seeds)]


def piece_seed(potential: str, P_GPa: float, index: int) -> int:
    """A seed per (potential, pressure, index), spread out: coexistence_seed derives its stages' seeds as seed + 1,
    + 2, + 3 and + 1000 per attempt, so consecutive integers would share random streams between seeds."""
    return int(zlib.crc32(f"melt-curve/{potential}/{float(P_GPa):g}/{index}".encode()) % 2_000_000_000) + 1


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def run_piece(engine, P_GPa: float, T_guess_K: float, settings: dict, seed: int, progress=None) -> dict:
    """One seed at one pressure: the coexistence attempts (module-level: worker processes run it)."""
    from validation.properties.melting import coexistence_seed

    t0 = time.perf_counter()
    attempts = coexistence_seed(engine, "fcc", P_GPa, T_guess_K, settings, seed, progress)
    for a in attempts:
        a.pop("final_frame", None)
    return {"P_GPa": P_GPa, "T_guess_K": T_guess_K, "seed": seed, "attempts": _jsonable(attempts),
            "wall_s": time.perf_counter() - t0}


def summarise_pressure(pieces: list[dict]) -> dict:
    """Tm ± standard error over the seeds whose last run kept both phases; the phases that grew."""
    from alal.analysis.blocks import mean_and_sem
    from validation.properties.melting import is_valid

    valid = [a for p in pieces for a in p["attempts"] if is_valid(a)]
    fcc = [a for a in valid if a["phase_grown"] == "fcc"]
    phases = sorted({a["phase_grown"] for a in valid})
    tm, sem = mean_and_sem([a["Tm_K"] for a in fcc]) if fcc else (None, None)
    return {"P_GPa": pieces[0]["P_GPa"], "n_seeds": len(pieces), "n_valid": len(valid), "n_fcc": len(fcc),
            "Tm_K": tm, "Tm_sem_K": sem if len(fcc) > 1 else None,
            "seed_Tm_K": [a["Tm_K"] for a in fcc],
            "P_mean_GPa": float(np.mean([a["P_mean_GPa"] for a in valid])) if valid else None,
            "phases_grown": phases, "bcc_Tm_K": [a["Tm_K"] for a in valid if a["phase_grown"] == "bcc"],
            "attempts": sum(len(p["attempts"]) for p in pieces),
            "outcomes": [a["outcome"] for p in pieces for a in p["attempts"]]}


def analyse(by_potential: dict[str, list[dict]], references=None) -> dict:
    """Per potential: the per-pressure rows, a Simon-Glatzel fit (a line through ≤ 10 GPa with fewer points), the
    first pressure where BCC grew; and the experimental reference at 1 atm with the Clausius-Clapeyron slope."""
    from validation.properties.melting import clausius_clapeyron, fit_melting_line

    out: dict = {"potentials": {}}
    for name, rows in by_potential.items():
        ok = [r for r in rows if r["Tm_K"] is not None]
        fit = fit_melting_line([r["P_GPa"] for r in ok], [r["Tm_K"] for r in ok],
                               [r["Tm_sem_K"] for r in ok]) if len(ok) >= 2 else {"model": None}
        bcc_from = next((r["P_GPa"] for r in rows if "bcc" in r["phases_grown"]), None)
        out["potentials"][name] = {"rows": rows, "fit": _jsonable(fit), "bcc_grew_from_GPa": bcc_from}
    if references is not None:
        tm = references.get("melting", "Tm_0GPa_K", kind="experiment")
        out["experiment"] = {"Tm_0GPa_K": tm.value if tm else None, "label": tm.label if tm else None,
                             "clausius_clapeyron": clausius_clapeyron(references)}
    return out


def _tm(r: dict) -> str:
    if r["Tm_K"] is None:
        return "no coexistence" if not r["bcc_Tm_K"] else f"BCC only: {np.mean(r['bcc_Tm_K']):.0f}"
    text = f"{r['Tm_K']:.0f}" + (f" ± {r['Tm_sem_K']:.0f}" if r["Tm_sem_K"] is not None else "")
    text += f" ({r['n_fcc']}/{r['n_seeds']})"
    if r["bcc_Tm_K"]:
        text += f"; BCC grew in {len(r['bcc_Tm_K'])}"
    return text


def markdown(result: dict, settings: dict) -> str:
    names = list(result["potentials"])
    pressures = sorted({r["P_GPa"] for p in result["potentials"].values() for r in p["rows"]})
    lines = ["## Melting curve from solid-liquid coexistence",
             "",
             f"Tm in K, ± the standard error over independent seeds (valid FCC-liquid seeds / seeds run). "
             f"{settings['repeat']['fcc'][0]}×{settings['repeat']['fcc'][1]}×{settings['repeat']['fcc'][2]} FCC cells "
             f"({4 * int(np.prod(settings['repeat']['fcc']))} atoms), {settings['dt_fs']:g} fs, NPH {settings['nph_ps']:g} ps "
             f"(last {settings['average_last_ps']:g} ps averaged, or the relaxation fit's asymptote), up to "
             f"{settings['max_attempts']} attempts per seed.",
             "",
             "| P (GPa) | " + " | ".join(names) + " |",
             "| ---: | " + " | ".join("---" for _ in names) + " |"]
    for P in pressures:
        cells = []
        for n in names:
            row = next((r for r in result["potentials"][n]["rows"] if r["P_GPa"] == P), None)
            cells.append("-" if row is None else _tm(row))
        lines.append(f"| {P:g} | " + " | ".join(cells) + " |")
    lines.append("")
    for n in names:
        p = result["potentials"][n]
        fit = p["fit"]
        slope = fit.get("dTm_dP_K_per_GPa")
        lines.append(f"- **{n}**: " + (f"{fit['model']}, dTm/dP(0) = {slope:.1f} K/GPa" if slope is not None
                                       else "too few pressures for a fit")
                     + (f"; BCC grew from {p['bcc_grew_from_GPa']:g} GPa" if p["bcc_grew_from_GPa"] is not None else ""))
    exp = result.get("experiment") or {}
    if exp.get("Tm_0GPa_K"):
        cc = exp.get("clausius_clapeyron") or {}
        lines.append(f"- **Experiment**: {exp['Tm_0GPa_K']:.2f} K at 1 atm ({exp['label']})"
                     + (f"; Clausius-Clapeyron slope {cc['dTm_dP_K_per_GPa']:.1f} K/GPa" if cc else ""))
    lines += ["", "No experimental or DFT melting curve under pressure is tabulated in the data directory yet; none is "
                  "plotted (see `$ALAL_DATA_DIR/reference/README.md`)."]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for i, (name, p) in enumerate(result["potentials"].items()):
        color = f"C{i}"
        ok = [r for r in p["rows"] if r["Tm_K"] is not None]
        if ok:
            ax.errorbar([r["P_GPa"] for r in ok], [r["Tm_K"] for r in ok], yerr=[r["Tm_sem_K"] or 0.0 for r in ok],
                        marker="o", capsize=3, color=color, label=f"{name}: FCC-liquid")
        bcc = [(r["P_GPa"], t) for r in p["rows"] for t in r["bcc_Tm_K"]]
        if bcc:  # each seed where BCC grew: a BCC-liquid coexistence temperature, not on the FCC line
            ax.plot(*zip(*bcc), "x", ms=8, mew=2, color=color, label=f"{name}: BCC grew (per seed)")
    exp = result.get("experiment") or {}
    if exp.get("Tm_0GPa_K"):
        ax.plot([0.0], [exp["Tm_0GPa_K"]], "k*", ms=10, label="experiment, 1 atm")
        cc = exp.get("clausius_clapeyron")
        if cc:
            P = np.array([0.0, 5.0])
            ax.plot(P, exp["Tm_0GPa_K"] + cc["dTm_dP_K_per_GPa"] * P, "k--", lw=1, label="Clausius-Clapeyron (exp.)")
    ax.set_xlabel("P (GPa)")
    ax.set_ylabel("Tm (K)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _potential_dir(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def study(potentials=POTENTIALS, out: Path = Path("reports/studies/melt-curve"), *, pressures=PRESSURES_GPA,
          n_seeds: int = 3, first_seed: int = 1, settings: dict | None = None, echo=print) -> dict:
    """Run (or continue) the study; writes ``OUT/<potential>/pieces/*.json``, ``OUT/melt_curve.{json,md,png}``."""
    from alal.md import engine_for
    from alal.potentials import load
    from validation.md.parallel import run_jobs
    from validation.properties.melting import guess_T
    from validation.references import load_references

    settings = protocol() if settings is None else settings
    pressures = sorted(float(p) for p in pressures)
    if not pressures:
        raise AlalError("the melt-curve study needs at least one pressure")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    by_potential: dict[str, list[dict]] = {}
    for name in potentials:
        folder = out / _potential_dir(name) / "pieces"
        folder.mkdir(parents=True, exist_ok=True)
        engine = engine_for(load(name, dtype=settings["dtype"]))
        found: list[tuple[float, float]] = []
        rows = []
        for P in pressures:
            T_guess = guess_T(found, P, settings["first_guess_K"])
            pieces = plan(name, P, T_guess, settings, n_seeds, first_seed)
            done = {p.key: json.loads((folder / f"{p.key}.json").read_text()) for p in pieces
                    if (folder / f"{p.key}.json").is_file()}
            todo = [p for p in pieces if p.key not in done]
            echo(f"{name}: {P:g} GPa, T_guess {T_guess:.0f} K, {len(pieces)} seed(s) of {pieces[0].n_atoms} atoms"
                 + (f", {len(done)} done before" if done else "")
                 + (f", {sum(p.atom_steps for p in todo) / 1e6:.0f} M atom-steps to run" if todo else ""))
            if todo:
                jobs = [{"engine": engine, "P_GPa": P, "T_guess_K": T_guess, "settings": settings, "seed": p.seed}
                        for p in todo]
                for p, res in zip(todo, run_jobs(run_piece, jobs, engine, echo, prefix=f"[{name} {P:g} GPa] ")):
                    res["potential"] = name
                    (folder / f"{p.key}.json").write_text(json.dumps(res, indent=1))
                    done[p.key] = res
            row = summarise_pressure([done[p.key] for p in pieces])
            rows.append(row)
            echo(f"    → {_tm(row)} K; phases grown: {', '.join(row['phases_grown']) or 'none'}")
            if row["Tm_K"] is not None:
                found.append((P, row["Tm_K"]))
        by_potential[name] = rows
    result = analyse(by_potential, load_references())
    result.update(settings=_jsonable(settings), n_seeds=n_seeds, first_seed=first_seed,
                  wall_s=time.perf_counter() - t_start)
    (out / "melt_curve.json").write_text(json.dumps(_jsonable(result), indent=1))
    (out / "melt_curve.md").write_text(markdown(result, settings))
    plot(result, out / "melt_curve.png")
    return result
