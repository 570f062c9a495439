"""The driver's progress line, from its counters alone (no store, no loop)."""

from alal.al.status import progress_line

BASE = dict(elapsed_s=3725.0, generation=2, n_labels=120, n_pending=8, n_failed=1, n_trajectories=40, n_running=6,
            median_ps=float("nan"), n_window=0, stop_median_ps=5.0, wall_h=0.5, max_wall_h=1e9)


def test_the_line_names_the_generation_labels_and_trajectories():
    assert progress_line(**BASE) == "[01:02:05] gen 2 | labels 120 (+8 pending, 1 failed) | trajectories 40 (+6 running)"


def test_the_median_and_a_wall_budget_are_shown_when_there_are_some():
    line = progress_line(**{**BASE, "median_ps": 1.234, "n_window": 20, "max_wall_h": 2.0})
    assert line.endswith(" | median t_unc last 20: 1.23 of 5 ps | wall 30 of 120 min budget")


def test_a_running_training_shows_the_last_line_of_its_log(tmp_path):
    log = tmp_path / "task-attempt1.log"
    log.write_text("[12:00:00] features 50/100 (3 s)\n[12:00:09] gen 3: epoch 10/200, median val loss 0.01 eV²\n\n")
    line = progress_line(**{**BASE, "training": [(3, log), (4, tmp_path / "missing.log")]})
    assert line.endswith(" | training gen 3: gen 3: epoch 10/200, median val loss 0.01 eV² | training gen 4: starting")
