"""Reference numbers (experiment, DFT, the paper, published EAM values) read from ``reference_data/``.

Each file holds ``{"description": ..., "entries": [...]}``; an entry has ``property``, ``key`` (unit in the
name, dotted for nesting: ``fcc.a0_A``), ``value``, ``kind`` (experiment | dft | paper | potential),
``label``, ``citation`` and optionally ``potential`` (for values that belong to one potential), ``condition``
(e.g. "room temperature") and ``range``. Our own GPAW references live in ``reference_data/dft/<name>.json``
(written by ``alal reference``) and are returned whole by :meth:`References.dft_data`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from alal.errors import AlalError

REFERENCE_FILES = ("experiment.json", "dft_acwf.json", "paper_ani_al.json", "eam_published.json")


def reference_dir() -> Path:
    """``$ALAL_REFERENCE_DIR``, else the copy installed with the wheel, else the source tree's ``reference_data/``."""
    env = os.environ.get("ALAL_REFERENCE_DIR")
    if env:
        return Path(env)
    installed = Path(__file__).resolve().parent / "reference_data"  # pip install . (see setup.py)
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "reference_data"


@dataclass(frozen=True)
class Reference:
    property: str
    key: str
    value: float | None
    kind: str
    label: str
    citation: str
    potential: str | None = None
    condition: str | None = None
    range: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict, hash=False, compare=False)


class References:
    def __init__(self, entries: list[Reference], root: Path):
        self.entries = entries
        self.root = root
        self._dft_cache: dict[str, dict | None] = {}

    def find(self, property: str, key: str | None = None, *, kind: str | None = None,
             potential: str | None = None, condition: str | None = None, any_condition: bool = False) -> list[Reference]:
        """All entries matching; by default only entries without a ``condition`` (0 K / standard values)."""
        out = []
        for e in self.entries:
            if e.property != property or (key is not None and e.key != key):
                continue
            if kind is not None and e.kind != kind:
                continue
            if e.potential != potential:  # None matches only entries that belong to no potential
                continue
            if not any_condition and e.condition != condition:
                continue
            out.append(e)
        return out

    def get(self, property: str, key: str, *, kind: str | None = None, potential: str | None = None,
            condition: str | None = None) -> Reference | None:
        found = self.find(property, key, kind=kind, potential=potential, condition=condition)
        return found[0] if found else None

    def dft_data(self, name: str) -> dict | None:
        """Our own GPAW-PBE reference ``reference_data/dft/<name>.json`` (None until it has been computed)."""
        if name not in self._dft_cache:
            path = self.root / "dft" / f"{name}.json"
            self._dft_cache[name] = json.loads(path.read_text()) if path.is_file() else None
        return self._dft_cache[name]

    def all_dft_data(self) -> dict[str, dict]:
        """Every ``reference_data/dft/*.json`` by name (embedded in results.json so reports need nothing else)."""
        folder = self.root / "dft"
        names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
        return {n: self.dft_data(n) for n in names}

    def to_json(self) -> list[dict]:
        return [
            {k: v for k, v in e.__dict__.items() if v not in (None, {}) or k == "value"}
            for e in self.entries
        ]


def load_references(root: Path | None = None) -> References:
    root = Path(root) if root else reference_dir()
    if not root.is_dir():
        raise AlalError(f"reference data folder {root} does not exist (set ALAL_REFERENCE_DIR or run from the repo)")
    entries: list[Reference] = []
    for name in REFERENCE_FILES:
        path = root / name
        if not path.is_file():
            continue
        try:
            doc = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise AlalError(f"reference file {path} is not valid JSON: {exc}") from exc
        for raw in doc.get("entries", []):
            known = {"property", "key", "value", "kind", "label", "citation", "potential", "condition", "range"}
            try:
                entries.append(
                    Reference(
                        property=raw["property"],
                        key=raw["key"],
                        value=raw.get("value"),
                        kind=raw["kind"],
                        label=raw.get("label", raw["kind"]),
                        citation=raw["citation"],
                        potential=raw.get("potential"),
                        condition=raw.get("condition"),
                        range=tuple(raw["range"]) if raw.get("range") else None,
                        extra={k: v for k, v in raw.items() if k not in known},
                    )
                )
            except KeyError as exc:
                raise AlalError(f"reference file {path}: an entry lacks field {exc}: {raw}") from exc
    return References(entries, root)
