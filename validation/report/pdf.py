"""report.pdf: the Report the HTML shows, laid out on A4 pages with matplotlib (no browser, no system library).

Everything the HTML renders is drawn, in the same order: title, byline, failed properties, the list of sections,
then per section its title, intro, figures with captions, tables with title, header, cells and note, and notes.
Text is wrapped at measured widths and flows onto further pages, so nothing long is cut; each section starts a
page; a table split over pages repeats its title and header; wide tables get landscape pages. Fonts are embedded
as TrueType (Type 42), so the PDF's text can be searched and extracted.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402

from validation.report.model import Figure, Report, Section, Table  # noqa: E402

A4 = (8.27, 11.69)  # inches
MARGIN = 0.6  # inches on every side
LINE_SPACING = 1.3  # line height in font sizes
CELL_PAD = 0.04  # inches between a table cell's border and its text
MAX_IMAGE_SHARE = 0.6  # of the usable page height, so a figure leaves room for its caption

TITLE = {"size": 18, "weight": "bold"}
HEADING = {"size": 14, "weight": "bold"}
BODY = {"size": 9}
BYLINE = {"size": 8, "color": "#555555"}
ERROR_TITLE = {"size": 9, "weight": "bold", "color": "#a00000"}
ERROR = {"size": 9, "color": "#a00000"}
CAPTION = {"size": 8, "color": "#444444"}
NOTE = {"size": 8, "color": "#555555"}
TABLE_TITLE = {"size": 9, "weight": "bold"}
PORTRAIT_HEADER = {"size": 7, "weight": "bold"}
LANDSCAPE_HEADER = {"size": 6, "weight": "bold"}
WIDE_TABLE = 0.8  # share of a portrait page's width that a table's longest words may fill before it turns landscape
CELL_COLOURS = {"pass": "#d9f2d9", "fail": "#f8d0d0", "info": "#eeeeff", "": "white"}
HEADER_COLOUR = "#f3f3f3"


@functools.lru_cache(maxsize=100_000)
def _measure(text: str, size: float, weight: str) -> float:
    """Width of one line of text in points (the font matplotlib will draw it with)."""
    prop = FontProperties(size=size, weight=weight)
    return text_to_path.get_text_width_height_descent(text, prop, ismath=False)[0]


def _width(text: str, style: dict) -> float:
    return _measure(text, style["size"], style.get("weight", "normal"))


def _split_word(word: str, width_pt: float, style: dict) -> list[str]:
    """A word wider than the line (a hash, a path) in pieces that fit."""
    if _width(word, style) <= width_pt:
        return [word]
    pieces, piece = [], ""
    for ch in word:
        if piece and _width(piece + ch, style) > width_pt:
            pieces.append(piece)
            piece = ""
        piece += ch
    return pieces + [piece]


def wrap(text: str, width_pt: float, style: dict) -> list[str]:
    """Lines no wider than ``width_pt``: breaks at spaces, explicit line breaks kept (tracebacks stay readable)."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split():
            for piece in _split_word(word, width_pt, style):
                candidate = f"{line} {piece}" if line else piece
                if line and _width(candidate, style) > width_pt:
                    lines.append(line)
                    candidate = piece
                line = candidate
        lines.append(line)
    return lines


def _line_height(style: dict) -> float:
    return style["size"] * LINE_SPACING / 72.0


