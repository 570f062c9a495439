"""Report sections, one module per property (``build_section(results, fig_dir) -> Section | None``).

The summary and provenance sections are generic. Every property registered in ``validation.properties.PROPERTIES``
has its section in the module of the same name here (or the one ``_MODULE_OF`` names), so the two registries cannot
drift: a new property needs ``sections/<name>.py``, and a registered property without one fails its section loudly
instead of vanishing.
"""

from __future__ import annotations

import importlib

from validation.properties import PROPERTIES

# Properties whose section lives in a module of another name (two properties drawn by one module).
_MODULE_OF = {"liquid_density": "liquid"}

SECTION_MODULES: dict[str, str] = {prop: f"{__name__}.{_MODULE_OF.get(prop, prop)}" for prop in PROPERTIES}


class MissingSection(LookupError):
    pass


def property_section_builder(prop: str):
    """``build_section`` of a registered property's report section."""
    if prop not in SECTION_MODULES:
        raise MissingSection(f"'{prop}' is not a registered property (validation.properties.PROPERTIES): "
                             f"no report section for it")
    try:
        module = importlib.import_module(SECTION_MODULES[prop])
    except ModuleNotFoundError as exc:
        if exc.name != SECTION_MODULES[prop]:
            raise  # the module exists but one of its own imports is missing: that error is the real one
        raise MissingSection(f"property '{prop}' has no report section: add {SECTION_MODULES[prop]} "
                             f"with build_section(results, fig_dir)") from exc
    return module.build_section


def fmt(x, digits: int = 4) -> str:
    """Compact number formatting for tables ("—" for missing)."""
    if x is None:
        return "—"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if v == 0:
        return "0"
    if abs(v) >= 1000 or abs(v) < 0.01:
        return f"{v:.{digits - 1}g}" if abs(v) < 1e5 else f"{v:.3e}"
    return f"{v:.{digits}g}"


def property_results(results: dict, prop: str) -> dict[str, dict]:
    """{potential: that property's entry} for potentials where it ran without error."""
    out = {}
    for name, entry in results.get("potentials", {}).items():
        value = entry.get(prop)
        if isinstance(value, dict) and "error" not in value:
            out[name] = value
    return out
