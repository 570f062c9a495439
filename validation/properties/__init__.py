"""Registry of validation properties: name -> "module:Class" (imported lazily).

The order here is the order of the report and of ``alal validate`` when no ``--properties`` is given.
"""

from __future__ import annotations

import importlib

from alal.errors import UnknownName

PROPERTIES: dict[str, str] = {
    "eos": "validation.properties.eos:ColdCurves",
    "elastic": "validation.properties.elastic:ElasticConstants",
    "bain": "validation.properties.bain:BainPath",
    "gsfe": "validation.properties.gsfe:GeneralizedStackingFault",
    "vacancy": "validation.properties.vacancy:VacancyFormation",
    "surface": "validation.properties.surface:SurfaceEnergies",
    "phonons": "validation.properties.phonons:Phonons",
    "checks": "validation.properties.checks:VerificationChecks",
    "liquid_density": "validation.properties.liquid_density:LiquidDensity",
    "rdf": "validation.properties.rdf:LiquidRDF",
    "melting": "validation.properties.melting:MeltingLine",
    "heat_cool": "validation.properties.heat_cool:HeatCool",
}

# Properties in the default run of each tier (a property may be left out of "quick" when too costly).
DEFAULT_PROPERTIES: dict[str, list[str]] = {
    "quick": list(PROPERTIES),
    "full": list(PROPERTIES),
}


# Properties that need the calculator's stress tensor: stress-strain elastic constants, the GSFE relaxed with a
# free cell height (σ_zz = 0), the finite-difference stress check, and every NPT or pressure-reporting MD run.
# (The lattice constant itself falls back to minimising E(a) without stress: validation.properties.lattice.)
NEEDS_STRESS = frozenset({"elastic", "gsfe", "checks", "liquid_density", "rdf", "melting", "heat_cool"})


def names() -> list[str]:
    return list(PROPERTIES)


def get(name: str):
    """An instance of the property class registered under ``name``."""
    if name not in PROPERTIES:
        raise UnknownName(f"unknown property '{name}': choose from {', '.join(PROPERTIES)}")
    module_name, _, cls_name = PROPERTIES[name].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls()
