"""``alal study crystallisation RUN_DIR``: does the student's own dynamics crystallise as the teacher's does?

A run can stop "converged" with a model that knows no crystal. Two causes look alike from the loop's side:
the dynamics never forms crystals in the run's cells and schedules (then no model could learn them from its own
trajectories, and the protocol must change), or it forms them and the student is sure there (then the
threshold or the amount of data is the lever). This study tells them apart. The same trajectory seeds (so the
same random cells, Eq. 2 schedules and initial velocities, from the run's sampler and builder settings) are
run to t_max with the uncertainty stop off, once driven by the student (a generation's model) and once by the
teacher (the run's oracle, when it is an ANI potential: MD with GPAW or an EAM oracle is out of this
study's reach). A frame is kept every ``frame_every_ps``; OVITO's adaptive CNA classifies its atoms.

Per driver: the crystalline share (FCC + HCP + BCC atoms) over all frames, over frames whose schedule
temperature is below ``cold_K``, and at trajectory ends; how many trajectories reached a majority crystalline
frame; and the same by density band (crystals form where the random cell's density allows them).

Output: ``RUN_DIR/study/crystallisation/crystallisation.{json,md}``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError

CRYSTAL_TYPES = ("fcc", "hcp", "bcc")
DENSITY_BANDS_G_CM3 = ((0.0, 2.5), (2.5, 3.2), (3.2, 99.0))  # below, around and above solid Al's 2.70 g/cm³


@dataclasses.dataclass
class StudySettings:
    n_trajectories: int = 12
    first_seed: int = 1000
    t_max_ps: float | None = None  # None: the run's sampler.t_max_ps
    frame_every_ps: float = 1.0
    cold_K: float = 600.0
    batch_size: int = 12


def teacher_model_dir(oracle: dict, work: Path) -> Path | None:
    """An alal model directory of the oracle when it is an ANI potential (written once under ``work``)."""
    from alal.potentials import is_path_like, load_ani_model
    from alal.potentials.ani_model import is_model_dir, save_model_dir

    if oracle.get("kind") != "potential":
        return None
    name = str(oracle["name"])
    if is_path_like(name) and is_model_dir(Path(name)):
        return Path(name).resolve()
    try:
        model = load_ani_model(name)
    except AlalError:
        return None  # not an ANI potential (an EAM, EMT): no batched MD with it
    out = work / "teacher-model"
    if not is_model_dir(out):
        save_model_dir(model, out)
    return out


def drive(model_dir: Path, sampler, builder, s: StudySettings, echo=print) -> list[dict]:
    """Run the study's seeds with ``model_dir`` driving, uncertainty stop off; per trajectory its frames' CNA."""
    from alal.al.batch_sampler import BatchSampler
    from alal.al.sampler import TrajectorySpec
    from alal.analysis.cna import cna_fractions

    frames: dict[str, list] = {}
    dt_ps = sampler.timestep_fs * 1e-3
    every = max(int(round(s.frame_every_ps / dt_ps)), 1)

    def keep(spec, t_ps, T_target_K, atoms):
        if int(round(t_ps / dt_ps)) % every == 0:
            frames.setdefault(spec.traj_id, []).append((t_ps, T_target_K, atoms.get_positions().copy()))

    bs = BatchSampler(sampler, builder, model_dir=str(model_dir), observer=keep)
    specs = [TrajectorySpec(f"x{seed}", seed, -1, str(model_dir))
             for seed in range(s.first_seed, s.first_seed + s.n_trajectories)]
    rows = []
    for r in bs.run(specs, s.batch_size, progress=echo):
        kept = []
        for t_ps, T, x in frames.pop(r.traj_id, []):
            a = Atoms(r.final.numbers, positions=x, cell=r.final.cell, pbc=True)
            a.wrap()
            f = cna_fractions(a)
            kept.append({"t_ps": round(t_ps, 6), "T_target_K": T, **{k: float(f[k]) for k in (*CRYSTAL_TYPES, "ico", "other")}})
        rows.append({"seed": r.seed, "n_atoms": r.n_atoms, "density_g_cm3": r.density_g_cm3,
                     "stop_reason": r.stop_reason, "t_reached_ps": r.t_reached_ps, "schedule": r.schedule,
                     "frames": kept})
    return sorted(rows, key=lambda r: r["seed"])


def crystalline(frame: dict) -> float:
    return sum(frame[k] for k in CRYSTAL_TYPES)


def summarise(rows: list[dict], cold_K: float) -> dict:
    """The driver's crystalline shares (atom fractions, frames weighted equally) and counts."""
    all_x = [crystalline(f) for r in rows for f in r["frames"]]
    cold = [crystalline(f) for r in rows for f in r["frames"] if f["T_target_K"] < cold_K]
    ends = [crystalline(r["frames"][-1]) for r in rows if r["frames"]]
    peak = [max(crystalline(f) for f in r["frames"]) for r in rows if r["frames"]]
    by_type = {k: float(np.mean([f[k] for r in rows for f in r["frames"]])) if all_x else None for k in CRYSTAL_TYPES}
    bands = []
    for lo, hi in DENSITY_BANDS_G_CM3:
        inside = [r for r in rows if lo <= r["density_g_cm3"] < hi and r["frames"]]
        bands.append({"density_g_cm3": [lo, hi], "n_trajectories": len(inside),
                      "n_majority_crystalline": sum(max(crystalline(f) for f in r["frames"]) > 0.5 for r in inside)})
    mean = (lambda v: float(np.mean(v)) if v else None)  # noqa: E731
    return {"n_trajectories": len(rows), "n_frames": len(all_x), "crystalline_share_all_frames": mean(all_x),
            "crystalline_share_cold_frames": mean(cold), "n_cold_frames": len(cold),
            "crystalline_share_end_frames": mean(ends),
            "n_majority_crystalline": sum(p > 0.5 for p in peak), "share_by_type_all_frames": by_type,
            "by_density": bands, "stop_reasons": sorted({r["stop_reason"] for r in rows})}


