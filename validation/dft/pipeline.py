"""Runs reference properties: up-to-date check, computation, common header, atomic write.

A property module exposes ``NAME``, ``inputs(ctx, settings) -> dict`` (its grids, sizes, lattice constant: with
the settings, everything its numbers depend on) and ``compute(ctx, settings, inputs) -> (data, results)`` where
``results`` are the engine's per-calculation results. The file ``<out>/<NAME>.json`` is skipped when its
fingerprint (settings + inputs + pipeline version) matches, unless ``force``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alal.errors import AlalError
from validation.dft import records
from validation.dft.engine import JobRunner, calculation_record
from validation.dft.settings import DFTSettings

# Order matters: everything after eos is computed at eos's PBE lattice constant.
MODULES: dict[str, str] = {
    "eos": "validation.dft.eos",
    "elastic": "validation.dft.elastic",
    "bain": "validation.dft.bain",
    "gsfe": "validation.dft.gsfe",
    "gsfe_mesh": "validation.dft.gsfe_mesh",
    "convergence": "validation.dft.convergence",
}
# convergence and gsfe_mesh are studies behind the settings (--only convergence / gsfe_mesh), not references the
# suite reads; the default run regenerates what the suite reads.
DEFAULT = ["eos", "elastic", "bain", "gsfe"]
NEEDS_A0 = {"elastic", "bain", "gsfe", "gsfe_mesh"}


def module(name: str):
    if name not in MODULES:
        raise AlalError(f"unknown reference property '{name}': choose from {', '.join(MODULES)}")
    return importlib.import_module(MODULES[name])


@dataclass
class RunContext:
    settings: DFTSettings
    out_dir: Path
    workers: int = 1
    cache_dir: Path | None = None
    progress: Callable[[str], None] = print
    quick: bool = False
    force: bool = False
    # Narrowing of a property's grids (e.g. {"eos_structures": ["fcc"]} for the smoke test); part of ``inputs``,
    # hence of the fingerprint.
    options: dict = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def runner(self, settings: DFTSettings) -> JobRunner:
        return JobRunner(settings, workers=self.workers, cache_dir=self.cache_dir, progress=self.progress)

    def fcc_a0(self) -> float:
        """The PBE lattice constant from ``<out>/eos.json`` rounded to 1 mÅ, brought up to date first if needed.

        Rounded because it is an input (and part of the fingerprint) of every later property: a sub-mÅ change of
        the EOS fit (another k-mesh, another fit window) must not invalidate hours of path calculations. 1 mÅ of
        a0 moves γ_isf by ~0.1 mJ/m², the Bain energies by < 0.01 meV/atom, and leaves a residual pressure of
        < 0.05 GPa, which the central stress differences of the elastic constants cancel.
        """
        ensure(self, "eos")
        doc = records.read_json(self.out_dir / "eos.json")
        return round(float(doc["structures"]["fcc"]["a0_A"]), 3)


def plan(ctx: RunContext, name: str) -> tuple[DFTSettings, dict, str]:
    mod = module(name)
    # A study (convergence) brings its own base settings; a reference property runs with the production ones.
    settings = mod.study_settings(ctx) if hasattr(mod, "study_settings") else ctx.settings.for_property(name)
    inputs = records.to_json_tree(mod.inputs(ctx, settings))
    return settings, inputs, records.fingerprint(settings.to_json(), inputs)


def ensure(ctx: RunContext, name: str) -> Path:
    """Compute ``name`` unless its file is up to date (never recomputes within one run)."""
    path = ctx.out_dir / f"{name}.json"
    if name in ctx.written:
        return path
    settings, inputs, fp = plan(ctx, name)
    if not ctx.force and records.is_up_to_date(path, fp):
        if name not in ctx.skipped:
            ctx.progress(f"[{name}] {path} is up to date (same settings and inputs): skipped (--force to redo)")
            ctx.skipped.append(name)
        return path
    started = time.time()
    ctx.progress(f"[{name}] computing -> {path}")
    data, results = module(name).compute(ctx, settings, inputs)
    calcs = [calculation_record(r) for r in results]
    doc = records.header(settings.to_json(), inputs, started, sum(r["cpu_s"] for r in results), calcs)
    doc.update(records.to_json_tree(data))
    doc["calculations"] = calcs
    doc["n_calculations"] = len(calcs)
    doc["n_cached"] = sum(1 for c in calcs if c.get("cached"))
    records.write_json_atomic(path, doc)
    ctx.written.append(name)
    ctx.progress(f"[{name}] wrote {path} ({len(calcs)} calculations, {doc['wall_time_s'] / 60:.1f} min wall)")
    return path
