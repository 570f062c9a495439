"""The temperature schedule (paper Eq. 2) and the ensemble uncertainty rho = sigma_E / sqrt(N)."""

import math

import numpy as np

from alal.al.schedule import Schedule
from alal.al.uncertainty import force_spread, rho, uncertainty_stop


def test_schedule_matches_eq2():
    s = Schedule(T_start_K=800.0, T_end_K=100.0, T_mod_K=1500.0, t0_ps=20.0, t_max_ps=250.0)
    for t in (0.0, 3.7, 10.0, 20.0, 125.0, 250.0):
        expected = 800.0 + (t / 250.0) * (100.0 - 800.0) + 1500.0 * math.sin(math.pi * t / 20.0) ** 2
        assert math.isclose(s.temperature_K(t), expected, rel_tol=1e-12)
    assert s.temperature_K(0.0) == 800.0
    assert math.isclose(s.temperature_K(10.0), 800.0 - 700.0 * 10 / 250 + 1500.0)  # peak of the modulation
    assert math.isclose(s.temperature_K(250.0), 100.0 + 1500.0)  # 250/20 = 12.5: sin²(12.5π) = 1


def test_schedule_end_point_explicit():
    s = Schedule(T_start_K=500.0, T_end_K=300.0, T_mod_K=1000.0, t0_ps=25.0, t_max_ps=250.0)
    assert math.isclose(s.temperature_K(250.0), 300.0 + 1000.0 * math.sin(math.pi * 10.0) ** 2, abs_tol=1e-9)


def test_schedule_draws_within_the_paper_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = Schedule.draw(rng, T_start_K=(10, 1000), T_end_K=(10, 600), T_mod_K=(0, 2000), t0_ps=(10, 50), t_max_ps=250)
        assert 10 <= s.T_start_K <= 1000 and 10 <= s.T_end_K <= 600
        assert 0 <= s.T_mod_K <= 2000 and 10 <= s.t0_ps <= 50 and s.t_max_ps == 250


def test_rho_zero_for_identical_members_and_scaling():
    assert rho([-100.0] * 8, 50) == 0.0
    e = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 0.2, -0.2, 0.0])
    r1 = rho(e, 16)
    assert math.isclose(r1, np.std(e) / 4.0)
    assert math.isclose(rho(3 * e + 7.0, 16), 3 * r1)  # linear in the spread, blind to a common shift
    assert math.isclose(rho(e, 64), r1 / 2)  # 1/sqrt(N)


def test_force_spread():
    f = np.random.default_rng(1).normal(size=(8, 5, 3))
    same = np.repeat(f[:1], 8, axis=0)
    assert np.allclose(force_spread(same), (0.0, 0.0), atol=1e-12)
    mean, mx = force_spread(f)
    per_atom = np.linalg.norm(f.std(axis=0), axis=1)
    assert math.isclose(mean, per_atom.mean()) and math.isclose(mx, per_atom.max())


def test_uncertainty_stop_rule():
    from alal.al.sampler import SamplerSettings

    paper = SamplerSettings(rho_threshold_eV=0.01)
    assert uncertainty_stop(0.009, 5.0, 9.0, paper) is None  # force spread off: only ρ counts
    assert uncertainty_stop(0.011, 0.0, 0.0, paper)[0] == "uncertain"
    by_max = SamplerSettings(rho_threshold_eV=0.0, force_spread_threshold_eV_A=0.5)
    assert uncertainty_stop(99.0, 0.1, 0.4, by_max) is None  # ρ off
    assert uncertainty_stop(0.0, 0.1, 0.6, by_max)[0] == "uncertain_forces"
    by_mean = SamplerSettings(rho_threshold_eV=0.0, force_spread_threshold_eV_A=0.5, force_spread_statistic="mean")
    assert uncertainty_stop(0.0, 0.1, 0.6, by_mean) is None
    reason, detail = uncertainty_stop(0.0, 0.7, 0.9, by_mean)
    assert reason == "uncertain_forces" and "mean force spread 0.7" in detail
    both = SamplerSettings(rho_threshold_eV=0.05, force_spread_threshold_eV_A=0.5)
    assert uncertainty_stop(0.06, 0.0, 0.6, both)[0] == "uncertain"  # ρ is checked first
