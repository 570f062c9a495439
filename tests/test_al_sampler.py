"""The sampler: Langevin MD under Eq. 2 that stops exactly at the first check where rho exceeds the threshold."""

import numpy as np
import pytest
import torch
from ase.calculators.emt import EMT

from alal.al.builder import BuilderSettings, random_cell
from alal.al.descriptors import FeatureComputer
from alal.al.sampler import SamplerSettings, TrajectorySpec, run_trajectory, survival_curve
from alal.al.trainer import Sample, TrainSettings, train
from alal.data import structure_hash
from alal.potentials.ani_model import AEVParameters, save_model_dir

torch.set_num_threads(1)  # one thread per test process (shared runners)
SMALL = BuilderSettings(side_A=(6.0, 6.8), density_g_cm3=(2.4, 2.9))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small real ensemble trained on EMT labels (4 members, a few epochs)."""
    torch.manual_seed(0)
    fc = FeatureComputer(AEVParameters.ani_al())
    data = []
    for s in range(300, 316):
        a = random_cell(s, SMALL)
        a.calc = EMT()
        data.append(Sample(fc(a), a.get_potential_energy(), a.get_forces()))
    model, _ = train(data[:12], data[12:], TrainSettings(n_members=4, max_epochs=10, batch_size=4),
                     aev=AEVParameters.ani_al(), element="Al", seeds=[1, 2, 3, 4])
    return str(save_model_dir(model, tmp_path_factory.mktemp("model") / "gen-000"))


def settings(**kw):
    base = dict(timestep_fs=2.0, t_max_ps=0.3, check_every_steps=5, rho_threshold_eV=1e9, dtype="float64")
    base.update(kw)
    return SamplerSettings(**base)


def test_stops_exactly_when_the_threshold_is_crossed(model_dir):
    torch.set_num_threads(1)
    spec = TrajectorySpec("t000000", seed=42, generation=0, model_dir=str(model_dir))
    free = run_trajectory(spec, settings(), SMALL)
    assert free.stop_reason in ("t_max", "blowup")
    rho = free.trace["rho_eV"]
    assert len(rho) >= 6
    # the first check (after the start) that sets a new maximum: put the threshold just below it
    k = next(i for i in range(2, len(rho)) if rho[i] > rho[:i].max())
    threshold = 0.5 * (rho[:k].max() + rho[k])
    stopped = run_trajectory(spec, settings(rho_threshold_eV=threshold), SMALL)
    assert stopped.stop_reason == "uncertain"
    assert len(stopped.trace["rho_eV"]) == k + 1  # stopped at check k, not one later
    assert np.allclose(stopped.trace["rho_eV"], rho[: k + 1])  # same trajectory up to there (seeded)
    assert np.all(stopped.trace["rho_eV"][:-1] <= threshold) and stopped.trace["rho_eV"][-1] > threshold
    assert stopped.steps == k * 5 and np.isclose(stopped.t_reached_ps, k * 5 * 2e-3)
    # the queued frame is the frame of that check
    frame = stopped.final.copy()
    frame.wrap()
    assert structure_hash(stopped.candidate) == structure_hash(frame)
    # and the trace records what the issue asks for
    for key in ("t_ps", "rho_eV", "fspread_mean_eV_A", "fspread_max_eV_A", "T_target_K", "T_K"):
        assert len(stopped.trace[key]) == k + 1
    assert np.all(stopped.trace["fspread_max_eV_A"] >= stopped.trace["fspread_mean_eV_A"])
    assert set(stopped.schedule) == {"T_start_K", "T_end_K", "T_mod_K", "t0_ps", "t_max_ps"}


def test_temperature_follows_the_schedule(model_dir):
    spec = TrajectorySpec("t000001", seed=7, generation=0, model_dir=str(model_dir))
    r = run_trajectory(spec, settings(t_max_ps=0.1), SMALL)
    from alal.al.schedule import Schedule

    s = Schedule(**r.schedule)
    assert np.allclose(r.trace["T_target_K"], [s.temperature_K(t) for t in r.trace["t_ps"]])
    assert 10 <= s.T_start_K <= 1000 and 10 <= s.T_end_K <= 600 and 0 <= s.T_mod_K <= 2000 and 10 <= s.t0_ps <= 50


def test_blowup_ends_the_trajectory_and_is_recorded(model_dir):
    spec = TrajectorySpec("t000002", seed=3, generation=0, model_dir=str(model_dir))
    a = random_cell(3, SMALL)
    a.positions[1] = a.positions[0] + [1.2, 0.0, 0.0]  # two atoms 1.2 Å apart from the start
    r = run_trajectory(spec, settings(), SMALL, start_atoms=a)
    assert r.stop_reason == "blowup" and "nearest-neighbour distance" in r.detail
    assert r.candidate is None  # not labelled unless label_blowups


def test_kaplan_meier_survival():
    # 4 trajectories: events at 1 and 3 ps, two censored at t_max = 5 ps
    s = survival_curve([1.0, 3.0, 5.0, 5.0], [True, True, False, False], [0.0, 1.0, 2.0, 3.0, 5.0])
    assert np.allclose(s, [1.0, 0.75, 0.75, 0.5, 0.5])
