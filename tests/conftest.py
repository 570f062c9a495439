"""Test configuration shared by every test module.

The external data (ANI-Al weights, Mishin 1999 EAM) is found through ALAL_DATA_DIR; when it is not set we use
../shared/data beside the repository (where CI and the Makefile keep it). Tests that need a data file are
skipped with a clear reason when it is absent, never faked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_shared = REPO.parent / "shared" / "data"
if "ALAL_DATA_DIR" not in os.environ and _shared.is_dir():
    os.environ["ALAL_DATA_DIR"] = str(_shared)
os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("ALAL_OFFLINE", "1")  # tests never download


def _have(rel: str) -> bool:
    from alal.config import data_dir

    return (data_dir() / rel).exists()


@pytest.fixture(scope="session")
def ani_al_available() -> bool:
    return _have("ani-al/model-Al-75.info")


needs_ani_al = pytest.mark.skipif(
    not _have("ani-al/model-Al-75.info"), reason="ANI-Al weights not in ALAL_DATA_DIR (see reference_data README)"
)
needs_mishin = pytest.mark.skipif(
    not _have("eam/Al99.eam.alloy"), reason="Mishin 1999 EAM file not in ALAL_DATA_DIR"
)
