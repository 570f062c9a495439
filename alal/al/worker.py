"""Task processes: ``python -m alal.al.worker {oracle IN OUT | sample TASK | train TASK}``.

Every sampling, labelling and training task runs in a process of its own, started by an app of
:mod:`alal.al.execution`. The process reads its task file, writes its results atomically next to it
(an existing result is never recomputed) and exits; the driver only ever reads finished files. The same
functions run in-process for ``alal train --test-stage`` and the tests.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from alal.al.rundir import write_json_atomic
from alal.al.tasks import SampleTask, TrainTask, read_dataset, read_task, trajectory_payload


def _set_threads(n: int) -> None:
    import torch

    n = max(1, int(n))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


# ------------------------------------------------------------------------------------------ sample


def traj_result_path(out_dir: Path, traj_id: str) -> Path:
    return Path(out_dir) / f"{traj_id}.json"


def sample_task(task: SampleTask, progress=None) -> list[str]:
    """Run the task's trajectories, ``sampler.batch_size`` at a time (one engine call per MD step for all of
    them); one result file per trajectory, written as each one ends. Each trajectory's result is the same as
    run alone (alal.al.batch_sampler reproduces run_trajectory's Langevin and checks exactly)."""
    import dataclasses

    from alal.al.batch_sampler import run_batch

    settings, builder = task.sampler, task.builder
    out_dir = Path(task.out_dir)
    paths = [str(traj_result_path(out_dir, spec.traj_id)) for spec in task.trajectories]
    todo = [spec for spec in task.trajectories if not traj_result_path(out_dir, spec.traj_id).is_file()]
    if not todo:
        return paths
    batch = max(1, min(settings.batch_size, len(todo)))
    # sampler.time_limit_s is a budget per trajectory; side by side, each advances ~batch times slower in wall time
    settings = dataclasses.replace(settings, time_limit_s=settings.time_limit_s * batch)
    for model_dir in dict.fromkeys(spec.model_dir for spec in todo):  # one model per batch
        specs = [spec for spec in todo if spec.model_dir == model_dir]
        for res in run_batch(specs, settings, builder, batch_size=batch, model_dir=model_dir, progress=progress):
            write_json_atomic(traj_result_path(out_dir, res.traj_id), trajectory_payload(res, task.sampler))
            if progress is not None:
                progress(f"{res.traj_id}: {res.stop_reason} at {res.t_reached_ps:.3f} ps ({res.detail})")
    return paths


# ------------------------------------------------------------------------------------------- train


def train_task(task: TrainTask, progress=None) -> str:
    """Train one generation; write the model directory atomically; return its path."""
    from alal.al.descriptors import FeatureCache
    from alal.al.trainer import Sample, train
    from alal.potentials.ani_model import AEVParameters, load_model_dir, save_model_dir

    out = Path(task.model_dir)
    if (out / "alal_model.json").is_file():
        return str(out)
    aev = AEVParameters.ani_al()
    cache = FeatureCache(Path(task.features_dir), aev)
    data = read_dataset(Path(task.dataset))
    t0 = time.time()
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    for i, d in enumerate(data):
        feats = cache.get(d["hash"], d["atoms"])
        splits[d["split"]].append(Sample(feats, d["energy_eV"], d["forces_eV_A"], d["hash"]))
        if progress is not None and (i + 1) % 50 == 0:
            progress(f"features {i + 1}/{len(data)} ({time.time() - t0:.0f} s)")
    feature_s = time.time() - t0
    settings = task.settings
    init = load_model_dir(Path(task.init_model)) if task.init_model else None

    t_train = time.time()

    def epoch_progress(epoch, max_epochs, val, active, dt):
        if progress is not None and (epoch == 1 or epoch % 10 == 0):
            eta = (time.time() - t_train) / epoch * (max_epochs - epoch)
            progress(f"gen {task.generation}: epoch {epoch}/{max_epochs}, median val loss {val:.4g} eV², "
                     f"{active} members active, {dt:.2f} s/epoch, ETA ≤ {eta / 60:.1f} min (early stopping may end it sooner)")

    model, report = train(splits["train"], splits["val"], settings, aev=aev, element=task.element,
                          seeds=task.seeds, init=init, name=f"{task.run_name}-gen-{task.generation:03d}",
                          progress=epoch_progress, data_seed=task.data_seed)
    test_errors = _errors_with_model(model, splits["test"], settings)
    model.extra = {
        "generation": task.generation, "attempt": task.attempt, "n_train": len(splits["train"]),
        "n_val": len(splits["val"]), "n_test": len(splits["test"]), "n_labels": len(data),
        "seeds": task.seeds, "data_seed": task.data_seed, "init_model": task.init_model,
        "val_errors": report.val_errors, "test_errors": test_errors, "epochs": report.epochs,
        "member_best_epochs": report.member_epochs, "train_wall_s": report.wall_s, "feature_wall_s": feature_s,
        "self_energy_eV": report.self_energy_eV, "settings": task.settings_dict(),
    }
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model_dir(model, tmp)
    write_json_atomic(tmp / "training_report.json", {**model.extra, "history": report.history})
    if out.exists():  # a complete model appeared meanwhile (another attempt): keep it
        shutil.rmtree(tmp)
    else:
        os.rename(tmp, out)  # atomic: a model directory is either complete or absent
    return str(out)


def _errors_with_model(model, samples, settings) -> dict:
    import torch

    from alal.al.trainer import Ensemble, errors

    if not samples:
        return {}
    el = model.species[0]
    dims = model.layer_sizes(el)
    ens = Ensemble(dims, model.n_members, model.celu_alpha, [0] * model.n_members, torch, torch.device(settings.device),
                   init=model, species=el)
    return errors(ens, samples, model.self_energies[el], torch, torch.device(settings.device))


# -------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    from alal.al.oracle import child_batch_main, child_main, die_with_parent

    argv = list(sys.argv[1:] if argv is None else argv)
    die_with_parent()
    os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
    kind = argv[0] if argv else ""
    if kind == "oracle":
        return child_main(argv[1], argv[2])
    if kind == "oracle-batch":
        return child_batch_main(argv[1])
    if kind in ("sample", "train"):
        task = read_task(kind, argv[1])
        _set_threads(task.threads)

        def progress(msg: str) -> None:
            print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

        if kind == "sample":
            sample_task(task, progress=progress)
        else:
            train_task(task, progress=progress)
        return 0
    print("usage: python -m alal.al.worker {oracle IN OUT | sample TASK | train TASK}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
