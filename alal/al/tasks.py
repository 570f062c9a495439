"""The files between the loop and :mod:`alal.al.worker`: what a task gets, what it leaves, and how what it
leaves becomes a database record.

  work/oracle/…/input.json                     a :class:`LabelTask`: one labelling attempt (:func:`label_inputs`)
  work/traj/task-tNNNNNN.json                  a :class:`SampleTask`: a few trajectories for one process
  work/traj/tNNNNNN.json                       one trajectory's result (:func:`trajectory_payload`)
  work/train/gen-NNN/task-attemptK.json        a :class:`TrainTask`: one training attempt of a generation
  work/train/gen-NNN/dataset-attemptK.extxyz   its exact training set (:func:`write_dataset`)
  models/gen-NNN/training_report.json          what the training left (:func:`generation_record`)

The JSON keys are the run directory's file format: a run written by an earlier version resumes with task
files still in flight, so keys are only ever added (with a default when read), never renamed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms

from alal.al import oracle as orc
from alal.al.oracle import LabelTask
from alal.al.builder import BuilderSettings
from alal.al.rundir import RunDir, seed_for, write_json_atomic
from alal.al.sampler import EVENT_REASONS, SamplerSettings, TrajectoryResult, TrajectorySpec
from alal.data.hashing import structure_hash, unit_interval

if TYPE_CHECKING:  # the trainer imports torch: only a training process needs it
    from alal.al.trainer import TrainSettings


def _tuples(d: dict) -> dict:
    """JSON turns the settings' tuples into lists; the settings classes take tuples."""
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}


def _lists(obj) -> dict:
    return {f.name: (list(v) if isinstance(v := getattr(obj, f.name), tuple) else v) for f in fields(obj)}


class _TaskFile:
    """JSON text and atomic files for a task class with ``as_dict`` and ``from_dict``."""

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | Path):
        return cls.from_json(Path(path).read_text())

    def write(self, path: str | Path) -> None:
        write_json_atomic(Path(path), self.as_dict())


@dataclass
class SampleTask(_TaskFile):
    """Trajectories run one after another in one process, each writing ``out_dir/<traj_id>.json``."""

    trajectories: list[TrajectorySpec]
    out_dir: str
    threads: int
    sampler: SamplerSettings
    builder: BuilderSettings

    @property
    def traj_ids(self) -> list[str]:
        return [t.traj_id for t in self.trajectories]

    def as_dict(self) -> dict:
        return {"trajectories": [_lists(t) for t in self.trajectories], "out_dir": self.out_dir,
                "threads": self.threads, "sampler": _lists(self.sampler), "builder": _lists(self.builder)}

    @classmethod
    def from_dict(cls, d: dict) -> "SampleTask":
        return cls(trajectories=[TrajectorySpec(**t) for t in d["trajectories"]], out_dir=d["out_dir"],
                   threads=d.get("threads", 1), sampler=SamplerSettings(**_tuples(d["sampler"])),
                   builder=BuilderSettings(**_tuples(d["builder"])))


