"""Where alal finds external data (potential files that are never committed), and how it trusts them.

Order: the ``ALAL_DATA_DIR`` environment variable, else ``~/.cache/alal``. The Makefile and ``.ci/run`` point
``ALAL_DATA_DIR`` at ``../shared/data`` when that folder exists.

Files with a pinned sha256 (:mod:`alal.potentials.pinned`) are verified after a download, before they are moved
into place, and on first use in a process (:func:`verify_file`). Environment variables:

  ``ALAL_OFFLINE=1``            never download
  ``ALAL_DATA_URL_OVERRIDE``    download every data file from ``$ALAL_DATA_URL_OVERRIDE/<relative path>`` (a mirror
                                laid out like the data directory) instead of its origin
  ``ALAL_ALLOW_UNPINNED=1``     use a file that differs from its pin, with a warning, instead of stopping
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
import warnings
from pathlib import Path

from alal.errors import DataFileCorrupt, DataFileMissing, UnpinnedDataWarning

ALLOW_UNPINNED_ENV = "ALAL_ALLOW_UNPINNED"
URL_OVERRIDE_ENV = "ALAL_DATA_URL_OVERRIDE"

# sha256 per (path, mtime_ns, size): a file is hashed once per process unless it changes on disk.
_DIGESTS: dict[tuple[str, int, int], str] = {}
# files already warned about under ALAL_ALLOW_UNPINNED=1 (same key): one warning per file per process
_WARNED: set[tuple[str, int, int]] = set()


def data_dir() -> Path:
    env = os.environ.get("ALAL_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path("~/.cache/alal").expanduser()


def offline() -> bool:
    return os.environ.get("ALAL_OFFLINE") == "1"


def allow_unpinned() -> bool:
    return os.environ.get(ALLOW_UNPINNED_ENV) == "1"


def data_url(relative: str, default: str | None) -> str | None:
    """The URL to download the data file ``relative`` from: the ``ALAL_DATA_URL_OVERRIDE`` mirror when set."""
    mirror = os.environ.get(URL_OVERRIDE_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{relative}"
    return default


def find_data_file(relative: str, *, origin: str, url: str | None = None, sha256: str | None = None) -> Path:
    """Return ``data_dir()/relative``; if absent, download it from ``url`` when given, else raise.

    ``origin`` is a human description of where the file can be obtained; it goes into the errors. With
    ``sha256`` (the file's pin) the file is verified, see :func:`verify_file`.
    """
    path = data_dir() / relative
    if path.exists():
        if sha256:
            verify_file(path, sha256, fix=f"delete it so that the published file is downloaded again (from {origin})")
        return path
    url = data_url(relative, url)
    reason = ""
    if url and not offline():
        try:
            download(url, path, sha256=sha256, origin=origin)
            return path
        except OSError as exc:  # no network, 404, read-only cache, ...
            reason = f" (download from {url} failed: {exc})"
    raise DataFileMissing(
        f"data file '{relative}' not found: looked for {path} "
        f"(data directory from {'ALAL_DATA_DIR' if os.environ.get('ALAL_DATA_DIR') else 'the default ~/.cache/alal'}); "
        f"get it from {origin} and put it there, or set ALAL_DATA_DIR to a folder that holds it{reason}."
    )


def download(url: str, dest: Path, *, sha256: str | None = None, origin: str = "", timeout: float = 60.0) -> None:
    """Fetch ``url`` to ``dest`` through ``dest.<pid>.part`` beside it, moved into place only once complete.

    With ``sha256`` the download must match it: a file that does not is deleted and :class:`DataFileCorrupt`
    names the file, both hashes and the URL. Network failures (including a connection cut mid-file) are
    ``OSError``; no partial file is ever left behind.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")  # per process: concurrent runs may fetch the same file
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as fh:
            announced = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                fh.write(chunk)
                received += len(chunk)
        # http.client ends a sized read quietly when the server closes early, so count the bytes ourselves
        if announced is not None and received != int(announced):
            raise OSError(f"the transfer was cut off after {received} of {announced} bytes")
        got = digest.hexdigest()
        if sha256 and got != sha256:
            raise DataFileCorrupt(
                f"downloaded {dest} has sha256 {got}, not the pinned {sha256} (from {url}); it was deleted: "
                f"the server sent a truncated or different file, try again later"
                f"{f' or get the published file from {origin}' if origin else ''}"
            )
        tmp.replace(dest)
    except http.client.HTTPException as exc:  # a garbled response (BadStatusLine, chunked IncompleteRead): no OSError
        raise OSError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    if sha256:
        _DIGESTS[_stat_key(dest)] = got


def _stat_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_mtime_ns, st.st_size


def file_sha256(path: Path) -> str:
    """sha256 of one file, computed once per process per (path, mtime, size)."""
    key = _stat_key(path)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_of(path)
    return _DIGESTS[key]


def verify_file(path: Path, expected: str, *, fix: str) -> bool:
    """True when ``path`` has the pinned sha256 ``expected``.

    A mismatch raises :class:`DataFileCorrupt` (one line: the file, both hashes, ``fix`` and the escape hatch);
    with ``ALAL_ALLOW_UNPINNED=1`` it warns once per file per process and returns False, so that someone who
    modified a file on purpose can use it and the provenance still says it is not the published one.
    """
    got = file_sha256(path)
    if got == expected:
        return True
    message = f"data file {path} has sha256 {got}, not the pinned {expected}"
    if not allow_unpinned():
        raise DataFileCorrupt(f"{message}: {fix}, or set {ALLOW_UNPINNED_ENV}=1 to use a modified file anyway")
    key = _stat_key(path)
    if key not in _WARNED:
        _WARNED.add(key)
        warnings.warn(f"{message}; using it because {ALLOW_UNPINNED_ENV}=1", UnpinnedDataWarning, stacklevel=2)
    return False


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
