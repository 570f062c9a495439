"""What the MD properties share: calculator and engine choice, the quick-tier budget rule, seeds, liquids.

Engines: EAM potentials run natively in LAMMPS, every other calculator through ASE dynamics (alal.md); ANI
models run in float32 (MD never needs float64's extra digits, and float32 is ~2x faster).

The quick-tier rule for which potential runs which MD property (why ANI-Al or EMT may show "skipped"):
  * potentials named in ``QUICK_SKIP`` (``ALAL_MD_QUICK_SKIP``, comma-separated; empty runs all) run no MD in
    the quick tier: EMT is ASE's test potential (not fitted to liquid or melting data, and ~3e3 atom-steps/s
    through ASE), Zhou 2001 a third EAM that the paper does not discuss; leaving them out keeps the MD part of
    ``make validate`` within its ~15 min share (ANI-Al plus two EAM potentials, as the issue asks);
  * potentials run natively in LAMMPS (EAM) run every quick protocol: their cost is fixed and small;
  * any other calculator runs through ASE at a speed we cannot know in advance, so each MD property first
    predicts its cost = (atom-steps of its quick protocol) / (throughput measured once on a 256-atom cell,
    set-up excluded) and runs only when the prediction fits its quick budget (``QUICK_BUDGET_S`` ×
    ``ALAL_MD_BUDGET_SCALE``, default 1); the melting property first drops pressures from the top of its list
    (0 GPa stays). A skipped property records the prediction and the measured throughput.
``ALAL_MD_BUDGET_SCALE`` applies to LAMMPS potentials too when it is set (0 skips all MD). The full tier has no
budget. Protocols never change with the machine: a number either comes from the stated protocol or is absent.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass

import numpy as np
from ase import Atoms

from alal.errors import AlalError
from alal.md import engine_for, maxwell_boltzmann, measure_throughput
from alal.structures import fcc_cubic
from alal.units import AMU_TO_G
from validation.properties.base import PotentialContext, PropertyResult

MD_DTYPE = "float32"
PROBE_CELLS = 4  # 4x4x4 conventional cells = 256 atoms
# Quick-tier wall-time budgets (s, 2 cores) per MD property; see the module docstring.
# They add up to 9 minutes, the share of ``make validate`` (30 min on 2 cores) that one ASE-driven potential gets.
# They add up to 11 minutes; at the fast ANI engine's ~1.5e4 atom-steps/s (2 cores) ANI-Al runs liquid_density,
# rdf and one seed of melting at 0 GPa (~8 min) and skips heat_cool (two 50 ps trajectories: ~12 min).
QUICK_BUDGET_S = {"liquid_density": 180.0, "rdf": 120.0, "melting": 300.0, "heat_cool": 60.0}
QUICK_SKIP = ("emt", "eam-zhou2001")
AL_MASS_G = 26.9815385 * AMU_TO_G


def md_engine(ctx: PotentialContext):
    """The engine for this potential's MD (cached): LAMMPS for EAM, ASE otherwise."""
    if "md:engine" not in ctx.cache:
        ctx.cache["md:engine"] = engine_for(ctx.calculator(MD_DTYPE))
    return ctx.cache["md:engine"]


def md_seed(ctx: PotentialContext, *tags) -> int:
    """A seed derived from the run's seed and a tag (recorded in each result's settings)."""
    text = "/".join(str(t) for t in (ctx.seed, *tags))
    return int(zlib.crc32(text.encode()) % 2_000_000_000) + 1


def throughput(ctx: PotentialContext) -> float:
    """Atom-steps/s of this potential's MD engine on a 256-atom FCC cell near 900 K (measured once).

    Runs MD (and, the first time, the a0 relaxation): for compute, never for build.
    """
    if "md:throughput" not in ctx.cache:
        atoms = fcc_cubic(ctx.fcc_a0(), PROBE_CELLS)
        rng = np.random.default_rng(md_seed(ctx, "probe"))
        atoms.positions += rng.normal(0.0, 0.1, atoms.positions.shape)
        maxwell_boltzmann(atoms, 900.0, md_seed(ctx, "probe-v"))
        engine = md_engine(ctx)
        ctx.cache["md:throughput"] = measure_throughput(engine, atoms, seed=1)
    return ctx.cache["md:throughput"]


