"""Any potential a user can name or hand over, turned into one shape the validation runner uses.

Accepted (:func:`resolve`):

- a registry name (``ani-al``, ``eam-mishin1999``, ...) or a model path: alal's own calculators;
- ``package.module:callable``: a function or class returning an ASE calculator, called with the JSON keyword
  options of ``--potential-options`` (and with ``dtype="float64"|"float32"`` when its signature takes ``dtype``);
- the name of an entry point in the group ``alal.potentials`` that another installed package registers
  (``[project.entry-points."alal.potentials"] my-ace = "mypkg.calc:make_calculator"``);
- in Python only: an ASE calculator object, or a zero-argument factory returning one.

Whatever the spec, :class:`PotentialSource` gives a label (the key in results.json), a calculator factory per
dtype and provenance. :func:`probe` checks once, on a 4-atom FCC cell, that the calculator returns a finite
energy and forces for aluminium and whether it implements stress, so that a broken calculator costs the user
one line instead of a traceback in every property.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import numpy as np

from alal.errors import AlalError, DataFileCorrupt, UnknownName

ENTRY_POINT_GROUP = "alal.potentials"
IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
# A user's calculator brings no data files that alal could hash (same keys as PotentialInfo.as_dict()).
NO_FILES = {"files": [], "sha256": None, "file_sha256": {}, "pinned_sha256_match": None}


class PotentialUnavailable(AlalError):
    """This one potential cannot be validated (bad import string, not a calculator, fails on Al, bad data file).

    The runner records it for that potential and goes on with the others (exit status 1).
    """


@dataclass
class PotentialSource:
    """A potential ready for the runner: ``make_calculator(dtype)`` returns an ASE calculator."""

    label: str
    make_calculator: Callable[[str], Any]
    info: dict
    registry_name: str | None = None  # set for alal's own registry names and model paths
    notes: list[str] = field(default_factory=list)


def is_calculator(obj: Any) -> bool:
    """An ASE calculator: anything ``atoms.calc = obj`` can use for energies and forces."""
    from ase.calculators.calculator import BaseCalculator

    if inspect.isclass(obj):  # a calculator class is a factory: its methods exist unbound on the class
        return False
    return isinstance(obj, BaseCalculator) or (callable(getattr(obj, "get_potential_energy", None))
                                               and callable(getattr(obj, "get_forces", None)))


def entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _distribution_of(module_name: str) -> str | None:
    """``name version`` of the installed distribution that provides ``module_name`` (None for local code)."""
    top = module_name.split(".")[0]
    for dist in metadata.packages_distributions().get(top, []):
        try:
            return f"{dist} {metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def _import_object(spec: str, label: str) -> Any:
    module_name, _, attr_path = spec.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised while the user's module runs
        raise PotentialUnavailable(f"potential '{label}': cannot import module '{module_name}' "
                                   f"({type(exc).__name__}: {exc})") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PotentialUnavailable(f"potential '{label}': module '{module_name}' has no attribute "
                                       f"'{attr_path}'") from None
    return obj


def _accepts_dtype(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins and some C extensions have no signature
        return False
    return "dtype" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _factory_source(label: str, factory: Callable, options: dict, description: str, info_extra: dict) -> PotentialSource:
    """A source whose calculators come from calling ``factory(**options)`` (and ``dtype`` when it takes one)."""
    pass_dtype = "dtype" not in options and _accepts_dtype(factory)

    def make(dtype: str = "float64"):
        kwargs = dict(options, dtype=dtype) if pass_dtype else dict(options)
        try:
            calc = factory(**kwargs)
        except Exception as exc:
            raise PotentialUnavailable(f"potential '{label}': {description} raised {type(exc).__name__}: {exc}") from None
        if not is_calculator(calc):
            raise PotentialUnavailable(f"potential '{label}': {description} returned {type(calc).__name__}, "
                                       f"not an ASE calculator")
        return calc

    info = {"name": label, "kind": "external", "citation": "", "description": description, **NO_FILES,
            "options": options, "receives_dtype": pass_dtype, **info_extra}
    return PotentialSource(label, make, info)


def _from_string(spec: str, label: str | None, options: dict) -> PotentialSource:
    from alal import potentials

    label = label or spec
    name = potentials.canonical_name(spec)
    if name in potentials.REGISTRY or potentials.is_path_like(spec):
        if options:
            raise AlalError(f"potential '{spec}': --potential-options apply to module:callable and entry-point "
                            f"potentials only, not to alal's own registry names or model paths")
        try:  # a missing data file fails here, before any computation, and stops the run (DataFileMissing)
            info = potentials.describe(name).as_dict()
        except DataFileCorrupt as exc:  # there but not the pinned file: only this potential is left out
            raise PotentialUnavailable(f"potential '{name}': {exc}") from None
        return PotentialSource(label if label != spec else name,
                               lambda dtype="float64", _n=name: potentials.load(_n, dtype=dtype),
                               info, registry_name=name)
    eps = entry_points()
    if spec in eps:
        ep = eps[spec]
        try:
            factory = ep.load()
        except Exception as exc:
            raise PotentialUnavailable(f"potential '{label}': entry point {ep.value} ({ENTRY_POINT_GROUP}) does not "
                                       f"load ({type(exc).__name__}: {exc})") from None
        module_name = ep.value.partition(":")[0]
        return _factory_source(label, factory, options, f"entry point '{spec}' = {ep.value}",
                               {"source": ep.value, "entry_point": spec, "package": _distribution_of(module_name)})
    if IMPORT_STRING.match(spec):
        factory = _import_object(spec, label)
        if is_calculator(factory):  # a module-level calculator instance
            return _instance_source(label, factory, source=spec)
        if not callable(factory):
            raise PotentialUnavailable(f"potential '{label}': '{spec}' is a {type(factory).__name__}, neither a "
                                       f"callable returning an ASE calculator nor a calculator")
        return _factory_source(label, factory, options, f"'{spec}'",
                               {"source": spec, "package": _distribution_of(spec.partition(":")[0])})
    known = list(potentials.REGISTRY) + sorted(eps)
    raise UnknownName(f"unknown potential '{spec}': choose one of {', '.join(known)}, give a path to a model "
                      f"directory, or 'package.module:callable' returning an ASE calculator")


def _instance_source(label: str, calc: Any, *, source: str | None = None) -> PotentialSource:
    cls = type(calc)
    info = {"name": label, "kind": "external", "citation": "", **NO_FILES,
            "description": f"ASE calculator {cls.__module__}.{cls.__qualname__} (object)",
            "source": source, "package": _distribution_of(cls.__module__)}
    # One object serves both dtypes: a calculator handed over as an object is evaluated as it is.
    return PotentialSource(label, lambda dtype="float64": calc, info)


def resolve(spec: Any, *, label: str | None = None, options: dict | None = None) -> PotentialSource:
    """A :class:`PotentialSource` for a string spec, an ASE calculator or a zero-argument factory."""
    options = dict(options or {})
    if isinstance(spec, PotentialSource):
        return spec
    if isinstance(spec, str):
        return _from_string(spec.strip(), label, options)
    if is_calculator(spec):
        return _instance_source(label or type(spec).__name__, spec)
    if callable(spec):
        name = getattr(spec, "__qualname__", type(spec).__name__)
        module = getattr(spec, "__module__", None) or ""
        return _factory_source(label or name, spec, options, f"factory {module}.{name}".strip("."),
                               {"package": _distribution_of(module) if module else None})
    raise AlalError(f"potential {label or spec!r}: give a registry name, a model path, 'package.module:callable', "
                    f"an ASE calculator or a zero-argument factory, not a {type(spec).__name__}")


def resolve_many(potentials: Any, options: dict | None = None) -> list[PotentialSource]:
    """Sources for a name, a calculator, a factory, a list of these, or a dict ``label -> any of these``."""
    if isinstance(potentials, dict):
        items = [(str(label), spec) for label, spec in potentials.items()]
    elif isinstance(potentials, (list, tuple)):
        items = [(None, spec) for spec in potentials]
    else:
        items = [(None, potentials)]
    if not items:
        raise AlalError("no potentials given")
    sources, errors = [], []
    for label, spec in items:
        try:
            sources.append(resolve(spec, label=label, options=options))
        except PotentialUnavailable as exc:
            errors.append((label or str(spec), exc))
    return sources, errors


@dataclass
class ProbeResult:
    has_stress: bool
    energy_eV_per_atom: float


def probe(source: PotentialSource) -> ProbeResult:
    """Build the float64 calculator and evaluate a 4-atom FCC Al cell (a = 4.05 Å, one atom nudged).

    Raises :class:`PotentialUnavailable` with one line when the calculator cannot be built or fails on Al.
    """
    from ase.build import bulk
    from ase.calculators.calculator import PropertyNotImplementedError

    calc = source.make_calculator("float64")
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.positions[0] += (0.03, -0.02, 0.01)  # off the ideal sites so that forces are not zero by symmetry
    atoms.calc = calc
    try:
        energy = float(atoms.get_potential_energy())
        forces = np.asarray(atoms.get_forces(), float)
    except Exception as exc:
        raise PotentialUnavailable(f"potential '{source.label}': the calculator fails on a 4-atom FCC Al cell "
                                   f"({type(exc).__name__}: {exc})") from None
    if not np.isfinite(energy) or forces.shape != (4, 3) or not np.all(np.isfinite(forces)):
        raise PotentialUnavailable(f"potential '{source.label}': the calculator returns a non-finite energy or "
                                   f"forces of the wrong shape {forces.shape} for a 4-atom FCC Al cell")
    implemented = getattr(calc, "implemented_properties", None)
    has_stress = implemented is None or "stress" in implemented
    if has_stress:
        try:
            stress = np.asarray(atoms.get_stress(), float)
            has_stress = stress.shape == (6,) and bool(np.all(np.isfinite(stress)))
        except (PropertyNotImplementedError, NotImplementedError):
            has_stress = False
        except Exception as exc:
            raise PotentialUnavailable(f"potential '{source.label}': the calculator fails computing the stress of "
                                       f"a 4-atom FCC Al cell ({type(exc).__name__}: {exc})") from None
    atoms.calc = None
    return ProbeResult(has_stress=has_stress, energy_eV_per_atom=energy / len(atoms))
