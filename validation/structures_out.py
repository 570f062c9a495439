"""Write the structures a property kept (relaxed cells, EOS minima, MD end frames) as extended XYZ.

Layout, beside ``results.json``::

    <out>/structures/<property>/<potential>/<name>.extxyz

one file per kept name (a list of frames, e.g. a relaxed GSFE path, becomes one multi-frame file). Every frame's
info carries ``potential`` (the name as given, even when the folder name had to be sanitized) and ``property``;
the energy, when the property knew the calculator's energy for exactly that structure, is the frame's ``energy=``
(``ase.io.read(...).get_potential_energy()``), and MD end frames carry their velocities (``momenta``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ase import Atoms
from ase.io import write

from validation.properties.base import PropertyResult

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file or folder name for ``name``: letters, digits, ``._-`` only, no leading dot.

    A name that had to change gets a short hash of the original appended, so two potentials that differ only
    in the replaced characters (``runs/x`` and ``runs_x``) never share a folder.
    """
    cleaned = _UNSAFE.sub("_", name).strip("_").lstrip(".") or "unnamed"
    if cleaned == name:
        return cleaned
    return f"{cleaned}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def structures_dir(out_dir: Path, property_name: str, potential_name: str) -> Path:
    """The folder of one property's structures for one potential."""
    return Path(out_dir) / "structures" / safe_name(property_name) / safe_name(potential_name)


def write_structures(result: PropertyResult, out_dir: Path, potential_name: str) -> list[Path]:
    """Write ``result.structures`` under ``out_dir/structures/<property>/<potential>/``; return the files written.

    Each frame's info is stamped in place with ``potential`` and ``property``. Nothing is written (and no folder
    made) when the property kept no structures.
    """
    if not result.structures:
        return []
    folder = structures_dir(out_dir, result.property, potential_name)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, kept in result.structures.items():
        frames = [kept] if isinstance(kept, Atoms) else list(kept)
        for atoms in frames:
            atoms.info["potential"] = potential_name
            atoms.info["property"] = result.property
        path = folder / f"{safe_name(name)}.extxyz"
        write(path, frames, format="extxyz")
        written.append(path)
    return written