class _Pages:
    """Places blocks top-down on the pages of a PdfPages and starts a new page when the next piece does not fit.

    Positions are in inches from the page's top-left corner; ``y`` is the top of the next free line.
    """

    def __init__(self, pdf: PdfPages):
        self.pdf = pdf
        self.fig = None
        self.landscape = False
        self.y = MARGIN
        self.empty = True

    @property
    def size(self) -> tuple[float, float]:
        return (A4[1], A4[0]) if self.landscape else A4

    @property
    def width(self) -> float:
        return self.size[0] - 2 * MARGIN

    def new_page(self, landscape: bool | None = None) -> None:
        self.close()
        if landscape is not None:
            self.landscape = landscape
        self.fig = plt.figure(figsize=self.size)
        self.y, self.empty = MARGIN, True

    def close(self) -> None:
        if self.fig is not None:
            if not self.empty:  # a page left blank by a switch to landscape is dropped, not printed
                self.pdf.savefig(self.fig)
            plt.close(self.fig)
            self.fig = None

    def fits(self, height: float) -> bool:
        return self.fig is not None and self.y + height <= self.size[1] - MARGIN

    def ensure(self, height: float) -> None:
        """A new page unless ``height`` fits below the cursor (a block taller than a page starts one anyway)."""
        if self.fig is None or (not self.empty and not self.fits(height)):
            self.new_page()

    def _rect(self, x: float, y: float, w: float, h: float) -> tuple[float, float, float, float]:
        """Inches from the top-left corner to matplotlib's figure fractions from the bottom-left."""
        pw, ph = self.size
        return x / pw, 1 - (y + h) / ph, w / pw, h / ph

    def text(self, x: float, y: float, line: str, style: dict) -> None:
        pw, ph = self.size
        # parse_math=False: a "$" in a note is a dollar sign, not the start of mathtext
        self.fig.text(x / pw, 1 - y / ph, line, va="top", ha="left", parse_math=False, **style)
        self.empty = False

    def box(self, x: float, y: float, w: float, h: float, colour: str) -> None:
        left, bottom, width, height = self._rect(x, y, w, h)
        self.fig.add_artist(Rectangle((left, bottom), width, height, transform=self.fig.transFigure,
                                      facecolor=colour, edgecolor="#cccccc", linewidth=0.5))

    def paragraph(self, text: str, style: dict, after: float = 0.08) -> None:
        """Wrapped text, line by line, so a long paragraph continues on the next page instead of being cut."""
        if not text:
            return
        h = _line_height(style)
        for line in wrap(text, self.width * 72, style):
            self.ensure(h)
            self.text(MARGIN, self.y, line, style)
            self.y += h
        self.y += after

    def image(self, path: Path, caption_style: dict) -> None:
        img = mpimg.imread(str(path))
        aspect = img.shape[0] / img.shape[1]
        w = min(self.width, MAX_IMAGE_SHARE * (self.size[1] - 2 * MARGIN) / aspect)
        h = w * aspect
        self.ensure(h + _line_height(caption_style))  # keep at least the caption's first line with its image
        ax = self.fig.add_axes(self._rect(MARGIN, self.y, w, h))
        ax.imshow(img)
        ax.axis("off")
        self.y += h + 0.05
        self.empty = False


def _columns(table: Table) -> list[list[str]]:
    return [[table.columns[j], *(row[j] for row in table.rows)] for j in range(len(table.columns))]


def _natural_widths(table: Table, style: dict) -> list[float]:
    """Column widths in inches that hold every cell on one line."""
    return [max(_width(str(c), style) for c in col) / 72 + 2 * CELL_PAD for col in _columns(table)]


def _word_widths(table: Table, style: dict) -> list[float]:
    """Column widths in inches that hold each column's longest word: narrower would break words."""
    return [max((_width(w, style) for c in col for w in str(c).split()), default=0) / 72 + 2 * CELL_PAD
            for col in _columns(table)]


def _column_widths(table: Table, style: dict, avail: float) -> list[float]:
    """Natural widths if the table fits; else every column gets its longest word (but no more than an equal
    share) and the rest of the width is shared in proportion to what each column still wants."""
    natural = _natural_widths(table, style)
    if sum(natural) <= avail:
        return natural
    floor = [min(m, avail / len(natural)) for m in _word_widths(table, style)]
    want = [n - f for n, f in zip(natural, floor)]
    spare = avail - sum(floor)
    return [f + spare * w / sum(want) for f, w in zip(floor, want)]


