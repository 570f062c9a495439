"""report.pdf: the same sections as the HTML, laid out on A4 pages with matplotlib (no browser needed).

Tables are drawn as matplotlib tables (split over pages when long, wide tables in smaller type); figures are
embedded as images with their captions.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from validation.report.model import Section, Table  # noqa: E402

A4 = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)
CELL_COLOURS = {"pass": "#d9f2d9", "fail": "#f8d0d0", "info": "#eeeeff", "": "white"}
LINES_PER_PAGE = 46  # text lines (header included) that fit the table area of one page


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) if text else ""


def _text_page(pdf: PdfPages, title: str, lines: list[str]) -> None:
    fig = plt.figure(figsize=A4)
    fig.text(0.08, 0.95, title, fontsize=16, weight="bold", va="top")
    y = 0.9
    for line in lines:
        wrapped = _wrap(line, 95)
        fig.text(0.08, y, wrapped, fontsize=9, va="top")
        y -= 0.018 * (wrapped.count("\n") + 1) + 0.008
        if y < 0.05:
            pdf.savefig(fig)
            plt.close(fig)
            fig = plt.figure(figsize=A4)
            y = 0.95
    pdf.savefig(fig)
    plt.close(fig)


def _table_pages(pdf: PdfPages, section_title: str, table: Table) -> None:
    n_cols = len(table.columns)
    wide = n_cols > 7 or sum(len(c) for c in table.columns) > 90
    size = A4_LANDSCAPE if wide else A4
    col_width = max(10, int((150 if wide else 110) / max(n_cols, 1)))
    wrapped = [[_wrap(c, col_width) for c in r] for r in table.rows]
    heights = [max((c.count("\n") + 1 for c in r), default=1) for r in wrapped]
    header = [_wrap(c, col_width) for c in table.columns]
    header_lines = max((c.count("\n") + 1 for c in header), default=1)
    pages: list[list[int]] = [[]]
    used = header_lines
    for i, h in enumerate(heights):
        if pages[-1] and used + h > LINES_PER_PAGE:
            pages.append([])
            used = header_lines
        pages[-1].append(i)
        used += h
    for page_no, idx in enumerate(pages):
        fig = plt.figure(figsize=size)
        title = table.title if table.title.startswith(section_title) else f"{section_title}: {table.title}"
        title += " (continued)" if page_no else ""
        fig.text(0.04, 0.97, _wrap(title, 150 if wide else 100), fontsize=10, weight="bold", va="top")
        ax = fig.add_axes([0.03, 0.08, 0.94, 0.84])
        ax.axis("off")
        if idx:
            cell_text = [wrapped[i] for i in idx]
            colours = None
            if table.classes:
                colours = [[CELL_COLOURS.get(c, "white") for c in table.classes[i]] for i in idx]
            t = ax.table(cellText=cell_text, colLabels=header, cellColours=colours, loc="upper center",
                         cellLoc="left")
            t.auto_set_font_size(False)
            t.set_fontsize(6 if wide else 7)
            line_h = 0.84 / (LINES_PER_PAGE + 2) / 0.84  # axes fraction per text line
            for (r, _c), cell in t.get_celld().items():
                n = header_lines if r == 0 else heights[idx[r - 1]]
                cell.set_height(line_h * n)
        if table.note and page_no == len(pages) - 1:
            fig.text(0.04, 0.04, _wrap(table.note, 170 if wide else 120), fontsize=7, va="bottom", style="italic")
        pdf.savefig(fig)
        plt.close(fig)


def _figure_page(pdf: PdfPages, section_title: str, path: Path, caption: str) -> None:
    img = mpimg.imread(str(path))
    h, w = img.shape[:2]
    fig = plt.figure(figsize=A4)
    fig.text(0.06, 0.97, section_title, fontsize=12, weight="bold", va="top")
    box_w = 0.88
    box_h = min(0.8, box_w * (h / w) * (A4[0] / A4[1]))
    ax = fig.add_axes([0.06, 0.93 - box_h, box_w, box_h])
    ax.imshow(img)
    ax.axis("off")
    fig.text(0.06, 0.9 - box_h, _wrap(caption, 110), fontsize=8, va="top")
    pdf.savefig(fig)
    plt.close(fig)


def write_pdf(results: dict, sections: list[Section], path: Path) -> Path:
    meta = results["meta"]
    with PdfPages(path) as pdf:
        lines = [
            f"Tier: {meta.get('tier')}   seed: {meta.get('seed')}   alal {meta.get('alal_version')}",
            f"Potentials: {', '.join(results.get('potentials', {}))}",
            f"Properties: {', '.join(meta.get('properties', []))}",
            f"Started {meta.get('started_utc')}, wall time {meta.get('wall_time_s', 0):.0f} s",
        ]
        if meta.get("errors"):
            lines.append(f"INCOMPLETE: {len(meta['errors'])} failed:")
            lines += [f"  - {e}" for e in meta["errors"]]
        lines.append("Sections: " + ", ".join(s.title for s in sections))
        _text_page(pdf, "alal validation report", lines)
        for s in sections:
            if s.intro or s.notes:
                pass
            for f in s.figures:
                _figure_page(pdf, s.title, f.path, f.caption)
            for t in s.tables:
                _table_pages(pdf, s.title, t)
            if s.notes:
                _text_page(pdf, f"{s.title}: notes", s.notes)
        info = pdf.infodict()
        info["Title"] = "alal validation report"
        info["Creator"] = f"alal {meta.get('alal_version')}"
    return path
