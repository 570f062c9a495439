"""Task files between the loop and the worker: typed, and a run directory written before they were typed still
resumes (its task files load, and the trajectory ids they hold are never reused)."""

import json
import sys
from pathlib import Path

from alal.al import config as alconfig
from alal.al.builder import BuilderSettings
from alal.al.recovery import next_traj_index
from alal.al.rundir import RunDir
from alal.al.sampler import SamplerSettings, TrajectorySpec
from alal.al.tasks import SampleTask, TrainTask, read_task
from alal.al.trainer import TrainSettings
from alal.al.worker import sample_task
from alal.data import Store

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import tiny_config  # noqa: E402

# written by the loop before task files were dataclasses (dicts dumped with write_json_atomic)
OLD_SAMPLE_TASK = """{
  "trajectories": [
    {"traj_id": "t000004", "seed": 6981935387377292112, "generation": 1, "model_dir": "/runs/r/models/gen-001"},
    {"traj_id": "t000005", "seed": 1894102554750993928, "generation": 1, "model_dir": "/runs/r/models/gen-001"}
  ],
  "out_dir": "/runs/r/work/traj",
  "threads": 1,
  "sampler": {
    "timestep_fs": 2.0, "friction_per_fs": 0.01, "T_start_K": [10.0, 1000.0], "T_end_K": [10.0, 600.0],
    "T_mod_K": [0.0, 2000.0], "t0_ps": [10.0, 50.0], "t_max_ps": 0.2, "check_every_steps": 10,
    "rho_threshold_eV": 0.02, "force_spread_threshold_eV_A": 0.0, "blowup_min_distance_A": 1.5,
    "blowup_max_force_eV_A": 50.0, "label_blowups": false, "dtype": "float32", "device": "cpu",
    "time_limit_s": 120.0
  },
  "builder": {"side_A": [6.0, 6.8], "density_g_cm3": [2.3, 3.0], "r_min_A": 1.8, "max_tries_per_atom": 20000,
              "element": "Al"}
}"""

OLD_TRAIN_TASK = """{
  "generation": 2,
  "attempt": 1,
  "dataset": "/runs/r/work/train/gen-002/dataset-attempt1.extxyz",
  "model_dir": "/runs/r/models/gen-002",
  "features_dir": "/runs/r/cache/features",
  "settings": {
    "n_members": 4, "hidden_layers": [96, 96, 64], "celu_alpha": 0.1, "energy_loss": "total",
    "force_weight_A2": 0.01, "learning_rate": 0.001, "min_learning_rate": 1e-05, "lr_decay_factor": 0.5,
    "lr_patience_epochs": 10, "patience_epochs": 6, "max_epochs": 5, "batch_size": 4, "device": "cpu"
  },
  "element": "Al",
  "seeds": [667144071, 973745655, 1506376373, 1783235527],
  "data_seed": 1004686304,
  "init_model": "/runs/r/models/gen-001",
  "run_name": "tiny",
  "threads": 1
}"""


def test_a_sample_task_file_in_the_old_format_loads():
    task = SampleTask.from_json(OLD_SAMPLE_TASK)
    assert task.traj_ids == ["t000004", "t000005"]
    assert task.trajectories[0] == TrajectorySpec(traj_id="t000004", seed=6981935387377292112, generation=1,
                                                  model_dir="/runs/r/models/gen-001")
    assert task.out_dir == "/runs/r/work/traj" and task.threads == 1
    assert task.sampler.T_start_K == (10.0, 1000.0) and task.sampler.t_max_ps == 0.2
    assert task.builder == BuilderSettings(side_A=(6.0, 6.8), density_g_cm3=(2.3, 3.0), r_min_A=1.8,
                                           max_tries_per_atom=20000, element="Al")
    # written back: the same keys, the same values for every key the old file had
    old, new = json.loads(OLD_SAMPLE_TASK), json.loads(task.to_json())
    assert list(new) == list(old)
    assert new["trajectories"] == old["trajectories"] and new["builder"] == old["builder"]
    assert {k: new["sampler"][k] for k in old["sampler"]} == old["sampler"]


def test_a_train_task_file_in_the_old_format_loads():
    task = TrainTask.from_json(OLD_TRAIN_TASK)
    assert (task.generation, task.attempt, task.element, task.run_name, task.threads) == (2, 1, "Al", "tiny", 1)
    assert task.settings.hidden_layers == (96, 96, 64) and task.settings.max_epochs == 5
    assert task.seeds == [667144071, 973745655, 1506376373, 1783235527] and task.data_seed == 1004686304
    assert task.init_model == "/runs/r/models/gen-001"
    old, new = json.loads(OLD_TRAIN_TASK), json.loads(task.to_json())
    assert list(new) == list(old)
    assert {k: v for k, v in new.items() if k != "settings"} == {k: v for k, v in old.items() if k != "settings"}
    assert {k: new["settings"][k] for k in old["settings"]} == old["settings"]
    assert task.settings_dict() == new["settings"]  # what the training report records


