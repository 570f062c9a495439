"""Where alal finds external data (potential files that are never committed).

Order: the ``ALAL_DATA_DIR`` environment variable, else ``~/.cache/alal``. The Makefile and ``.ci/run`` point
``ALAL_DATA_DIR`` at ``../shared/data`` when that folder exists.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from alal.errors import DataFileMissing


def data_dir() -> Path:
    env = os.environ.get("ALAL_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path("~/.cache/alal").expanduser()


def find_data_file(relative: str, *, origin: str, url: str | None = None) -> Path:
    """Return ``data_dir()/relative``; if absent, download it from ``url`` when given, else raise.

    ``origin`` is a human description of where the file can be obtained; it goes into the error.
    """
    path = data_dir() / relative
    if path.exists():
        return path
    if url and os.environ.get("ALAL_OFFLINE") != "1":
        try:
            download(url, path)
            return path
        except OSError as exc:  # no network, 404, read-only cache, ...
            reason = f" (download from {url} failed: {exc})"
        else:  # pragma: no cover
            reason = ""
    else:
        reason = ""
    raise DataFileMissing(
        f"data file '{relative}' not found: looked for {path} "
        f"(data directory from {'ALAL_DATA_DIR' if os.environ.get('ALAL_DATA_DIR') else 'the default ~/.cache/alal'}); "
        f"get it from {origin} and put it there, or set ALAL_DATA_DIR to a folder that holds it{reason}."
    )


def download(url: str, dest: Path, timeout: float = 60.0) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as fh:
        shutil.copyfileobj(response, fh)
    tmp.replace(dest)


def sha256_of(paths: list[Path] | Path) -> str:
    """sha256 over one file, or over a list of files in the given order (contents only)."""
    if isinstance(paths, Path):
        paths = [paths]
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()
