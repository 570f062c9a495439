"""The property registry and the report's sections stay in step: every property has a section, every section
module belongs to a property, and a property without a section fails loudly instead of vanishing from the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.properties import PROPERTIES
from validation.report import build_sections
from validation.report import sections as report_sections
from validation.report.sections import SECTION_MODULES, MissingSection, property_section_builder

GENERIC_SECTIONS = {"__init__", "summary", "provenance"}  # not tied to one property


@pytest.mark.parametrize("prop", list(PROPERTIES))
def test_every_registered_property_has_a_section_builder(prop):
    assert callable(property_section_builder(prop))


def test_every_section_module_belongs_to_a_registered_property():
    """A section module left behind by a renamed or removed property would never be rendered."""
    assert list(SECTION_MODULES) == list(PROPERTIES)
    used = {module.rsplit(".", 1)[1] for module in SECTION_MODULES.values()}
    present = {p.stem for p in Path(report_sections.__file__).parent.glob("*.py")} - GENERIC_SECTIONS
    assert present <= used, f"section modules of no property: {sorted(present - used)}"


def test_a_property_without_a_section_is_a_clear_error(monkeypatch):
    # a property just registered, its section module not written yet
    monkeypatch.setitem(SECTION_MODULES, "new_prop", f"{report_sections.__name__}.new_prop")
    with pytest.raises(MissingSection, match="property 'new_prop' has no report section: add .*sections.new_prop"):
        property_section_builder("new_prop")
    with pytest.raises(MissingSection, match="'old_name' is not a registered property"):
        property_section_builder("old_name")


def test_a_results_file_naming_an_unknown_property_shows_it_as_failed(tmp_path):
    """A results.json written before a property was renamed still renders, with the problem in plain view."""
    results = {"meta": {"properties": ["old_name"], "tier": "quick"}, "potentials": {}}
    sections = build_sections(results, tmp_path / "figures")
    failed = [s for s in sections if s.key == "old_name"]
    assert len(failed) == 1 and "section failed to render" in failed[0].title
    assert "is not a registered property" in failed[0].notes[0]
