"""What every ``reference_data/dft/<name>.json`` carries besides its numbers, and how it is written.

Common header (the schema of ``/work/notes/faults_api.md``): ``label``, ``code`` (versions of GPAW, ASE, numpy,
gpaw-data, libxc, Python and the sha256 of the Al PAW setup file), ``settings`` (the DFT settings),
``inputs`` (the property's own grids, sizes, lattice constant), ``fingerprint_sha256`` (over settings and
inputs: a file whose fingerprint matches what would be computed is up to date and is skipped),
``structures_sha256`` (one hash per calculated structure), ``calculations`` (mesh, irreducible k-points, SCF
iterations, time per calculation), ``wall_time_s`` and ``cpu_time_s``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from alal.errors import AlalError

LABEL = "GPAW-PBE (ours)"
# Bump when the pipeline's protocol changes in a way the settings and inputs do not capture.
PIPELINE_VERSION = 1


def structure_sha256(atoms: Atoms) -> str:
    """sha256 over atomic numbers, positions and cell rounded to 1e-6 Å, and pbc.

    Rounding makes the hash independent of the last bits of float arithmetic on another machine while any
    physically meaningful change (≥ 1e-6 Å) changes it.
    """
    h = hashlib.sha256()
    h.update(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    for arr in (atoms.positions, atoms.cell.array):
        rounded = np.round(np.asarray(arr, float), 6) + 0.0  # + 0.0 turns -0.0 into 0.0
        h.update(np.ascontiguousarray(rounded).tobytes())
    h.update(np.asarray(atoms.pbc, dtype=np.int8).tobytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def code_versions() -> dict:
    """Versions of everything that determines the numbers (GPAW, its PAW data, libxc, ASE, numpy)."""
    import ase
    import gpaw

    out = {"gpaw": gpaw.__version__, "ase": ase.__version__, "numpy": np.__version__,
           "python": platform.python_version()}
    try:
        import gpaw_data

        out["gpaw_data"] = getattr(gpaw_data, "__version__", "unknown")
    except ImportError:  # setups from GPAW_SETUP_PATH instead of the gpaw-data package
        out["gpaw_data"] = None
    try:
        from gpaw.setup_data import search_for_file

        path, _ = search_for_file("Al.PBE")
        out["setup_file"] = Path(path).name
        out["setup_sha256"] = _file_sha256(Path(path))
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal: the energies themselves are still valid
        out["setup_file"] = f"not found ({exc})"
    try:
        libs = gpaw.get_libraries()
        out["libxc"] = libs.get("libxc") or None
    except Exception:  # noqa: BLE001 - an older GPAW without get_libraries
        out["libxc"] = None
    return out


def fingerprint(settings_json: dict, inputs: dict) -> str:
    doc = {"pipeline_version": PIPELINE_VERSION, "settings": settings_json, "inputs": inputs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=_jsonable).encode()).hexdigest()


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x)}")


def to_json_tree(x):
    """Plain JSON types all the way down (numpy arrays and scalars, tuples converted)."""
    return json.loads(json.dumps(x, default=_jsonable))


def write_json_atomic(path: Path, doc: dict) -> None:
    """Write to a temporary file in the same folder, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_json_tree(doc), indent=1, sort_keys=False, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict | None:
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AlalError(f"{path} is not valid JSON ({exc}); delete it or rerun with --force") from exc


def is_up_to_date(path: Path, expected_fingerprint: str) -> bool:
    doc = read_json(path)
    return bool(doc) and doc.get("fingerprint_sha256") == expected_fingerprint


def header(settings_json: dict, inputs: dict, started: float, cpu_time_s: float, calculations: list[dict]) -> dict:
    return {
        "label": LABEL,
        "code": code_versions(),
        "settings": settings_json,
        "inputs": inputs,
        "fingerprint_sha256": fingerprint(settings_json, inputs),
        "structures_sha256": [c["structure_sha256"] for c in calculations],
        "wall_time_s": round(time.time() - started, 1),
        "cpu_time_s": round(cpu_time_s, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
