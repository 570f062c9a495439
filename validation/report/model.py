"""What a report is made of. Both writers render one ``Report`` and nothing else, so the PDF says what the HTML
says: every piece of text either shows lives here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]
    # optional per-cell CSS class ("pass", "fail", "info", "") with the same shape as rows
    classes: list[list[str]] | None = None
    note: str = ""


@dataclass
class Figure:
    path: Path  # PNG inside the report's figures/ folder
    caption: str


@dataclass
class Section:
    key: str
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    byline: str  # when and from what it was generated
    errors: list[str] = field(default_factory=list)  # properties that failed (meta.errors)
    sections: list[Section] = field(default_factory=list)

    @property
    def errors_title(self) -> str:
        n = len(self.errors)
        return f"Incomplete: {n} propert{'y' if n == 1 else 'ies'} failed." if n else ""
