"""The batched sampler: every trajectory in a batch is the trajectory run_trajectory runs for its spec."""

import dataclasses

import numpy as np
import pytest
import torch

from alal.al.batch_sampler import run_batch
from alal.al.builder import random_cell
from alal.al.sampler import SamplerSettings, TrajectoryResult, TrajectorySpec, run_trajectory
from alal.errors import AlalError

from test_al_sampler import SMALL, model_dir  # noqa: F401  (model_dir: the same small trained ensemble, a fixture)

torch.set_num_threads(1)  # one thread per test process (shared runners)
N_STEPS = 100
# float32 forces: a batched evaluation may round differently from a single one; over 100 steps that stays far
# below these (with the per-structure engine path the trajectories are bit-identical)
POS_ATOL_A = 1e-4
RTOL = 1e-4


def settings(**kw):
    base = dict(timestep_fs=2.0, t_max_ps=N_STEPS * 2e-3, check_every_steps=10, rho_threshold_eV=1e9)
    base.update(kw)
    return SamplerSettings(**base)


def specs(model_dir, seeds):
    return [TrajectorySpec(f"t{s:06d}", seed=s, generation=0, model_dir=model_dir) for s in seeds]


def batched(model_dir, spec_list, st, batch_size):
    return {r.traj_id: r for r in run_batch(spec_list, st, SMALL, batch_size=batch_size, model_dir=model_dir)}


def alone(model_dir, spec, st):
    (r,) = run_batch([spec], st, SMALL, batch_size=1, model_dir=model_dir)
    return r


def assert_same(a: TrajectoryResult, b: TrajectoryResult):
    """Every field equal (floats to float32 round-off), except the wall time."""
    for f in dataclasses.fields(TrajectoryResult):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "wall_s":
            continue
        if f.name in ("candidate", "final"):
            assert (x is None) == (y is None), f.name
            if x is not None:
                assert np.array_equal(x.numbers, y.numbers) and np.allclose(x.cell.array, y.cell.array)
                assert np.allclose(x.positions, y.positions, rtol=0, atol=POS_ATOL_A), f.name
        elif f.name == "trace":
            assert x.keys() == y.keys()
            for key in x:
                assert len(x[key]) == len(y[key]), key
                assert np.allclose(x[key], y[key], rtol=RTOL, atol=1e-8, equal_nan=True), key
        elif isinstance(x, float):
            assert np.isclose(x, y, rtol=RTOL, atol=1e-8), f.name
        else:
            assert x == y, f.name