def test_task_files_round_trip(tmp_path):
    cfg = alconfig.load(tiny_config(tmp_path))
    sample = SampleTask(trajectories=[TrajectorySpec("t000000", 7, 0, str(tmp_path / "m"))], out_dir=str(tmp_path),
                        threads=2, sampler=SamplerSettings.from_config(cfg), builder=BuilderSettings.from_config(cfg))
    sample.write(tmp_path / "s.json")
    assert read_task("sample", tmp_path / "s.json") == sample
    train = TrainTask(generation=0, attempt=2, dataset="d.extxyz", model_dir="m", features_dir="f",
                      settings=TrainSettings.from_config(cfg), element="Al", seeds=[1, 2, 3, 4], data_seed=5,
                      init_model=None, run_name="tiny", threads=1)
    train.write(tmp_path / "t.json")
    assert read_task("train", tmp_path / "t.json") == train


def test_trajectory_ids_in_old_task_files_are_never_reused(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.create()
    store = Store(rd.db)
    assert next_traj_index(rd, store) == 0
    (rd.traj_work / "t000002.json").write_text("{}")  # a finished trajectory not yet in the database
    assert next_traj_index(rd, store) == 3
    # a task still running (or dead) whose trajectories have no result yet
    (rd.traj_work / "task-t000004.json").write_text(OLD_SAMPLE_TASK)
    assert next_traj_index(rd, store) == 6


def test_the_worker_collects_finished_trajectories_without_running_them_again(tmp_path):
    task = SampleTask.from_json(OLD_SAMPLE_TASK)
    task.out_dir = str(tmp_path)
    for t in task.traj_ids:
        (tmp_path / f"{t}.json").write_text("{}")
    # the model directory does not exist: a trajectory that ran would fail loading it
    assert sample_task(task) == [str(tmp_path / "t000004.json"), str(tmp_path / "t000005.json")]


def test_task_builders_take_seeds_and_paths_from_the_config_and_run_directory(tmp_path):
    from alal.al.rundir import seed_for
    from alal.al.tasks import sample_task_for, train_task_for

    cfg = alconfig.load(tiny_config(tmp_path))
    rd = RunDir(tmp_path / "run")
    sample = sample_task_for(cfg, rd, 1, ["t000004", "t000005"])
    assert sample.traj_ids == ["t000004", "t000005"] and sample.out_dir == str(rd.traj_work)
    assert [t.seed for t in sample.trajectories] == [seed_for(cfg["run.seed"], "trajectory", t) for t in sample.traj_ids]
    assert {t.model_dir for t in sample.trajectories} == {str(rd.model(1))}
    cold = train_task_for(cfg, rd, 1, 2, tmp_path / "d.extxyz", 3)
    assert cold.init_model is None and cold.threads == 3 and cold.model_dir == str(rd.model(1))
    assert len(cold.seeds) == cold.settings.n_members and cold.seeds != train_task_for(cfg, rd, 1, 1, "d", 3).seeds
    rd.model(0).mkdir(parents=True)
    (rd.model(0) / "alal_model.json").write_text("{}")
    warm = train_task_for(cfg, rd, 1, 2, tmp_path / "d.extxyz", 3)
    assert warm.init_model == str(rd.model(0)) and warm.seeds == cold.seeds
    if cfg["trainer.warm_start"] and cfg["trainer.max_epochs_warm_start"]:
        assert warm.settings.max_epochs == cfg["trainer.max_epochs_warm_start"]


def test_a_run_is_opened_new_and_resumed_with_its_config_changes_recorded(tmp_path):
    import pytest

    from alal.al.recovery import check_run_dir, open_run
    from alal.errors import AlalError

    cfg_path = tiny_config(tmp_path)
    cfg = alconfig.load(cfg_path)
    rd = RunDir(tmp_path / "run")
    with pytest.raises(AlalError, match="nothing to resume"):
        check_run_dir(rd, resume=True)
    check_run_dir(rd, resume=False)
    said = []
    manifest, store = open_run(rd, cfg, resume=False, config_path=cfg_path, echo=said.append)
    assert rd.exists() and (rd.path / "config.toml").read_text() == cfg_path.read_text() and not said
    assert store.owner() == {"run_id": manifest["run_id"], "run_dir": str(rd.path)}  # the database is claimed
    assert (rd.path / "driver.lock").is_file()  # the driver lock is taken (this process may take it again)
    with pytest.raises(AlalError, match="already holds a run"):
        check_run_dir(rd, resume=False)
    check_run_dir(rd, resume=True)
    changed = alconfig.from_dict({**alconfig.undotted(cfg.to_dict()), "loop": {**cfg.section("loop"), "max_labels": 7}})
    again, store = open_run(rd, changed, resume=True, config_path=None, echo=said.append)
    assert said == [f"config change applied on resume: loop.max_labels = 7 (was {cfg['loop.max_labels']!r})"]
    assert len(again["sessions"]) == len(manifest["sessions"]) + 1 and again["run_id"] == manifest["run_id"]
    rd.unlock()


# a labelling attempt's input.json as the loop wrote it before it was a dataclass (a dict dumped in one line)
OLD_LABEL_INPUT = ('{"hash": "3f2a9c", "attempt": 2, "settings": {"kind": "emt"}, "faults": {}, "want_stress": true, '
                   '"threads": 2, "numbers": [13, 13], "positions": [[0.0, 0.0, 0.0], [2.0, 2.0, 0.0]], '
                   '"cell": [[4.05, 0.0, 0.0], [0.0, 4.05, 0.0], [0.0, 0.0, 4.05]], "pbc": [true, true, true]}')


def test_a_label_input_in_the_old_format_loads_and_is_written_the_same(tmp_path):
    from alal.al.oracle import LabelTask, child_main, read_result, write_input

    task = LabelTask.from_json(OLD_LABEL_INPUT)
    assert (task.hash, task.attempt, task.settings, task.threads, task.want_stress) == ("3f2a9c", 2, {"kind": "emt"}, 2, True)
    assert task.to_json() == OLD_LABEL_INPUT  # same keys, same order: an old run's oracle reads new files too
    write_input(tmp_path / "input.json", task.atoms(), "3f2a9c", 2, {"kind": "emt"}, None, True, 2)
    assert (tmp_path / "input.json").read_text() == OLD_LABEL_INPUT
    assert read_task("label", tmp_path / "input.json") == task
    # keys an older file may lack get the defaults the oracle child always used
    bare = {k: v for k, v in json.loads(OLD_LABEL_INPUT).items() if k not in ("faults", "want_stress", "threads")}
    assert LabelTask.from_dict(bare) == LabelTask.from_dict({**bare, "faults": {}, "want_stress": True, "threads": 1})
    assert child_main(str(tmp_path / "input.json"), str(tmp_path / "result.json")) == 0
    res = read_result(tmp_path / "result.json")
    assert res.ok and (res.hash, res.attempt, res.settings) == ("3f2a9c", 2, {"kind": "emt"})
    assert task.lost("timeout", "killed", wall_s=3.0) == type(res)(hash="3f2a9c", attempt=2, outcome="timeout",
                                                                   reason="killed", wall_s=3.0, settings={"kind": "emt"})


def test_a_lost_labelling_task_leaves_a_lost_result_for_each_attempt_without_one(tmp_path):
    from alal.al.oracle import LabelTask, read_result
    from alal.al.recovery import record_lost_attempts

    items = []
    for k in range(2):
        (tmp_path / f"a{k}").mkdir()
        inp, res = tmp_path / f"a{k}" / "input.json", tmp_path / f"a{k}" / "result.json"
        inp.write_text(OLD_LABEL_INPUT.replace("3f2a9c", f"h{k}"))
        items.append((str(inp), str(res)))
    done = LabelTask.read(items[0][0]).lost("ok", "")
    Path(items[0][1]).write_text(done.to_json())
    record_lost_attempts(items, TimeoutError("worker gone"))
    assert read_result(Path(items[0][1])) == done  # a result already there is kept
    lost = read_result(Path(items[1][1]))
    assert (lost.hash, lost.attempt, lost.outcome, lost.settings) == ("h1", 2, "lost", {"kind": "emt"})
    assert lost.reason == "the labelling task was lost: TimeoutError: worker gone"


def test_a_labelling_result_is_recorded_once_and_a_failure_sets_the_status(tmp_path):
    from alal.al import oracle as orc
    from alal.al.recovery import record_generation, record_label

    store = Store(tmp_path / "ase.db")
    atoms = old_label_atoms()
    h, _ = store.add_structure(atoms, source="bootstrap", generation=-1)
    kw = dict(max_attempts=3, val_fraction=0.1, test_fraction=0.1)
    failed = orc.OracleResult(hash=h, attempt=1, outcome="scf", reason="no convergence", settings={"kind": "emt"})
    assert record_label(store, failed, **kw) == f"oracle: {h[:10]} attempt 1 scf (will retry): no convergence"
    assert record_label(store, failed, **kw) is None  # the same result seen again: nothing recorded twice
    assert store.structure(h).status == "pending" and len(store.attempts()) == 1
    ok = orc.compute(atoms, h, 2, {"kind": "emt"})
    assert record_label(store, ok, **kw) is None
    assert store.structure(h).status == "labelled" and store.count(kind="label") == 1 and len(store.attempts()) == 2
    report = {"n_labels": 1, "epochs": 3, "train_wall_s": 2.0,
              "test_errors": {"energy_rmse_meV_per_atom": 1.5, "force_rmse_eV_A": 0.05}}
    msg = record_generation(store, 0, 1, tmp_path / "gen-000", report)
    assert msg == ("trainer: generation 0 ready (1 labels, 3 epochs, 2 s); test errors: energy 1.5 meV/atom RMSE, "
                   "forces 0.050 eV/Å RMSE")
    assert record_generation(store, 0, 1, tmp_path / "gen-000", report) is None and store.latest_generation() == 0


def old_label_atoms():
    from alal.al.oracle import LabelTask

    return LabelTask.from_json(OLD_LABEL_INPUT).atoms()
