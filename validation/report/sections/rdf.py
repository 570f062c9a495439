"""Report section of the rdf property (rendered with the liquid density in ``sections/liquid.py``)."""

from validation.report.sections.liquid import build_rdf_section as build_section

__all__ = ["build_section"]
