"""The stop rule on its own: convergence window, failures, budgets and censored times."""

import math

from alal.al import config as alconfig
from alal.al.stopping import Counters, StopRule, finished, times_ps

RULE = StopRule(window=4, median_ps=10.0, max_labels=100, max_generations=5, max_wall_h=2.0,
                max_failure_fraction=0.25, min_attempts_for_failure_stop=20)


def counters(**kw) -> Counters:
    base = dict(n_labels=10, generation=1, wall_s=60.0, n_attempts=10, n_failed_attempts=0)
    return Counters(**{**base, **kw})


def test_no_trajectories_yet_has_no_median_and_continues():
    med, n = RULE.window_median([])
    assert math.isnan(med) and n == 0
    assert not RULE.decide([], counters()).stop


def test_a_window_that_is_not_full_never_converges():
    assert RULE.window_median([50.0, 50.0, 50.0]) == (50.0, 3)
    d = RULE.decide([50.0, 50.0, 50.0], counters())
    assert d.status == "continue" and not d.stop and d.message == ""


def test_median_of_the_last_window_at_or_above_the_threshold_converges():
    times = [1.0, 1.0, 1.0, 8.0, 10.0, 12.0, 30.0]  # the last 4: median 11
    assert RULE.window_median(times) == (11.0, 4)
    d = RULE.decide(times, counters())
    assert d.status == "converged" and d.stop
    assert "last 4 trajectories (up to trajectory 7) is 11 ps >= loop.stop_median_ps = 10 ps" in d.message
    assert RULE.decide([2.0, 10.0, 10.0, 12.0], counters()).status == "converged"  # median exactly 10


def test_median_of_the_last_window_below_the_threshold_continues():
    assert RULE.decide([2.0, 9.0, 10.0, 12.0], counters()).status == "continue"  # median 9.5
    times = [100.0, 100.0, 100.0, 100.0, 2.0, 3.0, 50.0, 4.0]  # long ones are old; the last 4: median 3.5
    assert RULE.window_median(times) == (3.5, 4)
    assert RULE.decide(times, counters()).status == "continue"


def test_censored_times_count_at_the_time_they_reached():
    # trajectories that reached t_max = 10 ps without an uncertain frame are censored there: a lower bound of
    # their time-to-uncertainty, enough to converge when the median of the window reaches t_stop = t_max
    assert RULE.decide([10.0, 10.0, 10.0, 3.0], counters()).status == "converged"
    assert RULE.decide([10.0, 10.0, 3.0, 3.0], counters()).status == "continue"  # median 6.5


def test_lost_trajectories_are_not_counted():
    rows = [{"stop_reason": "t_max", "t_reached_ps": 10.0}, {"stop_reason": "task_failed", "t_reached_ps": 0.0},
            {"stop_reason": "uncertain", "t_reached_ps": 4.0}, {"stop_reason": "error", "t_reached_ps": 0.0},
            {"stop_reason": "blowup", "t_reached_ps": 1.0}]
    assert times_ps(finished(rows)) == [10.0, 4.0, 1.0]


def test_budgets_stop_the_run_in_order_labels_generations_wall_time():
    assert RULE.decide([], counters(n_labels=99)).status == "continue"
    d = RULE.decide([], counters(n_labels=100))
    assert d.status == "budget" and d.message == "label budget loop.max_labels = 100 spent"
    assert RULE.decide([], counters(generation=3)).status == "continue"
    d = RULE.decide([], counters(generation=4))  # generations 0..4 are 5
    assert d.status == "budget" and "loop.max_generations = 5" in d.message
    assert RULE.decide([], counters(wall_s=7199.0)).status == "continue"
    d = RULE.decide([], counters(wall_s=7200.0))
    assert d.status == "budget" and "loop.max_wall_h = 2 h" in d.message
    d = RULE.decide([], counters(n_labels=100, generation=4, wall_s=7200.0))
    assert "loop.max_labels" in d.message


def test_failures_are_judged_only_after_enough_attempts_and_beat_convergence_and_budgets():
    assert RULE.decide([], counters(n_attempts=19, n_failed_attempts=19)).status == "continue"
    assert RULE.decide([], counters(n_attempts=20, n_failed_attempts=5)).status == "continue"  # 25% is allowed
    d = RULE.decide([20.0] * 4, counters(n_attempts=20, n_failed_attempts=6, n_labels=100))
    assert d.status == "failed"
    assert d.message == "6 of 20 labelling attempts failed (30% > loop.max_failure_fraction 25%)"
    # convergence is reported before a budget that is spent at the same time
    assert RULE.decide([20.0] * 4, counters(n_labels=100)).status == "converged"


def test_the_rule_reads_the_loop_section_of_a_config():
    cfg = alconfig.from_dict({"loop": {"stop_window": 7, "stop_median_ps": 12.0, "max_labels": 321,
                                       "max_generations": 9, "max_wall_h": 3.5, "max_failure_fraction": 0.5,
                                       "min_attempts_for_failure_stop": 11}})
    assert StopRule.from_config(cfg) == StopRule(window=7, median_ps=12.0, max_labels=321, max_generations=9,
                                                 max_wall_h=3.5, max_failure_fraction=0.5,
                                                 min_attempts_for_failure_stop=11)