def crystallisation(run_dir: Path, generation: int | None = None, settings: StudySettings | None = None,
                    echo=print) -> dict:
    from alal.al.builder import BuilderSettings
    from alal.al.rundir import write_json_atomic, write_text_atomic
    from alal.al.sampler import SamplerSettings
    from alal.al.status import _open as open_run_readonly

    s = settings or StudySettings()
    if s.n_trajectories < 1 or s.frame_every_ps <= 0 or (s.t_max_ps is not None and s.t_max_ps <= 0):
        raise AlalError("the crystallisation study needs >= 1 trajectory, a positive frame interval and t_max")
    rd, _manifest, cfg, _store = open_run_readonly(run_dir)
    models = sorted(p for p in rd.models.glob("gen-*") if (p / "alal_model.json").is_file())
    if generation is None and not models:
        raise AlalError(f"run '{run_dir}' has no trained generation yet")
    gen = int(models[-1].name.split("-")[1]) if generation is None else int(generation)  # default: the final model
    student = rd.model(gen)
    if not (student / "alal_model.json").is_file():
        raise AlalError(f"generation {gen} of '{run_dir}' has no model ({student})")
    out = rd.path / "study" / "crystallisation"
    out.mkdir(parents=True, exist_ok=True)
    sampler = SamplerSettings.from_config(cfg)
    # the run's dynamics, the uncertainty stop and the per-trajectory time limit off; the loop's deadline is not ours
    sampler = dataclasses.replace(sampler, rho_threshold_eV=float("inf"), force_spread_threshold_eV_A=0.0,
                                  time_limit_s=float("inf"), deadline_unix=None,
                                  t_max_ps=s.t_max_ps if s.t_max_ps is not None else sampler.t_max_ps)
    builder = BuilderSettings.from_config(cfg)
    drivers = {"student": student}
    teacher = teacher_model_dir(cfg.oracle_settings(), out)
    notes = []
    if teacher is not None:
        drivers["teacher"] = teacher
    else:
        notes.append(f"oracle '{cfg.oracle_settings().get('name', cfg.oracle_settings()['kind'])}' is not an ANI "
                     "potential: the student's dynamics only")
    data = {"run": str(rd.path), "generation": gen, "settings": dataclasses.asdict(s),
            "sampler": {"t_max_ps": sampler.t_max_ps, "timestep_fs": sampler.timestep_fs,
                        "friction_per_fs": sampler.friction_per_fs},
            "notes": notes, "drivers": {}}
    for name, model_dir in drivers.items():
        t0 = time.time()
        echo(f"crystallisation: {name} ({model_dir}) drives {s.n_trajectories} trajectories to {sampler.t_max_ps:g} ps")
        rows = drive(model_dir, sampler, builder, s, echo)
        data["drivers"][name] = {"model": str(model_dir), "wall_s": round(time.time() - t0, 1),
                                 "summary": summarise(rows, s.cold_K), "trajectories": rows}
        write_json_atomic(out / "crystallisation.json", data)  # the student's part survives a killed teacher run
    write_text_atomic(out / "crystallisation.md", markdown(data))
    return data


def markdown(data: dict) -> str:
    def pct(x):
        return "–" if x is None else f"{100 * x:.0f} %"

    s = data["settings"]
    lines = [f"## Does the dynamics crystallise? Generation {data['generation']} beside its teacher", "",
             f"{s['n_trajectories']} trajectories (seeds {s['first_seed']}-{s['first_seed'] + s['n_trajectories'] - 1}, "
             f"the same cells and schedules for every driver) to {data['sampler']['t_max_ps']:g} ps, uncertainty "
             f"stop off; a frame every {s['frame_every_ps']:g} ps, OVITO adaptive CNA. Crystalline = FCC + HCP + BCC "
             f"atoms; cold = schedule temperature below {s['cold_K']:g} K.", "",
             "| driver | all frames | cold frames | end frames | FCC / HCP / BCC (all) | trajectories > 50 % crystalline "
             "| by density < 2.5 / 2.5-3.2 / > 3.2 g/cm³ |",
             "| --- | ---: | ---: | ---: | --- | ---: | --- |"]
    for name, d in data["drivers"].items():
        m = d["summary"]
        types = " / ".join(pct(m["share_by_type_all_frames"][k]) for k in CRYSTAL_TYPES)
        bands = " / ".join(f"{b['n_majority_crystalline']} of {b['n_trajectories']}" for b in m["by_density"])
        lines.append(f"| {name} | {pct(m['crystalline_share_all_frames'])} | {pct(m['crystalline_share_cold_frames'])} | "
                     f"{pct(m['crystalline_share_end_frames'])} | {types} | {m['n_majority_crystalline']} of "
                     f"{m['n_trajectories']} | {bands} |")
    lines += [""] + [f"- {n}" for n in data.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"
