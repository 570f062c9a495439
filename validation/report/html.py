"""report.html: the Report rendered with a Jinja2 template; figures referenced from figures/."""

from __future__ import annotations

from pathlib import Path

import jinja2

from validation.report.model import Report


def write_html(report: Report, path: Path) -> Path:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    path.write_text(env.get_template("report.html").render(report=report), encoding="utf-8")
    return path
