"""Reports: read results.json only, write report.html, report.pdf and figures/*.png."""

from __future__ import annotations

import traceback
from pathlib import Path

from validation.report.model import Section


def build_sections(results: dict, fig_dir: Path) -> list[Section]:
    from validation.report.sections import property_section_builder, provenance, summary

    fig_dir.mkdir(parents=True, exist_ok=True)
    sections = [summary.build_section(results, fig_dir)]
    for prop in results["meta"].get("properties", []):
        builder = property_section_builder(prop)
        if builder is None:
            continue
        try:
            section = builder(results, fig_dir)
        except Exception as exc:  # a broken figure must not cost the user the whole report
            section = Section(prop, f"{prop} (section failed to render)",
                              notes=[f"{type(exc).__name__}: {exc}", traceback.format_exc()])
        if section is not None:
            sections.append(section)
    sections.append(provenance.build_section(results, fig_dir))
    return sections


def render_reports(results: dict, out_dir: Path) -> dict[str, Path]:
    from validation.report.html import write_html
    from validation.report.pdf import write_pdf

    out_dir = Path(out_dir)
    sections = build_sections(results, out_dir / "figures")
    return {
        "html": write_html(results, sections, out_dir / "report.html"),
        "pdf": write_pdf(results, sections, out_dir / "report.pdf"),
    }
