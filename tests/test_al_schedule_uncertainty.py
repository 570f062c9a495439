"""The temperature schedule (paper Eq. 2) and the ensemble uncertainty rho = sigma_E / sqrt(N)."""

import math

import numpy as np
import pytest

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


def test_a_start_grace_loosens_rho_only_before_its_end():
    from alal.al.sampler import SamplerSettings
    from alal.al.uncertainty import rho_threshold_at

    st = SamplerSettings(rho_threshold_eV=0.05, start_grace_ps=0.2, start_grace_rho_threshold_eV=0.15)
    assert rho_threshold_at(st, 0.0) == 0.15 and rho_threshold_at(st, 0.19) == 0.15
    assert rho_threshold_at(st, 0.2) == 0.05 and rho_threshold_at(st, 30.0) == 0.05
    assert uncertainty_stop(0.1, 0.0, 0.0, st, 0.0) is None  # in grace: 0.1 < 0.15
    reason, detail = uncertainty_stop(0.2, 0.0, 0.0, st, 0.0)
    assert reason == "uncertain" and "(start grace)" in detail
    assert uncertainty_stop(0.1, 0.0, 0.0, st, 0.2)[0] == "uncertain"  # after the grace: 0.1 > 0.05
    assert uncertainty_stop(0.1, 0.0, 0.0, st)[0] == "uncertain"  # no time given: the plain threshold
    assert rho_threshold_at(SamplerSettings(rho_threshold_eV=0.05), 0.0) == 0.05  # no grace: the paper's rule


def test_the_start_grace_defaults_to_the_configs_first_rung_and_is_validated():
    from alal.al import config as alconfig
    from alal.al.sampler import SamplerSettings

    cfg = alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.15, "rho_threshold_final_eV": 0.05, "start_grace_ps": 0.2},
                              "loop": {"tighten_median_ps": 5.0}})
    st = SamplerSettings.from_config(cfg)
    assert st.start_grace_ps == 0.2 and st.start_grace_rho_threshold_eV == 0.15
    assert SamplerSettings.from_config(alconfig.from_dict({})).start_grace_ps == 0.0  # off by default, the paper
    with pytest.raises(alconfig.ConfigError, match="only loosens"):
        alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.15, "start_grace_ps": 0.2, "start_grace_rho_threshold_eV": 0.1}})
    with pytest.raises(alconfig.ConfigError, match="whole trajectory would be in grace"):
        alconfig.from_dict({"sampler": {"t_max_ps": 1.0, "start_grace_ps": 1.0}, "loop": {"stop_median_ps": 1.0}})
    with pytest.raises(alconfig.ConfigError, match="needs sampler.rho_threshold_eV > 0"):
        alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.0, "force_spread_threshold_eV_A": 0.3, "start_grace_ps": 0.2}})
