"""Reports: read results.json only, write report.html, report.pdf and figures/*.png."""

from __future__ import annotations

import datetime as _dt
import traceback
from pathlib import Path

from validation.report.model import Report, Section


def build_sections(results: dict, fig_dir: Path) -> list[Section]:
    from validation.report.sections import property_section_builder, provenance, summary

    fig_dir.mkdir(parents=True, exist_ok=True)
    sections = [summary.build_section(results, fig_dir)]
    if results.get("meta", {}).get("against"):  # alal validate --against ORACLE: right after the summary
        from validation.report import against

        try:
            section = against.build_section(results, fig_dir)
        except Exception as exc:
            section = Section("against", "Against the oracle (section failed to render)",
                              notes=[f"{type(exc).__name__}: {exc}", traceback.format_exc()])
        if section is not None:
            sections.append(section)
    for prop in results["meta"].get("properties", []):
        try:  # a missing section or a broken figure must not cost the user the whole report
            section = property_section_builder(prop)(results, fig_dir)
        except Exception as exc:
            section = Section(prop, f"{prop} (section failed to render)",
                              notes=[f"{type(exc).__name__}: {exc}", traceback.format_exc()])
        if section is not None:  # None: the property has no results for any potential
            sections.append(section)
    sections.append(provenance.build_section(results, fig_dir))
    return sections


def build_report(results: dict, fig_dir: Path) -> Report:
    meta = results["meta"]
    generated = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Report(
        title="alal validation report",
        byline=f"Generated {generated} from results.json ({meta.get('tier')} tier, alal {meta.get('alal_version')}).",
        errors=list(meta.get("errors") or []),
        sections=build_sections(results, fig_dir),
    )


def render_reports(results: dict, out_dir: Path) -> dict[str, Path]:
    from validation.report.html import write_html
    from validation.report.pdf import write_pdf

    out_dir = Path(out_dir)
    report = build_report(results, out_dir / "figures")
    return {
        "html": write_html(report, out_dir / "report.html"),
        "pdf": write_pdf(report, out_dir / "report.pdf"),
    }