def quick_skip() -> tuple[str, ...]:
    raw = os.environ.get("ALAL_MD_QUICK_SKIP")
    if raw is None:
        return QUICK_SKIP
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def budget_scale() -> float:
    raw = os.environ.get("ALAL_MD_BUDGET_SCALE", "1")
    try:
        value = float(raw)
    except ValueError as exc:
        raise AlalError(f"ALAL_MD_BUDGET_SCALE must be a number, not '{raw}'") from exc
    if value < 0:
        raise AlalError(f"ALAL_MD_BUDGET_SCALE must be >= 0, not {value}")
    return value


@dataclass
class BudgetDecision:
    run: bool
    atom_steps: float
    throughput_atom_steps_per_s: float | None
    predicted_s: float | None
    budget_s: float | None
    policy: str | None = None  # why the property was skipped when no prediction was made

    def as_dict(self) -> dict:
        return asdict(self)

    def reason(self, what: str) -> str:
        if self.policy:
            return f"{what} skipped in the quick tier: {self.policy}"
        return (f"{what} skipped in the quick tier: predicted {self.predicted_s:.0f} s at the measured "
                f"{self.throughput_atom_steps_per_s:.0f} atom-steps/s exceeds its {self.budget_s:.0f} s budget "
                f"(run --tier full, or set ALAL_MD_BUDGET_SCALE)")


def budget_check(ctx: PotentialContext, prop: str, atom_steps: float) -> BudgetDecision:
    """Whether ``atom_steps`` of MD fit the property's quick-tier budget (always true in the full tier)."""
    if ctx.tier != "quick":
        return BudgetDecision(True, atom_steps, None, None, None)
    if ctx.name in quick_skip():
        ctx.cache["md:policy_skip"] = True
        return BudgetDecision(False, atom_steps, None, None, None,
                              policy=f"no quick-tier MD for '{ctx.name}' (validation.md.common.QUICK_SKIP: EMT is a "
                                     f"test potential, Zhou 2001 a third EAM; keeps make validate within budget). "
                                     f"Run --tier full, or set ALAL_MD_QUICK_SKIP='' to include it.")
    if md_engine(ctx).name == "lammps" and "ALAL_MD_BUDGET_SCALE" not in os.environ:
        return BudgetDecision(True, atom_steps, None, None, None)
    budget = QUICK_BUDGET_S[prop] * budget_scale()
    rate = throughput(ctx)
    predicted = atom_steps / rate
    return BudgetDecision(predicted <= budget, atom_steps, rate, predicted, budget)


def full_tier_note(ctx: PotentialContext, atom_steps: float, workers: int = 1) -> str:
    """The expected cost of the full tier's protocol at this machine's measured throughput.

    No throughput probe for a potential the quick tier leaves out by policy: the note then gives atom-steps only.
    """
    if ctx.cache.get("md:policy_skip") and "md:throughput" not in ctx.cache:
        return f"Full tier: {atom_steps:.2g} atom-steps; meant for a GPU (ANI) or a cluster."
    rate = throughput(ctx) * max(workers, 1)
    hours = atom_steps / rate / 3600.0
    return (f"Full tier: {atom_steps:.2g} atom-steps, about {hours:.2g} h at the throughput measured here "
            f"({throughput(ctx):.3g} atom-steps/s per process{f', {workers} processes' if workers > 1 else ''}); "
            f"meant for a GPU (ANI) or a cluster.")


def skipped(prop, ctx: PotentialContext, decision: BudgetDecision, settings: dict) -> PropertyResult:
    reason = decision.reason(prop.title)
    ctx.progress(reason)
    return PropertyResult(prop.name, ctx.name, {"skipped": True, "reason": reason, "budget": decision.as_dict()},
                          settings=settings, notes=[reason])


def density_g_cm3(n_atoms: int, volume_A3) -> np.ndarray:
    return n_atoms * AL_MASS_G / (np.asarray(volume_A3, float) * 1e-24)


def liquid_start(ctx: PotentialContext, n_cells: int, volume_factor: float = 1.12) -> Atoms:
    """An FCC n³ supercell of the potential's own a0 expanded by ``volume_factor`` (near the liquid's volume).

    For compute: the first call relaxes a0 with the calculator.
    """
    atoms = fcc_cubic(ctx.fcc_a0() * volume_factor ** (1.0 / 3.0), n_cells)
    return atoms


def settings_with_engine(settings: dict, ctx: PotentialContext) -> dict:
    out = dict(settings)
    out["engine"] = md_engine(ctx).name
    out["dtype"] = MD_DTYPE
    out["seed"] = ctx.seed
    return out
