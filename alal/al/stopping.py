"""The stop rule of the loop, as a pure function of what the run has done so far.

  failed      more than ``max_failure_fraction`` of the labelling attempts failed (judged only after
              ``min_attempts_for_failure_stop`` attempts)
  converged   the median time-to-uncertainty of the last ``stop_window`` trajectories reaches ``stop_median_ps``,
              "last" in the order the trajectories were started (their ids), among those started before the
              oldest one still running (:func:`window_times`)
  budget      the labels, generations or wall time of the config are spent

With a threshold ladder (:class:`ThresholdLadder`, ``sampler.rho_threshold_final_eV`` below
``sampler.rho_threshold_eV``) "converged" only counts on the last rung: on every rung before it, a window median
that reaches ``loop.tighten_median_ps`` tightens the ρ threshold by ``sampler.rho_tighten_factor`` instead, and
the window starts again from the trajectories sampled at the new threshold.

The rule reads no database and no clock: the loop hands it the trajectories' times and its counters, so the
rule can be tested on its own.

Censored times (a trajectory that reached t_max without an uncertain frame) enter the median at the time
they reached. That time is a lower bound of the true time-to-uncertainty, so a median of them that reaches
``stop_median_ps`` means the true median does too (the config keeps ``stop_median_ps <= t_max_ps``): the rule
never stops early because of censoring, which is why it needs no event flags.

Why start order and not finishing order: trajectories run side by side (a batch of 24 in one task, several
tasks at once), so the ones that finish last are the long ones. The last 16 to finish are a length-biased
sample. Measured on the discovery run of 2026-12-07: generation 5's 48 trajectories had a median of 0.37 ps,
while the last 16 to finish had a median of 40 ps (11 of them at t_max), and the loop stopped as "converged"
after 36 minutes. In start order, up to the oldest trajectory still running, every trajectory that was started
is counted, short or long.
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


def window_times(rows: Sequence, running_ids: Sequence[str] = (), rho_threshold_eV: float | None = None) -> list[float]:
    """The times-to-uncertainty that the stop rule's window is drawn from: the trajectories in the order they
    were started (ids ``t000000``, ``t000001``, … sort that way), only those started before the oldest one still
    running (``running_ids``), lost ones left out. See the module docstring for why. With ``rho_threshold_eV``
    only the trajectories sampled at that ρ threshold count (a threshold ladder's current rung)."""
    first_running = min(running_ids) if running_ids else None
    out = []
    for r in sorted(rows, key=lambda r: str(r.get("traj_id"))):
        if first_running is not None and str(r.get("traj_id")) >= first_running:
            break
        if r.get("stop_reason") in LOST_REASONS:
            continue
        if rho_threshold_eV is not None and not same_threshold(r.get("rho_threshold_eV"), rho_threshold_eV):
            continue
        out.append(float(r.get("t_reached_ps")))
    return out


def same_threshold(a, b) -> bool:
    return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9)


@dataclass(frozen=True)
class ThresholdLadder:
    """The ρ threshold as a ladder of rungs: ``start_eV``, ``start_eV·factor``, … down to ``final_eV``.

    Why: one threshold cannot serve a whole run. A threshold tight enough for the final model stops the first
    models' trajectories at t = 0 (their spread on fresh random cells is already above it), so every label is a
    random cell; one loose enough for the first models lets the later ones run to t_max on configurations they
    still get wrong (measured on the 2026-12-07 discovery run at 0.15 eV/√atom: generation 6's trajectories that
    ran to t_max ended on frames with a median |ΔE| of 4.4 meV/atom and ρ 0.066, while its model put HCP
    243 meV/atom below FCC). The loop climbs down one rung each time the trajectories at the current rung
    survive a median of ``step_median_ps``; the stop rule's "converged" applies on the last rung only.
    ``final_eV`` equal to ``start_eV`` is a fixed threshold (one rung), the paper's protocol.
    """

    start_eV: float
    final_eV: float
    factor: float
    step_median_ps: float

    @classmethod
    def from_config(cls, cfg) -> "ThresholdLadder":
        s = cfg.section("sampler")
        final = s["rho_threshold_final_eV"] or s["rho_threshold_eV"]
        return cls(start_eV=s["rho_threshold_eV"], final_eV=final, factor=s["rho_tighten_factor"],
                   step_median_ps=cfg["loop.tighten_median_ps"] or cfg["loop.stop_median_ps"])

    def rungs(self) -> list[float]:
        out = [self.start_eV]
        while out[-1] > self.final_eV and not math.isclose(out[-1], self.final_eV, rel_tol=1e-9):
            nxt = out[-1] * self.factor
            # a rung that would land just above the final one (closer than half a step, in log) is the final one
            out.append(self.final_eV if nxt < self.final_eV * self.factor ** -0.5 else nxt)
        return out

    def current(self, thresholds_used: Sequence) -> float:
        """The rung the run is on: the lowest rung any trajectory was sampled at (a resumed run goes on where it
        was), the first rung before any."""
        used = [float(t) for t in thresholds_used if t is not None]
        rungs = self.rungs()
        if not used:
            return rungs[0]
        lowest = min(used)
        on = [r for r in rungs if r <= lowest * (1 + 1e-9)]
        return on[0] if on else rungs[-1]

    def is_final(self, rung_eV: float) -> bool:
        return same_threshold(rung_eV, self.rungs()[-1])

    def next(self, rung_eV: float) -> float:
        rungs = self.rungs()
        lower = [r for r in rungs if r < rung_eV * (1 - 1e-9)]
        return lower[0] if lower else rungs[-1]


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
        """Median of the last ``window`` times (as :func:`window_times` orders them) and how many there were (NaN, 0
        if none)."""
        last = list(times)[-self.window:]
        if not last:
            return math.nan, 0
        return float(np.median(last)), len(last)

    def decide(self, times: Sequence[float], c: Counters, final_rung: bool = True) -> Decision:
        """``times``: the trajectories' times-to-uncertainty in ps from :func:`window_times`. Checked in order of
        severity: failures, convergence (on a threshold ladder's last rung only: ``final_rung``), then the
        budgets."""
        if c.n_attempts >= self.min_attempts_for_failure_stop \
                and c.n_failed_attempts > self.max_failure_fraction * c.n_attempts:
            return Decision("failed", f"{c.n_failed_attempts} of {c.n_attempts} labelling attempts failed "
                                      f"({100 * c.n_failed_attempts / c.n_attempts:.0f}% > loop.max_failure_fraction "
                                      f"{100 * self.max_failure_fraction:.0f}%)")
        med, n = self.window_median(times)
        if final_rung and n >= self.window and med >= self.median_ps:
            return Decision("converged", f"median time-to-uncertainty of the last {n} trajectories (up to trajectory "
                                         f"{len(times)}) is {med:.3g} ps >= loop.stop_median_ps = {self.median_ps:g} ps")
        if c.n_labels >= self.max_labels:
            return Decision("budget", f"label budget loop.max_labels = {self.max_labels} spent")
        if c.generation + 1 >= self.max_generations:
            return Decision("budget", f"generation budget loop.max_generations = {self.max_generations} spent")
        if c.wall_s >= self.max_wall_h * 3600:
            return Decision("budget", f"wall-time budget loop.max_wall_h = {self.max_wall_h:g} h spent")
        return CONTINUE
