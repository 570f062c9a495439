"""The loop end to end on a real oracle (EMT) with the Parsl local executor: a tiny run, its database,
status, exports, resume and bad input."""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alal.al import config as alconfig
from alal.al.loop import Loop
from alal.data import Store, structure_hash
from alal.errors import AlalError

ROOT = Path(__file__).resolve().parents[1]

TINY = {
    "run": {"name": "tiny", "seed": 11},
    "builder": {"side_A": [6.0, 6.8], "density_g_cm3": [2.3, 3.0]},
    "oracle": {"kind": "emt", "time_limit_s": 60.0},
    "model": {"n_members": 4},
    "trainer": {"max_epochs": 12, "patience_epochs": 6, "batch_size": 4, "val_fraction": 0.2, "test_fraction": 0.2,
                "time_limit_s": 600.0},
    "sampler": {"timestep_fs": 2.0, "t_max_ps": 0.2, "check_every_steps": 10, "rho_threshold_eV": 0.02,
                "trajectories_per_task": 2, "time_limit_s": 120.0},
    "loop": {"bootstrap_structures": 12, "retrain_every_labels": 4, "stop_window": 4, "stop_median_ps": 0.2,
             "max_generations": 2},
}


def merged(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merged(out.get(k, {}), v) if isinstance(v, dict) else v
    return out


def tiny_config(tmp_path: Path, overrides: dict | None = None, name: str = "tiny.toml") -> Path:
    """A tiny EMT run (12-20 atom cells, 12 bootstrap labels, 2 generations) with ``overrides`` merged in."""
    import tomli_w

    p = tmp_path / name
    p.write_text(tomli_w.dumps(merged(TINY, overrides or {})))
    return p


def alal(*args, timeout=600):
    env = dict(os.environ, TORCHANI_NO_WARN_EXTENSIONS="1")
    return subprocess.run([sys.executable, "-m", "alal.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def assert_every_label_once(db: Path, *, killed: bool = False) -> Store:
    """Every label once, matching its structure and its "ok" attempt. ``killed``: the driver was just SIGKILLed,
    possibly between writing a successful attempt and its label (two rows); such a structure is still pending
    with the attempt's count not yet set, and the resumed driver records the label from the result file on disk
    (the final, strict check of the kill test sees it done)."""
    s = Store(db)
    labels = s.labels()
    hashes = [r.hash for r in labels]
    assert len(hashes) == len(set(hashes)), "a structure was labelled twice"
    labelled = s.structures(status="labelled")
    assert {r.hash for r in labelled} == set(hashes), "labels and labelled structures disagree"
    for r in labels:
        assert structure_hash(r.toatoms()) == r.hash
        assert r.get("split") in ("train", "val", "test")
    ok = [a for a in s.attempts() if a.outcome == "ok"]
    assert {r.hash for r in labels} <= {a.hash for a in ok}, "a label without its ok attempt"
    unlabelled = [a for a in ok if a.hash not in set(hashes)]
    if killed:
        for a in unlabelled:  # cut between the attempt row and the label row: still pending, repaired on resume
            st = s.structure(a.hash)
            assert st.status == "pending" and int(st.get("attempts", 0)) < a.attempt, (a.hash, st.status)
        assert len(unlabelled) <= 1, "more than one recording cut short by one kill"
    else:
        assert not unlabelled, "an ok attempt without its label"
    assert len(ok) == len(labels) + len(unlabelled)
    return s


def test_tiny_loop_end_to_end(tmp_path):
    cfg_path = tiny_config(tmp_path)
    run = tmp_path / "run"
    r = alal("train", str(cfg_path), "--run-dir", str(run))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "generation 0 ready" in r.stdout and "generation 1 ready" in r.stdout
    s = assert_every_label_once(run / "ase.db")
    # bootstrap labelled, generation 0 and 1 trained, trajectories recorded and stamped
    assert s.count(kind="label", source="bootstrap") == 12
    assert s.latest_generation() == 1
    trajs = s.trajectories()
    assert trajs and all(t.get("generation") in (0, 1) for t in trajs)
    for t in trajs:
        assert t.get("stop_reason") and t.get("seed") is not None and "trace" in t.data
        assert t.get("T_start_K") is not None and t.get("t0_ps") is not None
        if t.get("candidate_hash"):
            st = s.structure(t.candidate_hash)
            assert st is not None and int(st.generation) == int(t.generation)  # stamped with its model
    for g in (0, 1):
        model = run / "models" / f"gen-{g:03d}"
        assert (model / "alal_model.json").is_file() and (model / "training_report.json").is_file()
    from alal.potentials import load

    calc = load(str(run / "models" / "gen-001"), dtype="float32")
    a = s.labels()[0].toatoms()
    a.calc = calc
    assert np.isfinite(a.get_potential_energy()) and calc.model.n_members == 4
    # manifest and status
    man = (run / "manifest.json").read_text()
    assert '"versions"' in man and '"seeds"' in man and '"config"' in man
    st = alal("status", str(run))
    assert st.returncode == 0 and "generation      1" in st.stdout and "survival" in st.stdout
    assert (run / "report.md").is_file()
    # exports
    ex = alal("status", str(run), "--export", str(tmp_path / "l.extxyz"), "--export", str(tmp_path / "l.h5"))
    assert ex.returncode == 0, ex.stderr
    from ase.io import read

    frames = read(str(tmp_path / "l.extxyz"), ":")
    assert len(frames) == len(s.labels()) and frames[0].get_forces().shape[1] == 3
    from torchani.datasets import ANIDataset

    assert ANIDataset(str(tmp_path / "l.h5")).num_conformers == len(frames)
    # a second start in the same place is refused (resuming after kills: see test_al_faults.py)
    again = alal("train", str(cfg_path), "--run-dir", str(run))
    assert again.returncode == 2 and "--resume" in again.stderr
    # a changed config on resume: refused when it would make the labels inconsistent ...
    refused = tiny_config(tmp_path, {"builder": {"side_A": [6.0, 7.0]}}, "b.toml")
    r = alal("train", str(refused), "--resume", str(run))
    assert r.returncode == 2 and "builder.side_A" in r.stderr and r.stderr.strip().count("\n") == 0
    # ... otherwise applied and recorded in the manifest (this run is at its generation budget: it stops at once)
    applied = tiny_config(tmp_path, {"sampler": {"rho_threshold_eV": 0.03}}, "c.toml")
    r = alal("train", str(applied), "--resume", str(run))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "config change applied on resume: sampler.rho_threshold_eV = 0.03" in r.stdout
    import json

    man = json.loads((run / "manifest.json").read_text())
    assert man["config"]["sampler"]["rho_threshold_eV"] == 0.03 and len(man["sessions"]) == 2
    assert man["config_changes"][-1]["changes"][0]["key"] == "sampler.rho_threshold_eV"
    assert_every_label_once(run / "ase.db")


def test_custom_builder_with_foreign_species_is_refused_before_anything_is_written(tmp_path):
    from ase.build import bulk

    cfg = alconfig.load(tiny_config(tmp_path))

    def copper(seed):
        return bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)

    with pytest.raises(AlalError, match="Cu"):
        Loop(cfg, tmp_path / "run", builder=copper).prepare()
    assert not (tmp_path / "run").exists()


def test_missing_gpaw_setup_and_unwritable_run_dir_are_one_line_errors(tmp_path):
    cfg = tiny_config(tmp_path, {"oracle": {"kind": "gpaw", "gpaw": {"xc": "PBEsol"}}})
    r = alal("train", str(cfg), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2 and "Al.PBEsol" in r.stderr and r.stderr.strip().count("\n") == 0
    assert not (tmp_path / "run").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = alal("train", str(tiny_config(tmp_path, {}, "ok.toml")), "--run-dir", str(blocker / "run"))
    assert r.returncode == 2 and "not a folder" in r.stderr and r.stderr.strip().count("\n") == 0


def test_failures_above_the_allowed_fraction_stop_the_run_cleanly(tmp_path):
    cfg = tiny_config(tmp_path, {"oracle": {"faults": {"rate": 1.0, "kinds": ["exception"]}},
                                 "loop": {"min_attempts_for_failure_stop": 5}})
    run = tmp_path / "run"
    r = alal("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 1, r.stdout[-2000:] + r.stderr[-2000:]
    assert "labelling attempts failed" in r.stdout and "Traceback" not in r.stderr
    s = Store(run / "ase.db")
    bad = s.attempts()
    assert bad and all(a.outcome == "crash" and "injected fault" in a.reason for a in bad)
    assert s.count(kind="structure", status="quarantined") == len(bad)


def test_a_failing_training_is_retried_then_the_run_stops_with_a_message(tmp_path):
    cfg = tiny_config(tmp_path, {"trainer": {"time_limit_s": 0.5, "max_attempts": 2}})
    run = tmp_path / "run"
    r = alal("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 1
    assert "training generation 0 failed 2 times" in r.stdout
    gens = Store(run / "ase.db").generations()
    assert [g.status for g in gens] == ["failed", "failed"] and all("timed out" in g.reason for g in gens)


def test_the_threshold_ladder_moves_down_a_rung_when_its_window_survives_and_a_resume_keeps_the_rung(tmp_path):
    """The loop's side of the ladder on a real run directory and database: trajectories recorded at the first rung
    that survive the step median move new sampling tasks to the next rung; convergence waits for the last rung;
    a new driver on the same run starts at the rung the run reached."""
    from alal.al.tasks import sample_task_for

    over = {"sampler": {"rho_threshold_eV": 0.2, "rho_threshold_final_eV": 0.1, "rho_tighten_factor": 0.5},
            "loop": {"stop_window": 4, "stop_median_ps": 0.2, "tighten_median_ps": 0.1}}
    cfg = alconfig.load(tiny_config(tmp_path, over))
    loop = Loop(cfg, tmp_path / "run", echo=lambda m: None)
    loop.prepare()
    try:
        assert loop.rho_rung == 0.2 and loop.ladder.rungs() == [0.2, 0.1]
        from alal.al.batch_sampler import read_control

        assert read_control(str(loop.sampler_control_path))["rho_threshold_eV"] == 0.2  # written when the loop starts

        def record(first: int, n: int, t_ps: float, rho: float) -> None:
            for k in range(first, first + n):
                loop.store.add_trajectory(f"t{k:06d}", None, {"generation": 0, "stop_reason": "t_max", "t_reached_ps": t_ps,
                                                              "rho_threshold_eV": rho}, {})

        record(0, 3, 0.2, 0.2)
        loop.check_stop()
        assert loop.rho_rung == 0.2 and loop.stopping is None  # 3 of a window of 4
        record(3, 1, 0.2, 0.2)
        loop.check_stop()
        assert loop.rho_rung == 0.1 and loop.stopping is None  # stepped down, not converged: not the last rung
        # running sampling tasks learn the new rung from the control file
        from alal.al.batch_sampler import read_control

        assert read_control(str(loop.sampler_control_path))["rho_threshold_eV"] == 0.1
        task = sample_task_for(cfg, loop.rd, 0, ["t000004"], rho_threshold_eV=loop.rho_rung,
                               control_file=str(loop.sampler_control_path))
        assert task.sampler.rho_threshold_eV == 0.1 and task.sampler.control_file == str(loop.sampler_control_path)
        record(4, 4, 0.2, 0.1)
        loop.check_stop()
        assert loop.stopping == "converged"  # the last rung's window reached stop_median_ps
    finally:
        loop.rd.unlock()
    again = Loop(cfg, tmp_path / "run", resume=True, echo=lambda m: None)
    again.prepare()
    try:
        assert again.rho_rung == 0.1
    finally:
        again.rd.unlock()


def test_run_ids_never_read_as_numbers_in_the_database(tmp_path):
    """ASE's database refuses a string that reads as a number; a bare hex id like "4768663127e74049" did once."""
    from ase.db.core import str_represents

    from alal.al.rundir import new_run_id

    ids = {new_run_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert not any(str_represents(i, t) for i in ids for t in (bool, int, float))
    s = Store(tmp_path / "x.db")
    s.claim(next(iter(ids)), tmp_path)
    assert s.owner()["run_id"] in ids
