"""The shape every property shares: build structures -> compute with a calculator -> analyse into a result.

A property module defines a subclass of :class:`Property` with three methods:

``build(ctx)``                 pure and deterministic: the structures (or protocol inputs) to evaluate
``compute(built, ctx)``        the only place a calculator is called (``ctx.calculator()``); raw numbers
``analyse(raw, ctx)``          pure: a :class:`PropertyResult` (units in key names) with comparisons to references

What build needs from the potential itself (its relaxed FCC lattice constant, for the properties that set
``needs_a0``) is computed by :meth:`Property.prepare` before build and read by build as plain data
(``ctx.a0_A``); while build runs, ``ctx.calculator()`` raises :class:`PurityError`, so a build that slips a
calculation in fails at once instead of quietly costing time and hiding work from ``compute``.

Structures worth keeping (relaxed cells, MD end frames) leave ``compute`` under ``raw["kept_structures"]`` (a dict
name -> ``ase.Atoms`` or list of frames, see :func:`snapshot`); :meth:`Property.run` moves them into
:attr:`PropertyResult.structures`, which ``analyse`` may extend with structures it derives (e.g. EOS minima at
the fitted volume). They never enter ``results.json``: ``validation.structures_out.write_structures`` writes them
as extended XYZ.

The runner calls :meth:`Property.run`, which times the steps; the report reads only what
:meth:`PropertyResult.to_json` writes into ``results.json``.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

A0_KEY = "fcc_a0_A"  # the context cache entry of the relaxed FCC a0 (the runner copies it into results.json)
KEPT = "kept_structures"  # the raw-dict entry through which compute hands over structures to keep


class PurityError(RuntimeError):
    """A pure step (build) asked for a calculator: a bug in the property, not a problem of the potential."""


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
    # name -> structure (or list of frames) to write as extended XYZ; not part of results.json
    structures: dict[str, Atoms | list[Atoms]] = field(default_factory=dict)

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
    # Whether build() reads the potential's relaxed FCC lattice constant (ctx.a0_A); prepare() computes it first.
    needs_a0: bool = False

    def settings(self, tier: str) -> dict[str, Any]:
        """Protocol settings for a tier ("quick" or "full"); recorded in the result."""
        return {}

    @abstractmethod
    def build(self, ctx: "PotentialContext") -> Any: ...

    @abstractmethod
    def compute(self, built: Any, ctx: "PotentialContext") -> Any: ...

    @abstractmethod
    def analyse(self, raw: Any, ctx: "PotentialContext") -> PropertyResult: ...

    def prepare(self, ctx: "PotentialContext") -> None:
        """The calculator work build() depends on, done before it: the relaxed FCC a0 when ``needs_a0``.

        Computed once per potential (cached in the context) and shared by every property that needs it.
        """
        if self.needs_a0:
            ctx.fcc_a0()

    def run(self, ctx: "PotentialContext") -> PropertyResult:
        t0 = time.perf_counter()
        self.prepare(ctx)
        with ctx.without_calculator(f"{type(self).__name__}.build"):
            built = self.build(ctx)
        raw = self.compute(built, ctx)
        result = self.analyse(raw, ctx)
        if isinstance(raw, dict):
            for key, value in raw.get(KEPT, {}).items():
                result.structures.setdefault(key, value)
        result.wall_time_s = time.perf_counter() - t0
        if not result.settings:
            result.settings = self.settings(ctx.tier)
        return result


@dataclass
class PotentialContext:
    """Everything a property may use about the potential under test, shared across properties.

    ``calculator(dtype)`` returns a calculator (cached per dtype); ``fcc_a0()`` computes the potential's own relaxed
    FCC lattice constant in float64 (once, shared by every property that needs it) and may be called from
    ``prepare`` or ``compute``; ``a0_A`` is that number as plain data, for ``build`` and ``analyse``.
    """

    name: str
    tier: str
    references: Any  # validation.references.References
    make_calculator: Callable[..., Any]
    progress: Callable[[str], None] = print
    seed: int = 20210301
    cache: dict[str, Any] = field(default_factory=dict)
    # the pure step running now (its name), during which no calculator is handed out
    _pure_step: str | None = field(default=None, init=False, repr=False)

    @contextmanager
    def without_calculator(self, step: str) -> Iterator[None]:
        """Run a pure step: ``calculator()`` (hence ``fcc_a0()`` when not yet computed) raises inside it."""
        outer, self._pure_step = self._pure_step, step
        try:
            yield
        finally:
            self._pure_step = outer

    def calculator(self, dtype: str = "float64"):
        if self._pure_step is not None:
            raise PurityError(f"{self._pure_step}() asked for a calculator: build must be pure; read the lattice "
                              f"constant as ctx.a0_A (set needs_a0 = True) and evaluate energies in compute()")
        key = f"calc:{dtype}"
        if key not in self.cache:
            self.cache[key] = self.make_calculator(dtype=dtype)
        return self.cache[key]

    def fcc_a0(self) -> float:
        """The relaxed FCC a0 (Å), computed with the float64 calculator the first time (prepare or compute)."""
        if A0_KEY not in self.cache:
            from validation.properties.lattice import relaxed_fcc_lattice_constant

            self.cache[A0_KEY] = relaxed_fcc_lattice_constant(self.calculator("float64"))
        return self.cache[A0_KEY]

    @property
    def a0_A(self) -> float:
        """The relaxed FCC a0 (Å) as plain data: never computes; set by ``prepare`` (or given, for tests)."""
        if A0_KEY not in self.cache:
            raise PurityError("ctx.a0_A read before the lattice constant was prepared: set needs_a0 = True on the "
                              "property (Property.prepare computes it before build)")
        return self.cache[A0_KEY]

    @a0_A.setter
    def a0_A(self, value: float) -> None:
        self.cache[A0_KEY] = float(value)

    def fcc_energy_per_atom(self) -> float:
        """Energy per atom of ideal FCC at :meth:`fcc_a0` (eV), the zero of many energy differences."""
        if "fcc_E0_eV" not in self.cache:
            from validation.properties.lattice import fcc_energy_per_atom

            self.cache["fcc_E0_eV"] = fcc_energy_per_atom(self.calculator("float64"), self.fcc_a0())
        return self.cache["fcc_E0_eV"]


def snapshot(atoms: Atoms, energy_eV: float | None = None, **info: Any) -> Atoms:
    """A plain copy of ``atoms`` to keep: no constraints, the calculator's energy (when known) and ``info``.

    The energy rides on a :class:`SinglePointCalculator`, so extended XYZ writes it as ``energy=`` and
    ``ase.io.read`` gives it back from ``get_potential_energy()``. Velocities (MD end frames) are kept.
    """
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell.array, pbc=atoms.pbc)
    if atoms.has("momenta"):
        out.set_momenta(atoms.get_momenta())
    out.info.update({k: v for k, v in jsonable(info).items() if v is not None})  # extxyz has no null
    if energy_eV is not None:
        out.calc = SinglePointCalculator(out, energy=float(energy_eV))
    return out


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
