"""The stop rule of the loop, as a pure function of what the run has done so far.

  failed      more than ``max_failure_fraction`` of the labelling attempts failed (judged only after
              ``min_attempts_for_failure_stop`` attempts)
  converged   the median time-to-uncertainty of the last ``stop_window`` finished trajectories reaches
              ``stop_median_ps``
  budget      the labels, generations or wall time of the config are spent

The rule reads no database and no clock: the loop hands it the trajectories' times and its counters, so the
rule can be tested on its own.

Censored times (a trajectory that reached t_max without an uncertain frame) enter the median at the time
they reached. That time is a lower bound of the true time-to-uncertainty, so a median of them that reaches
``stop_median_ps`` means the true median does too (the config keeps ``stop_median_ps <= t_max_ps``): the rule
never stops early because of censoring, which is why it needs no event flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

# the trajectory never reached an end of its own (its task was lost): it has no time to count
LOST_REASONS = ("task_failed", "error")

Status = Literal["continue", "failed", "converged", "budget"]


def finished(rows: Sequence) -> list:
    """The trajectory rows that count in the stop rule (database order kept)."""
    return [r for r in rows if r.get("stop_reason") not in LOST_REASONS]


def times_ps(rows: Sequence) -> list[float]:
    return [float(r.get("t_reached_ps")) for r in rows]


@dataclass(frozen=True)
class Decision:
    status: Status
    message: str = ""

    @property
    def stop(self) -> bool:
        return self.status != "continue"


CONTINUE = Decision("continue")


@dataclass(frozen=True)
class Counters:
    """What the run has spent so far."""

    n_labels: int
    generation: int  # newest trained generation, -1 before generation 0
    wall_s: float
    n_attempts: int
    n_failed_attempts: int


@dataclass(frozen=True)
class StopRule:
    window: int
    median_ps: float
    max_labels: int
    max_generations: int
    max_wall_h: float
    max_failure_fraction: float
    min_attempts_for_failure_stop: int

    @classmethod
    def from_config(cls, cfg) -> "StopRule":
        lp = cfg.section("loop")
        return cls(window=lp["stop_window"], median_ps=lp["stop_median_ps"], max_labels=lp["max_labels"],
                   max_generations=lp["max_generations"], max_wall_h=lp["max_wall_h"],
                   max_failure_fraction=lp["max_failure_fraction"],
                   min_attempts_for_failure_stop=lp["min_attempts_for_failure_stop"])

    def window_median(self, times: Sequence[float]) -> tuple[float, int]:
        """Median of the last ``window`` times (in finishing order) and how many there were (NaN, 0 if none)."""
        last = list(times)[-self.window:]
        if not last:
            return math.nan, 0
        return float(np.median(last)), len(last)

    def decide(self, times: Sequence[float], c: Counters) -> Decision:
        """``times``: the finished trajectories' times-to-uncertainty in ps, oldest first. Checked in order of
        severity: failures, convergence, then the budgets."""
        if c.n_attempts >= self.min_attempts_for_failure_stop \
                and c.n_failed_attempts > self.max_failure_fraction * c.n_attempts:
            return Decision("failed", f"{c.n_failed_attempts} of {c.n_attempts} labelling attempts failed "
                                      f"({100 * c.n_failed_attempts / c.n_attempts:.0f}% > loop.max_failure_fraction "
                                      f"{100 * self.max_failure_fraction:.0f}%)")
        med, n = self.window_median(times)
        if n >= self.window and med >= self.median_ps:
            return Decision("converged", f"median time-to-uncertainty of the last {n} trajectories (up to trajectory "
                                         f"{len(times)}) is {med:.3g} ps >= loop.stop_median_ps = {self.median_ps:g} ps")
        if c.n_labels >= self.max_labels:
            return Decision("budget", f"label budget loop.max_labels = {self.max_labels} spent")
        if c.generation + 1 >= self.max_generations:
            return Decision("budget", f"generation budget loop.max_generations = {self.max_generations} spent")
        if c.wall_s >= self.max_wall_h * 3600:
            return Decision("budget", f"wall-time budget loop.max_wall_h = {self.max_wall_h:g} h spent")
        return CONTINUE
