"""report.html: the sections rendered with a Jinja2 template; figures referenced from figures/."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import jinja2

from validation.report.model import Section


def write_html(results: dict, sections: list[Section], path: Path) -> Path:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    html = env.get_template("report.html").render(
        meta=results["meta"],
        sections=sections,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    path.write_text(html, encoding="utf-8")
    return path