@dataclass
class TrainTask(_TaskFile):
    """One training attempt: the dataset file in, a complete model directory ``model_dir`` out."""

    generation: int
    attempt: int
    dataset: str
    model_dir: str
    features_dir: str
    settings: TrainSettings
    element: str
    seeds: list[int]  # one per ensemble member
    data_seed: int
    init_model: str | None  # warm start from this model directory
    run_name: str
    threads: int

    def settings_dict(self) -> dict:
        """The settings as the task file has them (recorded in the model's training report)."""
        return _lists(self.settings)

    def as_dict(self) -> dict:
        return {f.name: (self.settings_dict() if f.name == "settings" else getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainTask":
        from alal.al.trainer import TrainSettings

        return cls(generation=d["generation"], attempt=d["attempt"], dataset=d["dataset"], model_dir=d["model_dir"],
                   features_dir=d["features_dir"], settings=TrainSettings(**_tuples(d["settings"])),
                   element=d["element"], seeds=list(d["seeds"]), data_seed=d["data_seed"],
                   init_model=d.get("init_model"), run_name=d["run_name"], threads=d.get("threads", 1))


def sample_task_for(cfg, rd: RunDir, gen: int, ids: list[str], deadline_unix: float | None = None,
                    rho_threshold_eV: float | None = None, control_file: str | None = None) -> SampleTask:
    """The sampling task of trajectories ``ids`` with generation ``gen``'s model (``cfg``: the run's ALConfig);
    its trajectories end as "walltime" at ``deadline_unix`` (the loop's budget) if they are still running.
    ``rho_threshold_eV``: the threshold ladder's current rung (default: sampler.rho_threshold_eV);
    ``control_file``: where a later rung will be written (the batched sampler applies it to running trajectories)."""
    seed = cfg["run.seed"]
    sampler = dataclasses.replace(SamplerSettings.from_config(cfg), deadline_unix=deadline_unix, control_file=control_file)
    if rho_threshold_eV is not None:
        sampler = dataclasses.replace(sampler, rho_threshold_eV=rho_threshold_eV)
    return SampleTask(
        trajectories=[TrajectorySpec(traj_id=t, seed=seed_for(seed, "trajectory", t), generation=gen,
                                     model_dir=str(rd.model(gen))) for t in ids],
        out_dir=str(rd.traj_work), threads=cfg["sampler.threads"],
        sampler=sampler, builder=BuilderSettings.from_config(cfg))


def train_task_for(cfg, rd: RunDir, gen: int, attempt: int, dataset: Path, threads: int) -> TrainTask:
    """Training attempt ``attempt`` of generation ``gen`` on ``dataset``; a warm start from the previous generation
    when ``trainer.warm_start`` and its model exists."""
    from alal.al.trainer import TrainSettings

    t = cfg.section("trainer")
    prev = rd.model(gen - 1)
    settings = TrainSettings.from_config(cfg)
    warm = t["warm_start"] and gen > 0 and (prev / "alal_model.json").is_file()
    if warm and t["max_epochs_warm_start"]:
        settings = dataclasses.replace(settings, max_epochs=t["max_epochs_warm_start"])
    seed = cfg["run.seed"]
    return TrainTask(
        generation=gen, attempt=attempt, dataset=str(dataset), model_dir=str(rd.model(gen)),
        features_dir=str(rd.features), settings=settings, element=cfg["run.element"],
        seeds=[seed_for(seed, "train", gen, attempt, m) % (2**31) for m in range(settings.n_members)],
        data_seed=seed_for(seed, "train-data", gen, attempt) % (2**31), init_model=str(prev) if warm else None,
        run_name=cfg["run.name"], threads=threads)


def read_task(kind: str, path: str | Path) -> SampleTask | TrainTask | LabelTask:
    return {"sample": SampleTask, "train": TrainTask, "label": LabelTask}[kind].read(path)


def label_inputs(oracle_work: Path, rows: list, settings: dict, retry: dict, faults: dict,
                 threads: int) -> list[tuple[str, str]]:
    """(input, result) paths of the next labelling attempt of each structure row; an input that exists already
    (written by a driver that died before the attempt ran) is kept, so the attempt stays the same."""
    items = []
    for row in rows:
        attempt = int(row.get("attempts", 0)) + 1
        d = orc.attempt_dir(oracle_work, row.hash, attempt)
        d.mkdir(parents=True, exist_ok=True)
        inp, res = d / "input.json", d / "result.json"
        if not inp.is_file():
            LabelTask.of(row.toatoms(), row.hash, attempt, orc.attempt_settings(settings, attempt, retry), faults,
                         want_stress=True, threads=threads).write(inp)
        items.append((str(inp), str(res)))
    return items


# ------------------------------------------------------------------------------------------ datasets


def write_dataset(path: Path, rows: list) -> None:
    """The labels of ``rows`` (database label rows) as extended XYZ, written atomically."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    for r in rows:
        a = r.toatoms()
        a.calc = SinglePointCalculator(a, energy=float(r.energy), forces=np.asarray(r.forces))
        a.info = {"hash": r.hash, "split": r.split, "source": r.source}
        frames.append(a)
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp), frames, format="extxyz")
    tmp.replace(path)


def read_dataset(path: Path) -> list[dict]:
    """Labels of a training-set file: [{hash, split, atoms, energy_eV, forces_eV_A}]."""
    from ase.io import read

    out = []
    for a in read(str(path), index=":", format="extxyz"):
        out.append({"hash": a.info["hash"], "split": a.info["split"], "atoms": a,
                    "energy_eV": float(a.get_potential_energy()), "forces_eV_A": np.array(a.get_forces())})
    return out


# ------------------------------------------------------------------------------------------- results


def atoms_to_dict(a: Atoms | None) -> dict | None:
    if a is None:
        return None
    return {"numbers": a.numbers.tolist(), "positions": a.get_positions().tolist(), "cell": a.cell.array.tolist(),
            "pbc": [bool(x) for x in a.pbc]}


def atoms_from_dict(d: dict | None) -> Atoms | None:
    if d is None:
        return None
    return Atoms(numbers=d["numbers"], positions=d["positions"], cell=d["cell"], pbc=d["pbc"])


def oracle_hash(settings: dict) -> str:
    """Identifies the oracle settings a label was computed with (in the manifest and on every label)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def split_of(h: str, val_fraction: float, test_fraction: float) -> str:
    """A structure's split, fixed by its hash: the same structure lands in the same split in every run."""
    u = unit_interval(h, salt="split:")
    if u < test_fraction:
        return "test"
    if u < test_fraction + val_fraction:
        return "val"
    return "train"


def label_record(res: orc.OracleResult, row, val_fraction: float, test_fraction: float) -> dict:
    """A successful labelling attempt's key-value pairs for the label of structure ``row``."""
    return dict(split=split_of(res.hash, val_fraction, test_fraction), source=row.source,
                generation=int(row.generation), traj_id=row.get("traj_id", ""), oracle=res.settings["kind"],
                oracle_hash=oracle_hash(res.settings), wall_s=res.wall_s, attempt=res.attempt, labelled_at=time.time())


def trajectory_payload(res: TrajectoryResult, settings: SamplerSettings) -> dict:
    """The result file of one trajectory."""
    return {
        "traj_id": res.traj_id, "seed": res.seed, "generation": res.generation, "schedule": res.schedule,
        "builder_seed": res.builder_seed, "n_atoms": res.n_atoms, "density_g_cm3": res.density_g_cm3,
        "steps": res.steps, "t_reached_ps": res.t_reached_ps, "stop_reason": res.stop_reason,
        "detail": res.detail, "rho_at_stop": res.rho_at_stop, "wall_s": res.wall_s, "engine": res.engine,
        "timestep_fs": settings.timestep_fs,
        # the threshold the trajectory started under (a ladder's rung, for the stop rule's window) and the one it
        # ended under (lower when the rung moved while it ran)
        "rho_threshold_eV": res.rho_threshold_start_eV if res.rho_threshold_start_eV is not None else settings.rho_threshold_eV,
        "rho_threshold_at_stop_eV": (res.rho_threshold_at_stop_eV if res.rho_threshold_at_stop_eV is not None
                                     else settings.rho_threshold_eV),
        "candidate": atoms_to_dict(res.candidate), "final": atoms_to_dict(res.final),
        "trace": {k: v.tolist() for k, v in res.trace.items()}, "finished_at": time.time(),
    }


def trajectory_record(p: dict) -> tuple[Atoms | None, Atoms | None, dict, dict]:
    """A trajectory result file as the database stores it: (candidate frame for the oracle, final frame,
    key-value pairs, data)."""
    sched = p["schedule"]
    candidate = atoms_from_dict(p.get("candidate"))
    kvp = {
        "generation": p["generation"], "seed": p["seed"], "builder_seed": p["builder_seed"],
        "T_start_K": sched["T_start_K"], "T_end_K": sched["T_end_K"], "T_mod_K": sched["T_mod_K"],
        "t0_ps": sched["t0_ps"], "t_max_ps": sched["t_max_ps"], "n_atoms": p["n_atoms"],
        "density_g_cm3": p["density_g_cm3"], "steps": p["steps"], "t_reached_ps": p["t_reached_ps"],
        "stop_reason": p["stop_reason"], "detail": p["detail"][:400], "rho_at_stop_eV": p["rho_at_stop"],
        "event": p["stop_reason"] in EVENT_REASONS, "wall_s": p["wall_s"], "engine": p.get("engine", ""),
        "candidate_hash": structure_hash(candidate) if candidate is not None else "",
        "finished_at": p.get("finished_at", time.time()),
        "timestep_fs": p.get("timestep_fs"), "rho_threshold_eV": p.get("rho_threshold_eV"),
        "rho_threshold_at_stop_eV": p.get("rho_threshold_at_stop_eV", p.get("rho_threshold_eV")),
    }
    data = {"trace": p["trace"], "schedule": sched}
    if candidate is not None:
        data["candidate"] = p["candidate"]
    return candidate, atoms_from_dict(p.get("final")), kvp, data


def generation_record(model: Path, report: dict) -> dict:
    """A trained generation's key-value pairs, from its model directory's training report."""
    kvp = {
        "status": "ok", "model_dir": str(model), "n_labels": report.get("n_labels", 0),
        "n_train": report.get("n_train", 0), "n_val": report.get("n_val", 0), "n_test": report.get("n_test", 0),
        "epochs": report.get("epochs", 0), "train_wall_s": report.get("train_wall_s", 0.0),
        "finished_at": time.time(),
    }
    for prefix in ("test", "val"):
        errs = report.get(f"{prefix}_errors", {})
        for k in ("energy_mae_meV_per_atom", "energy_rmse_meV_per_atom", "force_mae_eV_A", "force_rmse_eV_A"):
            if k in errs:
                kvp[f"{prefix}_{k}"] = errs[k]
    return kvp