def _draw_row(pages: _Pages, cells: list[list[str]], widths: list[float], colours: list[str], style: dict) -> None:
    height = max(len(c) for c in cells) * _line_height(style) + 2 * CELL_PAD
    x = MARGIN
    for lines, w, colour in zip(cells, widths, colours):
        pages.box(x, pages.y, w, height, colour)
        for i, line in enumerate(lines):
            pages.text(x + CELL_PAD, pages.y + CELL_PAD + i * _line_height(style), line, style)
        x += w
    pages.y += height


def _table(pages: _Pages, table: Table) -> None:
    # landscape for a table with so many columns that a portrait page would break their words
    wide = sum(_word_widths(table, PORTRAIT_HEADER)) > WIDE_TABLE * (A4[0] - 2 * MARGIN)
    if wide != pages.landscape:
        pages.new_page(landscape=wide)
    header_style = LANDSCAPE_HEADER if wide else PORTRAIT_HEADER
    cell = {"size": header_style["size"]}
    widths = _column_widths(table, header_style, pages.width)
    text_pt = [(w - 2 * CELL_PAD) * 72 for w in widths]
    header = [wrap(c, t, header_style) for c, t in zip(table.columns, text_pt)]
    rows = [[wrap(c, t, cell) for c, t in zip(row, text_pt)] for row in table.rows]
    heights = [max(len(c) for c in r) * _line_height(cell) + 2 * CELL_PAD for r in rows]
    header_h = max(len(c) for c in header) * _line_height(header_style) + 2 * CELL_PAD
    title_h = len(wrap(table.title, pages.width * 72, TABLE_TITLE)) * _line_height(TABLE_TITLE)

    def start(title: str) -> None:
        pages.paragraph(title, TABLE_TITLE, after=0.03)
        _draw_row(pages, header, widths, [HEADER_COLOUR] * len(widths), header_style)

    pages.ensure(title_h + header_h + (heights[0] if heights else 0))
    start(table.title)
    for i, (row, h) in enumerate(zip(rows, heights)):
        if not pages.fits(h):
            pages.new_page()
            start(f"{table.title} (continued)")
        colours = [CELL_COLOURS.get(c, "white") for c in table.classes[i]] if table.classes else ["white"] * len(row)
        _draw_row(pages, row, widths, colours, cell)
    pages.y += 0.06
    pages.paragraph(table.note, NOTE, after=0)
    pages.y += 0.2


def _figure(pages: _Pages, figure: Figure) -> None:
    pages.image(figure.path, CAPTION)
    pages.paragraph(figure.caption, CAPTION, after=0.2)


def _section(pages: _Pages, section: Section) -> None:
    pages.paragraph(section.title, HEADING, after=0.12)
    pages.paragraph(section.intro, BODY, after=0.15)
    for f in section.figures:
        _figure(pages, f)
    for t in section.tables:
        _table(pages, t)
    for n in section.notes:
        pages.paragraph(n, NOTE)


def _front(pages: _Pages, report: Report) -> None:
    pages.paragraph(report.title, TITLE, after=0.05)
    pages.paragraph(report.byline, BYLINE, after=0.15)
    if report.errors:
        pages.paragraph(report.errors_title, ERROR_TITLE, after=0.03)
        for e in report.errors:
            pages.paragraph(f"• {e}", ERROR, after=0.03)
        pages.y += 0.1
    for s in report.sections:  # the HTML's navigation bar
        pages.paragraph(s.title, BODY, after=0.02)
    pages.y += 0.3


def write_pdf(report: Report, path: Path) -> Path:
    metadata = {"Title": report.title, "Subject": report.byline, "Creator": "alal"}
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path, metadata=metadata) as pdf:
        pages = _Pages(pdf)
        pages.new_page()
        _front(pages, report)
        for i, section in enumerate(report.sections):
            if i:  # the first section (the summary) follows the list of sections on the first page
                pages.new_page(landscape=False)
            _section(pages, section)
        pages.close()
    return path
