"""Helpers shared by the static-property tests (tests/test_static_*.py): contexts and smaller protocol settings.

Smaller settings are the same protocol on fewer points (a subclass overriding ``settings``), never a fake: every
number still comes from a real calculator.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from alal import potentials
from validation.properties.base import PotentialContext
from validation.references import load_references, reference_dir


def context(name: str, tier: str = "quick", references=None) -> PotentialContext:
    return PotentialContext(name=name, tier=tier, references=references or load_references(),
                            make_calculator=lambda dtype: potentials.load(name, dtype=dtype), progress=lambda m: None)


def with_settings(cls, **overrides):
    """An instance of property class ``cls`` whose settings (any tier) are updated with ``overrides``."""

    class Smaller(cls):
        def settings(self, tier: str) -> dict:
            s = super().settings(tier)
            s.update(overrides)
            return s

    Smaller.__name__ = f"Smaller{cls.__name__}"
    return Smaller()


def references_with_dft(tmp_path: Path, **dft_files: dict):
    """The repository's references plus our own DFT files ``reference_data/dft/<name>.json`` written in a copy."""
    root = tmp_path / "reference_data"
    shutil.copytree(reference_dir(), root, ignore=shutil.ignore_patterns("dft"))
    (root / "dft").mkdir()
    for name, doc in dft_files.items():
        (root / "dft" / f"{name}.json").write_text(json.dumps(doc))
    return load_references(root)
