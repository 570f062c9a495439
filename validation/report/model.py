"""What a report section is made of; both the HTML and the PDF writer render these."""

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