@pytest.fixture(scope="module")
def threshold(model_dir):
    """A rho threshold (read off free runs of seeds 0-7) that some trajectories cross mid-run and some never, and
    that stops seeds 0-2 (the first batch of the refill test) at different steps. Read off, not fixed: the
    fixture model changes whenever the trainer does."""
    free = batched(model_dir, specs(model_dir, range(8)), settings(), batch_size=8)
    traces = [free[s.traj_id].trace["rho_eV"] for s in specs(model_dir, range(8))]
    values = np.unique(np.concatenate(traces))

    def stop_steps(thr):
        return [10 * int(np.argmax(t > thr)) if np.any(t > thr) else N_STEPS for t in traces]

    good = []
    for thr in 0.5 * (values[:-1] + values[1:]):
        steps = stop_steps(thr)
        if N_STEPS in steps and any(0 < s < N_STEPS for s in steps) and len(set(steps[:3])) > 1:
            good.append(thr)
    assert good, "no threshold separates these trajectories; pick other seeds"
    return good[len(good) // 2]


def test_a_trajectory_in_a_batch_equals_it_alone_and_run_trajectory(model_dir):
    st = settings()
    group = batched(model_dir, specs(model_dir, range(8)), st, batch_size=8)
    assert len(group) == 8
    for spec in specs(model_dir, range(8)):
        r = group[spec.traj_id]
        assert r.stop_reason == "t_max" and r.steps == N_STEPS
        assert_same(r, alone(model_dir, spec, st))
        assert_same(r, run_trajectory(spec, st, SMALL))
    # the trajectories really are different ones (a batch that ran one trajectory 8 times would pass above)
    assert len({round(float(r.final.positions[0, 0]), 6) for r in group.values()}) == 8


def test_uncertain_trajectories_leave_the_batch_at_the_step_they_stop_alone(model_dir, threshold):
    st = settings(rho_threshold_eV=threshold)
    group = batched(model_dir, specs(model_dir, range(8)), st, batch_size=8)
    reasons = [r.stop_reason for r in group.values()]
    assert "t_max" in reasons and "uncertain" in reasons
    assert any(0 < r.steps < N_STEPS for r in group.values() if r.stop_reason == "uncertain")
    for spec in specs(model_dir, range(8)):
        r = group[spec.traj_id]
        ref = run_trajectory(spec, st, SMALL)
        assert (r.stop_reason, r.steps) == (ref.stop_reason, ref.steps)
        assert_same(r, ref)
        if r.stop_reason == "uncertain":
            assert r.trace["rho_eV"][-1] > threshold and np.all(r.trace["rho_eV"][:-1] <= threshold)
            frame = r.final.copy()
            frame.wrap()
            assert np.allclose(r.candidate.positions, frame.positions, atol=1e-9)


def test_the_batch_refills_from_the_spec_iterator(model_dir, threshold):
    st = settings(rho_threshold_eV=threshold)
    spec_list = specs(model_dir, range(7))
    order = []

    def feed():  # a generator: the sampler may only take a spec when a slot is free
        for spec in spec_list:
            order.append(spec.traj_id)
            yield spec

    finished, results, finished_when_taken = [], {}, {}
    for r in run_batch(feed(), st, SMALL, batch_size=3, model_dir=model_dir):
        assert len(order) - len(finished) <= 3  # never more than 3 running (this one counts until now)
        for taken in order:
            finished_when_taken.setdefault(taken, len(finished))
        finished.append(r.traj_id)
        results[r.traj_id] = r
    assert sorted(results) == sorted(s.traj_id for s in spec_list)
    # the 4th spec was taken when the first slot came free, while the other two of the first batch still ran
    assert finished_when_taken["t000003"] < 3
    for spec in spec_list:
        assert_same(results[spec.traj_id], alone(model_dir, spec, st))


@pytest.mark.parametrize("kw, reason, detail", [
    (dict(force_spread_threshold_eV_A=1e-3), "uncertain_forces", "max force spread"),
    (dict(blowup_max_force_eV_A=0.5, label_blowups=True), "blowup", "|F| = "),
    (dict(blowup_min_distance_A=2.2), "blowup", "nearest-neighbour distance"),  # the builder keeps only 1.8 Å
    (dict(t_max_ps=0.046, check_every_steps=5), "t_max", ""),  # 23 steps: the last check is off the 5-step grid
    (dict(time_limit_s=1e-9), "walltime", "sampler.time_limit_s"),
    # 100 000 K at 8 fs: the engine refuses overlapping atoms between checks (ASE's step count stays one lower)
    (dict(timestep_fs=8.0, t_max_ps=0.8, T_start_K=(1e5, 1e5), T_end_K=(1e5, 1e5), T_mod_K=(0.0, 0.0),
          blowup_min_distance_A=0.01, blowup_max_force_eV_A=1e9), "blowup", "BadStructure: two atoms are"),
])
def test_results_match_run_trajectory_for_every_stop_reason(model_dir, kw, reason, detail):
    st = settings(**kw)
    spec_list = specs(model_dir, [11, 12, 13])
    group = batched(model_dir, spec_list, st, batch_size=2)
    for spec in spec_list:
        ref = run_trajectory(spec, st, SMALL)
        assert ref.stop_reason == reason and ref.detail.startswith(detail)
        assert_same(group[spec.traj_id], ref)
    if st.label_blowups:
        assert all(r.candidate is not None for r in group.values())  # the last frame checked
    if reason == "t_max":
        assert all(r.steps == 23 and len(r.trace["t_ps"]) == 6 for r in group.values())


def test_a_spec_for_another_model_is_refused(model_dir, tmp_path):
    spec = TrajectorySpec("t0", seed=0, generation=0, model_dir=str(tmp_path))
    with pytest.raises(AlalError, match="is for model"):
        list(run_batch([spec], settings(), SMALL, batch_size=2, model_dir=model_dir))


def test_nearest_neighbour_distance_equals_ase_below_the_cutoff():
    from alal.al.batch_sampler import nearest_neighbour_distance
    from alal.potentials.inputs import min_pair_distance

    rng = np.random.default_rng(0)
    for seed in range(20):
        a = random_cell(seed, SMALL)
        a.positions += rng.normal(0.0, 0.4, a.positions.shape)  # some pairs closer than 1.5 Å, some across the cell
        a.positions[1] = a.positions[0] + a.cell[0] - [0.7 + 0.05 * seed, 0.0, 0.0]  # a pair across the boundary
        for cutoff in (1.0, 1.5, 2.9):
            ase_d = min_pair_distance(a, cutoff=cutoff)
            ours = nearest_neighbour_distance(a, cutoff=cutoff)
            assert (ours < cutoff) == (ase_d < cutoff)
            if ase_d < cutoff:
                assert np.isclose(ours, ase_d, rtol=0, atol=1e-12)
    sheared = random_cell(1, SMALL)
    sheared.cell[1, 0] = 2.0  # not orthorhombic: ASE's neighbour list answers
    assert nearest_neighbour_distance(sheared, 2.5) == min_pair_distance(sheared, 2.5)


def test_an_engine_without_evaluate_batch_runs_one_engine_per_trajectory(model_dir):
    from alal.potentials import load

    st = settings(t_max_ps=30 * 2e-3)
    spec_list = specs(model_dir, [21, 22, 23])
    group = {r.traj_id: r for r in run_batch(spec_list, st, SMALL, batch_size=2, model_dir=model_dir,
                                             engine="torchani")}
    assert {r.engine for r in group.values()} == {"torchani"}
    for spec in spec_list:
        ref = run_trajectory(spec, st, SMALL, calc=load(model_dir, dtype="float32", engine="torchani"))
        assert_same(group[spec.traj_id], ref)


def test_the_loops_budget_deadline_ends_running_trajectories_as_censored(model_dir):
    """A trajectory still running when the loop's wall-time budget ends stops as "walltime" at its next check,
    with its end frame (censored, not an uncertain frame), batched and alone alike."""
    import time

    from alal.al.sampler import run_trajectory

    st = settings(deadline_unix=time.time() - 1.0)
    (spec,) = specs(model_dir, [5])
    r = alone(model_dir, spec, st)
    assert r.stop_reason == "walltime" and "loop.max_wall_h" in r.detail
    assert r.candidate is None and r.final is not None and r.steps <= st.check_every_steps
    assert run_trajectory(spec, st, SMALL).stop_reason == "walltime"  # the one-at-a-time sampler too
    assert alone(model_dir, spec, settings()).stop_reason == "t_max"  # no deadline: runs to t_max


def test_a_lower_threshold_in_the_control_file_reaches_running_trajectories(model_dir, threshold, tmp_path, monkeypatch):
    """A threshold ladder's new rung, written by the loop to the run's control file while a batch runs, holds every
    trajectory to it from the next check step on. The results record the threshold at the start and at the stop;
    a higher threshold, or an unreadable file, is ignored."""
    import json

    from alal.al import batch_sampler
    from alal.al.batch_sampler import BatchSampler

    monkeypatch.setattr(batch_sampler, "CONTROL_POLL_S", 0.0)  # read at every check step
    control = tmp_path / "sampler_control.json"
    spec_list = specs(model_dir, range(8))
    free = batched(model_dir, spec_list, settings(), batch_size=8)  # no stop: the rho trace at every check

    def run_with_rung_written_at_step_10(content: str) -> dict:
        if control.exists():
            control.unlink()

        def observer(spec, t_ps, T_target_K, atoms):
            if not control.exists() and t_ps > 0:  # the first check after the start (step 10)
                control.write_text(content)

        sampler = BatchSampler(settings(control_file=str(control)), SMALL, model_dir=model_dir, observer=observer)
        return {r.traj_id: r for r in sampler.run(spec_list, 8)}

    tightened = run_with_rung_written_at_step_10(json.dumps({"rho_threshold_eV": threshold}))
    n_stopped = 0
    for s in spec_list:
        trace = free[s.traj_id].trace["rho_eV"]  # index i: check step 10 i
        later = [i for i in range(2, len(trace)) if trace[i] > threshold]  # the rung applies from step 20
        r = tightened[s.traj_id]
        assert r.steps == (10 * later[0] if later else N_STEPS), s.traj_id
        assert r.stop_reason == ("uncertain" if later else "t_max")
        assert r.rho_threshold_start_eV == 1e9 and r.rho_threshold_at_stop_eV == threshold
        n_stopped += bool(later)
    assert 0 < n_stopped < len(spec_list)
    for content in (json.dumps({"rho_threshold_eV": 1e12}), "{not json"):  # looser, or garbled: ignored
        ignored = run_with_rung_written_at_step_10(content)
        for s in spec_list:
            assert ignored[s.traj_id].steps == N_STEPS and ignored[s.traj_id].rho_threshold_at_stop_eV == 1e9


def test_a_start_grace_holds_the_loose_threshold_until_it_ends_batched_and_alone(model_dir):
    """During start_grace_ps the grace's threshold applies; from the first check at or after it, the run's own.
    Trajectories that a tight threshold stops at t = 0 run on through the grace, batched as alone."""
    spec_list = specs(model_dir, range(8))
    free = batched(model_dir, spec_list, settings(), batch_size=8)
    rho0 = sorted(free[s.traj_id].trace["rho_eV"][0] for s in spec_list)
    thr = 0.5 * (rho0[3] + rho0[4])  # half of them start above it
    grace_ps = 0.05  # checks at steps 0, 10, 20 (t = 0, 0.02, 0.04 ps) are in grace; step 30 is not
    plain = batched(model_dir, spec_list, settings(rho_threshold_eV=thr), batch_size=8)
    st = settings(rho_threshold_eV=thr, start_grace_ps=grace_ps, start_grace_rho_threshold_eV=1e9)
    graced = batched(model_dir, spec_list, st, batch_size=8)
    assert sum(plain[s.traj_id].steps == 0 for s in spec_list) == 4
    for s in spec_list:
        trace = free[s.traj_id].trace["rho_eV"]  # index i: check step 10 i
        later = [i for i in range(3, len(trace)) if trace[i] > thr]
        r = graced[s.traj_id]
        assert r.steps == (10 * later[0] if later else N_STEPS), s.traj_id
        assert r.stop_reason == ("uncertain" if later else "t_max")
        assert_same(r, run_trajectory(s, st, SMALL))
