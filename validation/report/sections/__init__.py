"""Report sections, one module per property (``build_section(results, fig_dir) -> Section | None``).

The summary and provenance sections are generic; property sections are looked up by the property's key in
results.json, so a new property only needs a module here (and an entry in ``SECTION_MODULES``).
"""

from __future__ import annotations

import importlib

SECTION_MODULES: dict[str, str] = {
    "eos": "validation.report.sections.eos",
    "elastic": "validation.report.sections.elastic",
    "bain": "validation.report.sections.bain",
    "gsfe": "validation.report.sections.gsfe",
    "vacancy": "validation.report.sections.vacancy",
    "surface": "validation.report.sections.surface",
    "phonons": "validation.report.sections.phonons",
    "checks": "validation.report.sections.checks",
    "liquid_density": "validation.report.sections.liquid",
    "rdf": "validation.report.sections.rdf",
    "melting": "validation.report.sections.melting",
    "heat_cool": "validation.report.sections.heat_cool",
}


def property_section_builder(prop: str):
    module = SECTION_MODULES.get(prop)
    if module is None:
        return None
    return importlib.import_module(module).build_section


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
