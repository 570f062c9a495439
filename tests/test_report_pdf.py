"""The PDF says what the HTML says: every piece of text of report.html is in report.pdf's extractable text, long
text flows onto further pages instead of running off one, and the fonts are embedded as real text."""

from __future__ import annotations

import unicodedata
from html.parser import HTMLParser

import pypdf
import pytest

from validation.report.model import Report, Section, Table
from validation.report.pdf import write_pdf
from validation.runner import run_validation

# Cheap real run: EMT's static properties, and MD properties that the quick tier skips for EMT by policy (their
# sections still open with the quick-tier warning and give the reason).
PROPERTIES = ["eos", "elastic", "vacancy", "liquid_density", "melting"]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "r"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALAL_MD_QUICK_SKIP", "emt")  # whatever the caller's environment: no MD for EMT here
        run_validation(["emt"], PROPERTIES, out=out, tier="quick", log=lambda msg: None)
    return out


class _HtmlText(HTMLParser):
    """Every run of text the reader sees in the HTML body (not the stylesheet or the page title)."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("head", "style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("head", "style", "script")

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def squash(text: str) -> str:
    """Text without whitespace: the PDF breaks lines (and over-long words) where the HTML lets the browser wrap."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def pdf_text(path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def html_texts(path) -> list[str]:
    parser = _HtmlText()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.texts


def test_every_text_of_the_html_is_in_the_pdf(report_dir):
    texts = html_texts(report_dir / "report.html")
    pdf = squash(pdf_text(report_dir / "report.pdf"))
    # the pieces the PDF used to drop must be among what is compared, or the comparison proves nothing
    quick_tier_intros = [t for t in texts if t.startswith("QUICK TIER")]
    assert len(quick_tier_intros) == 2  # liquid density and melting
    assert any("Stress-strain on a 32-atom cubic cell" in t for t in texts)  # a static section's intro
    assert any(t.startswith("E_f = E(N−1, relaxed)") for t in texts)  # a table's note
    assert any("skipped in the quick tier" in t for t in texts)  # a section note
    missing = [t for t in texts if squash(t) not in pdf]
    assert not missing, f"{len(missing)} of {len(texts)} HTML texts are not in the PDF: {missing[:5]}"


def test_pdf_fonts_are_embedded_truetype_not_type3(report_dir):
    """Type 3 glyphs are drawings to most readers; Type 42 (TrueType) text can be searched and copied."""
    subtypes = set()
    for page in pypdf.PdfReader(report_dir / "report.pdf").pages:
        for font in page["/Resources"]["/Font"].values():
            subtypes.add(font.get_object()["/Subtype"])
    assert subtypes and "/Type3" not in subtypes


def _text_heights(path) -> list[tuple[int, float, float]]:
    """(page, y of a drawn text, page height) for every text on every page."""
    out = []
    for number, page in enumerate(pypdf.PdfReader(path).pages):
        height = float(page.mediabox.height)

        def visit(text, cm, tm, font, size, _n=number, _h=height):
            if text.strip():
                out.append((_n, cm[5] + tm[5], _h))

        page.extract_text(visitor_text=visit)
    return out


def test_long_text_flows_onto_further_pages_and_stays_on_the_page(tmp_path):
    intro = " ".join(f"word{i:04d}" for i in range(2500))  # several pages of intro
    rows = [[f"row{i:03d}", "x" * 300 if i == 7 else f"val{i:03d}"] for i in range(150)]  # one over-long cell
    report = Report("t", "byline", errors=["p / q: failed"], sections=[
        Section("s", "Section", intro=intro, tables=[Table("Long table", ["name", "value"], rows, note="the note")]),
    ])
    path = write_pdf(report, tmp_path / "long.pdf")
    text = squash(pdf_text(path))
    assert squash(intro) in text and "x" * 300 in text and "thenote" in text
    assert all(squash(" ".join(row)) in text for row in rows)
    placed = _text_heights(path)
    assert len({page for page, _y, _h in placed}) >= 4
    assert all(0 < y < h for _page, y, h in placed)  # nothing drawn below or above the page
