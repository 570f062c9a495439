"""``alal study confidence RUN_DIR``: was the ensemble right to be sure where it never stopped?

The run's own calibration (``alal status``) ranks the ensemble's spread against the error on the test split,
structures the loop labelled. What it cannot show is the other side: the frames where the student was *sure*,
the end frames of trajectories that ran to t_max (or to the budget's end) without crossing the threshold and so
were never labelled. If the student is wrong there, the stop rule can declare convergence on a bad model. This
study labels those end frames with the run's oracle (in this process: a potential or EMT oracle only, as the
held-out study) and puts them beside the frames the same generation stopped on (its labelled candidates): for
each set, the model's ρ, force spread and actual errors, and the rank correlations over both sets.

Output: ``RUN_DIR/study/confidence/confidence.{json,md}``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError

CENSORED_REASONS = ("t_max", "walltime")  # the trajectory ended without the ensemble crossing its threshold


class _LabelledFrame:
    """An oracle-labelled frame with the fields :func:`alal.al.discovery.evaluate_points` reads from a row."""

    def __init__(self, atoms: Atoms, tag: str):
        self._atoms = atoms
        self.energy = float(atoms.get_potential_energy())
        self.forces = np.asarray(atoms.get_forces())
        self.hash = tag

    def toatoms(self) -> Atoms:
        return Atoms(self._atoms.numbers, positions=self._atoms.positions, cell=self._atoms.cell, pbc=self._atoms.pbc)

    def get(self, key, default=None):
        return {"split": "censored", "source": "censored"}.get(key, default)


def default_generation(store, rd) -> int:
    """The last generation whose trajectories ended and whose model exists."""
    gens = sorted({int(t.get("generation", -1)) for t in store.trajectories()}, reverse=True)
    for g in gens:
        if g >= 0 and (rd.model(g) / "alal_model.json").is_file():
            return g
    raise AlalError(f"run '{rd.path}' has no generation with both a model and finished trajectories")


def summary(points: list[dict]) -> dict:
    """Medians of the spread and of the actual errors over a set of frames."""
    if not points:
        return {"n_frames": 0}

    def med(key, scale=1.0):
        return float(np.median([p[key] for p in points]) * scale)

    return {"n_frames": len(points), "rho_median_eV": med("rho_eV"),
            "force_spread_mean_median_eV_A": med("force_spread_mean_eV_A"),
            "force_spread_max_median_eV_A": med("force_spread_max_eV_A"),
            "energy_error_median_meV_per_atom": med("energy_abs_error_eV_per_atom", 1000.0),
            "force_mae_median_eV_A": med("force_mae_eV_A")}


def correlations(points: list[dict]) -> dict:
    from alal.al.discovery import spearman

    r_e, why_e = spearman([p["rho_eV"] for p in points], [p["energy_abs_error_eV_per_atom"] for p in points])
    r_f, why_f = spearman([p["force_spread_mean_eV_A"] for p in points], [p["force_mae_eV_A"] for p in points])
    out = {"spearman_rho_vs_energy_error": r_e, "spearman_force_spread_vs_force_error": r_f}
    if why_e:
        out["spearman_rho_vs_energy_error_reason"] = why_e
    if why_f:
        out["spearman_force_spread_vs_force_error_reason"] = why_f
    return out


def confidence(run_dir: Path, generation: int | None = None, echo=print) -> dict:
    from alal.al.discovery import evaluate_points
    from alal.al.heldout import label
    from alal.al.rundir import write_json_atomic, write_text_atomic
    from alal.al.status import _open as open_run_readonly  # the run, its config and its database, read-only

    rd, _manifest, cfg, store = open_run_readonly(run_dir)
    settings = cfg.oracle_settings()
    if settings["kind"] not in ("potential", "emt"):
        raise AlalError(f"the confidence study labels in this process: oracle kind '{settings['kind']}' is too "
                        "expensive for that (use a potential or emt oracle)")
    gen = default_generation(store, rd) if generation is None else int(generation)
    model = rd.model(gen)
    if not (model / "alal_model.json").is_file():
        raise AlalError(f"generation {gen} of '{run_dir}' has no model ({model})")
    t0 = time.time()
    trajs = [t for t in store.trajectories() if int(t.get("generation", -1)) == gen]
    censored = [t for t in trajs if t.get("stop_reason") in CENSORED_REASONS and t.natoms > 0]
    echo(f"confidence: generation {gen}: labelling the end frames of {len(censored)} censored trajectories "
         f"(of {len(trajs)}) with the oracle")
    frames = label([t.toatoms() for t in censored], settings)
    sure = [_LabelledFrame(a, t.get("traj_id")) for a, t in zip(frames, censored)]
    stopped_hashes = {s.hash for s in store.structures(source="al")
                      if int(s.get("generation", -1)) == gen and s.get("status") == "labelled"}
    stopped = [r for r in store.labels(sources=("al",)) if r.hash in stopped_hashes]
    p_sure = evaluate_points(model, sure)
    p_stopped = evaluate_points(model, stopped)
    threshold = float(cfg["sampler.rho_threshold_eV"])
    data = {"model": str(model), "generation": gen, "oracle": settings, "rho_threshold_eV": threshold,
            "n_trajectories": len(trajs),
            "censored": summary(p_sure), "stopped": summary(p_stopped),
            "both": {**summary(p_sure + p_stopped), **correlations(p_sure + p_stopped)},
            "wall_s": round(time.time() - t0, 1)}
    out = rd.path / "study" / "confidence"
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "confidence.json", data)
    write_text_atomic(out / "confidence.md", markdown(data))
    return data


def markdown(data: dict) -> str:
    def f(x, spec=".3g"):
        return "–" if x is None else format(x, spec)

    lines = [f"## Was the ensemble right to be sure? Generation {data['generation']} against its oracle", "",
             f"ρ threshold {data['rho_threshold_eV']:g} eV/√atom; {data['n_trajectories']} trajectories. "
             "Censored: end frames of trajectories that never crossed it (labelled here by the oracle); "
             "stopped: the frames they stopped on (the run's labels). Medians.", "",
             "| frames | n | ρ (eV/√atom) | force spread mean / max (eV/Å) | |ΔE| (meV/atom) | force MAE (eV/Å) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for key in ("censored", "stopped", "both"):
        s = data[key]
        if not s["n_frames"]:
            lines.append(f"| {key} | 0 | – | – | – | – |")
            continue
        lines.append(f"| {key} | {s['n_frames']} | {f(s['rho_median_eV'])} | "
                     f"{f(s['force_spread_mean_median_eV_A'])} / {f(s['force_spread_max_median_eV_A'])} | "
                     f"{f(s['energy_error_median_meV_per_atom'])} | {f(s['force_mae_median_eV_A'])} |")
    b = data["both"]
    lines += ["", f"Spearman over both: ρ vs |ΔE|/N {f(b.get('spearman_rho_vs_energy_error'), '+.2f')}, "
              f"mean force spread vs force MAE {f(b.get('spearman_force_spread_vs_force_error'), '+.2f')}.", ""]
    return "\n".join(lines)
