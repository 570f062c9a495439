"""Optional dependencies: one clear message when a feature needs a package that is not installed.

GPAW is an extra (``pip install 'alal[dft]'``): it is built from source and only ``alal reference`` and the
GPAW oracle of the trainer need it; everything else (validation, the ANI engine, the EMT/potential oracles)
works without it.
"""

from __future__ import annotations

import importlib.util

from alal.errors import AlalError

GPAW_HINT = ("install the DFT extra: pip install 'alal[dft]' (GPAW builds from source: it needs a C++ compiler, "
             "libxc-dev and a BLAS such as libopenblas-dev; `make install` does all of this)")


def have_gpaw() -> bool:
    return importlib.util.find_spec("gpaw") is not None


def require_gpaw(purpose: str) -> None:
    """Raise a one-line :class:`AlalError` naming ``purpose`` when GPAW is not importable."""
    if not have_gpaw():
        raise AlalError(f"{purpose} needs GPAW, which is not installed: {GPAW_HINT}")
