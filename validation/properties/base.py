"""The shape every property shares: build structures -> compute with a calculator -> analyse into a result.

A property module defines a subclass of :class:`Property` with three methods:

``build(ctx)``                 pure and deterministic: the structures (or protocol inputs) to evaluate
``compute(built, ctx)``        the only place a calculator is called (``ctx.calculator()``); raw numbers
``analyse(raw, ctx)``          pure: a :class:`PropertyResult` (units in key names) with comparisons to references

The runner calls :meth:`Property.run`, which times the three steps; the report reads only what
:meth:`PropertyResult.to_json` writes into ``results.json``.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Comparison:
    """One computed number against one reference, with the tolerance that decides the verdict.

    ``tolerance`` is absolute, in the unit of ``key``; ``verdict`` is "pass" when |deviation| <= tolerance.
    """

    key: str
    value: float
    reference: float
    reference_kind: str  # "experiment" | "dft" | "paper" | "potential"
    reference_label: str  # short citation, e.g. "Simmons & Wang 1971"
    tolerance: float | None = None
    label: str | None = None  # human label for tables, e.g. "C11 (GPa)"

    @property
    def deviation(self) -> float:
        return float(self.value - self.reference)

    @property
    def verdict(self) -> str:
        if self.tolerance is None or not math.isfinite(self.value):
            return "info" if math.isfinite(self.value) else "fail"
        return "pass" if abs(self.deviation) <= self.tolerance else "fail"

    def to_json(self) -> dict:
        d = asdict(self)
        d["deviation"] = self.deviation
        d["verdict"] = self.verdict
        return d


@dataclass
class PropertyResult:
    """A property's numbers for one potential: ``data`` goes verbatim into results.json."""

    property: str
    potential: str
    data: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wall_time_s: float = 0.0

    def to_json(self) -> dict:
        out = jsonable(self.data)
        out["comparisons"] = [c.to_json() for c in self.comparisons]
        out["settings"] = jsonable(self.settings)
        out["notes"] = list(self.notes)
        out["wall_time_s"] = round(self.wall_time_s, 3)
        return out


RESERVED_KEYS = ("comparisons", "settings", "notes", "wall_time_s")


class Property(ABC):
    """Base class of a validation property (see module docstring)."""

    name: str = ""  # key in results.json
    title: str = ""  # for the report
    # Which potentials' dtype the calculator should use (float64 for static properties).
    dtype: str = "float64"

    def settings(self, tier: str) -> dict[str, Any]:
        """Protocol settings for a tier ("quick" or "full"); recorded in the result."""
        return {}

    @abstractmethod
    def build(self, ctx: "PotentialContext") -> Any: ...

    @abstractmethod
    def compute(self, built: Any, ctx: "PotentialContext") -> Any: ...

    @abstractmethod
    def analyse(self, raw: Any, ctx: "PotentialContext") -> PropertyResult: ...

    def run(self, ctx: "PotentialContext") -> PropertyResult:
        t0 = time.perf_counter()
        built = self.build(ctx)
        raw = self.compute(built, ctx)
        result = self.analyse(raw, ctx)
        result.wall_time_s = time.perf_counter() - t0
        if not result.settings:
            result.settings = self.settings(ctx.tier)
        return result


@dataclass
class PotentialContext:
    """Everything a property may use about the potential under test, shared across properties.

    ``calculator(dtype)`` returns a calculator (cached per dtype); ``fcc_a0()`` is the potential's own relaxed
    FCC lattice constant in float64 (computed once, shared by every property that needs it).
    """

    name: str
    tier: str
    references: Any  # validation.references.References
    make_calculator: Callable[..., Any]
    progress: Callable[[str], None] = print
    seed: int = 20210301
    cache: dict[str, Any] = field(default_factory=dict)

    def calculator(self, dtype: str = "float64"):
        key = f"calc:{dtype}"
        if key not in self.cache:
            self.cache[key] = self.make_calculator(dtype=dtype)
        return self.cache[key]

    def fcc_a0(self) -> float:
        if "fcc_a0_A" not in self.cache:
            from validation.properties.lattice import relaxed_fcc_lattice_constant

            self.cache["fcc_a0_A"] = relaxed_fcc_lattice_constant(self.calculator("float64"))
        return self.cache["fcc_a0_A"]

    def fcc_energy_per_atom(self) -> float:
        """Energy per atom of ideal FCC at :meth:`fcc_a0` (eV), the zero of many energy differences."""
        if "fcc_E0_eV" not in self.cache:
            from validation.properties.lattice import fcc_energy_per_atom

            self.cache["fcc_E0_eV"] = fcc_energy_per_atom(self.calculator("float64"), self.fcc_a0())
        return self.cache["fcc_E0_eV"]


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) into plain JSON types; NaN/inf become None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