def test_the_window_is_in_start_order_up_to_the_oldest_running_trajectory():
    """Trajectories run side by side finish in order of length: the last 16 to finish are the long ones. The
    window is drawn in start order (ids), and only from trajectories started before the oldest one still running."""
    from alal.al.stopping import window_times

    # a batch of 20 started together: 16 stop at once, 4 survive to t_max and finish (and are stored) last
    short = [{"traj_id": f"t{k:06d}", "stop_reason": "uncertain", "t_reached_ps": 0.1} for k in range(0, 20) if k % 5]
    long = [{"traj_id": f"t{k:06d}", "stop_reason": "t_max", "t_reached_ps": 40.0} for k in range(0, 20, 5)]
    rule = StopRule(window=4, median_ps=40.0, max_labels=10**6, max_generations=10**6, max_wall_h=1e6,
                    max_failure_fraction=0.5, min_attempts_for_failure_stop=10)
    finishing_order = short + long
    assert rule.decide(times_ps(finishing_order), counters()).status == "converged"  # the bias this rule avoids
    times = window_times(finishing_order)
    assert times == [40.0 if k % 5 == 0 else 0.1 for k in range(20)]
    assert rule.decide(times, counters()).status == "continue"  # the last 4 by start: 40 (k=15), 0.1, 0.1, 0.1
    assert rule.window_median(times) == (0.1, 4)
    # trajectories of a task still running block the window from their first id on, even if some are stored
    assert window_times(finishing_order, running_ids=["t000010", "t000011"]) == times[:10]
    # lost trajectories never count
    lost = [{"traj_id": "t000020", "stop_reason": "task_failed", "t_reached_ps": 0.0}]
    assert window_times(finishing_order + lost) == times


# ------------------------------------------------------------------------------------- threshold ladder


def test_the_threshold_ladder_steps_down_by_its_factor_to_the_final_rung():
    from alal.al.stopping import ThresholdLadder

    ladder = ThresholdLadder(start_eV=0.15, final_eV=0.05, factor=0.7, step_median_ps=10.0)
    rungs = ladder.rungs()
    assert rungs == [0.15, 0.15 * 0.7, 0.15 * 0.49, 0.05]  # 0.0515 is within half a step of 0.05: the final rung
    assert ladder.current([]) == 0.15 and not ladder.is_final(0.15)
    assert ladder.next(0.15) == rungs[1] and ladder.next(rungs[2]) == 0.05 and ladder.next(0.05) == 0.05
    assert ladder.is_final(0.05)
    # a resumed run goes on at the lowest rung any trajectory used (None: rows of a run before the ladder)
    assert ladder.current([0.15, None, rungs[1], 0.15]) == rungs[1]
    assert ladder.current([0.05, 0.15]) == 0.05
    # a fixed threshold is one rung, already the last
    fixed = ThresholdLadder(start_eV=0.15, final_eV=0.15, factor=0.7, step_median_ps=40.0)
    assert fixed.rungs() == [0.15] and fixed.is_final(fixed.current([0.15]))


def test_the_ladder_reads_its_config_and_bad_ladders_are_refused():
    import pytest

    from alal.al.stopping import ThresholdLadder
    from alal.errors import AlalError

    cfg = alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.2, "rho_threshold_final_eV": 0.1, "rho_tighten_factor": 0.5,
                                          "t_max_ps": 40.0},
                              "loop": {"stop_median_ps": 40.0, "tighten_median_ps": 8.0}})
    assert ThresholdLadder.from_config(cfg) == ThresholdLadder(start_eV=0.2, final_eV=0.1, factor=0.5, step_median_ps=8.0)
    assert ThresholdLadder.from_config(cfg).rungs() == [0.2, 0.1]
    plain = ThresholdLadder.from_config(alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.2, "t_max_ps": 40.0},
                                                            "loop": {"stop_median_ps": 30.0}}))
    assert plain.rungs() == [0.2] and plain.step_median_ps == 30.0  # defaults: no ladder; steps at the stop median
    with pytest.raises(AlalError, match="only tightens"):
        alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.1, "rho_threshold_final_eV": 0.2}})
    with pytest.raises(AlalError, match="tighten_median_ps"):
        alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.2, "rho_threshold_final_eV": 0.1, "t_max_ps": 10.0},
                            "loop": {"stop_median_ps": 10.0, "tighten_median_ps": 20.0}})
    # without a ladder (final = start) the step median is never used: a long one is no error
    alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.1, "rho_threshold_final_eV": 0.1, "t_max_ps": 1.0},
                        "loop": {"stop_median_ps": 1.0, "tighten_median_ps": 5.0}})
    with pytest.raises(AlalError, match="rho_tighten_factor"):
        alconfig.from_dict({"sampler": {"rho_tighten_factor": 1.5}})


def test_the_window_counts_only_the_current_rung_and_converges_only_on_the_last():
    from alal.al.stopping import window_times

    rows = [{"traj_id": f"t{k:06d}", "stop_reason": "t_max", "t_reached_ps": 40.0, "rho_threshold_eV": 0.15} for k in range(8)]
    rows += [{"traj_id": f"t{k:06d}", "stop_reason": "uncertain", "t_reached_ps": 0.5, "rho_threshold_eV": 0.105}
             for k in range(8, 11)]
    assert window_times(rows) == [40.0] * 8 + [0.5] * 3  # no ladder: every trajectory
    assert window_times(rows, rho_threshold_eV=0.15) == [40.0] * 8
    assert window_times(rows, rho_threshold_eV=0.105) == [0.5] * 3  # the new rung's window is not full yet
    rule = StopRule(window=4, median_ps=40.0, max_labels=10**6, max_generations=10**6, max_wall_h=1e6,
                    max_failure_fraction=0.5, min_attempts_for_failure_stop=10)
    times = window_times(rows, rho_threshold_eV=0.15)
    assert rule.decide(times, counters()).status == "converged"
    assert rule.decide(times, counters(), final_rung=False).status == "continue"  # not on the last rung
    assert rule.decide(times, counters(wall_s=1e10), final_rung=False).status == "budget"  # budgets still apply
