"""The run directory: its layout, the manifest, and seeds.

RUN_DIR/
  manifest.json        config (resolved, with defaults), versions, seeds, config changes on resume, sessions
  config.toml          the config as given (copy)
  ase.db               every structure, label, attempt, trajectory and generation (see alal.data.store)
  models/gen-NNN/      one alal model directory per generation (alal.potentials.load accepts it)
  work/oracle/…        one folder per labelling attempt (input, result, calculator log)
  work/traj/…          sampler task files and one result file per trajectory
  work/train/gen-NNN/  the exact training set of a generation (extxyz) and the training log
  cache/features/…     AEVs and their Jacobians per structure hash (reused by every generation)
  parsl/               Parsl's own logs (run state is never read from here)
  report.md            the run report (alal status; alal study table1 appends)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import time
from pathlib import Path

from alal.errors import AlalError

MANIFEST = "manifest.json"
LOCK = "driver.lock"
_HELD: dict[str, object] = {}  # run directory -> the open lock file of this process's driver (held until exit)


def new_run_id() -> str:
    """A fresh run id. Prefixed: ASE's database refuses a string value that reads as a number, and a bare 16-digit
    hex string does now and then ("4768663127e74049" is a float; it stopped a test run's start)."""
    return "run-" + os.urandom(8).hex()


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()

    # layout
    @property
    def db(self) -> Path:
        return self.path / "ase.db"

    @property
    def models(self) -> Path:
        return self.path / "models"

    def model(self, generation: int) -> Path:
        return self.models / f"gen-{generation:03d}"

    @property
    def oracle_work(self) -> Path:
        return self.path / "work" / "oracle"

    @property
    def traj_work(self) -> Path:
        return self.path / "work" / "traj"

    def train_work(self, generation: int) -> Path:
        return self.path / "work" / "train" / f"gen-{generation:03d}"

    @property
    def features(self) -> Path:
        return self.path / "cache" / "features"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def create(self) -> None:
        """Make the folders; a clear error when the place is not writable (nothing is left half-made)."""
        parent = self.path.parent
        if not parent.exists():
            raise AlalError(f"cannot create run directory '{self.path}': its parent folder does not exist")
        if not parent.is_dir():
            raise AlalError(f"cannot create run directory '{self.path}': '{parent}' is not a folder")
        if self.path.exists() and not self.path.is_dir():
            raise AlalError(f"run directory '{self.path}' exists and is not a folder")
        target = self.path if self.path.exists() else parent
        if not os.access(target, os.W_OK | os.X_OK):
            raise AlalError(f"run directory '{self.path}' is not writable")
        try:
            for p in (self.path, self.models, self.oracle_work, self.traj_work, self.features, self.path / "work" / "train"):
                p.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise AlalError(f"run directory '{self.path}' cannot be written ({exc.strerror or exc})") from None

    # one driver at a time
    def lock(self) -> None:
        """Take the run's driver lock (``RUN/driver.lock``) or refuse with who holds it: two drivers of one run
        would label the same structures and submit the same tasks twice. A POSIX record lock (``lockf``): the
        kernel drops it when the process ends, SIGKILL included, so it never goes stale; the same process may
        take it again (the Table I study after training, tests); it is held until the process exits."""
        import fcntl

        key = str(self.path)
        if key in _HELD:
            return
        fh = open(self.path / LOCK, "a+")
        fh.seek(0)
        try:
            fcntl.lockf(fh, fcntl.LOCK_EX | fcntl.LOCK_NB, 0, 0, os.SEEK_SET)  # the whole file
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise AlalError(f"run directory '{self.path}' is in use by another driver ({holder}); two drivers of "
                            f"one run would do the same work twice: wait for it to end or stop it, then "
                            f"'alal train --resume {self.path}'") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()} since {now_iso()}\n")
        fh.flush()
        _HELD[key] = fh

    def unlock(self) -> None:
        """Release the driver lock of this process (a driver that returns; exiting releases it anyway)."""
        fh = _HELD.pop(str(self.path), None)
        if fh is not None:
            fh.close()

    # manifest
    def read_manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError) as exc:
            raise AlalError(f"'{self.manifest_path}' cannot be read ({exc}); is '{self.path}' an alal run directory?") from None

    def write_manifest(self, manifest: dict) -> None:
        write_json_atomic(self.manifest_path, manifest)


def new_manifest(config: dict, config_source: str, seed: int, oracle_settings: dict, oracle_hash: str) -> dict:
    return {
        "format": "alal-al-run-v1",
        "run_id": new_run_id(),  # names the run in its database (a database of another run is refused)
        "created": now_iso(),
        "config": config,
        "config_source": config_source,
        "versions": versions(),
        "seeds": {"master": seed,
                  "derivation": "sha256('<master>:<tag>:...')[:8] >> 1 per use; recorded with each record"},
        "oracle_settings": oracle_settings,
        "oracle_hash": oracle_hash,
        "sessions": [{"started": now_iso(), "versions": versions()}],
        "config_changes": [],
    }


def record_resume(manifest: dict, config: dict, changes: list[tuple]) -> None:
    """A resumed session in the manifest, with the config changes (key, old, new) it applies."""
    if changes:
        manifest.setdefault("config_changes", []).append(
            {"at": now_iso(), "changes": [{"key": k, "old": o, "new": n} for k, o, n in changes]})
        manifest["config"] = config
    manifest.setdefault("sessions", []).append({"started": now_iso(), "versions": versions()})


def read_json(path: Path):
    """The JSON in ``path``, or None when it is missing or unreadable (files are written atomically, so that
    means "not there yet")."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, default=_json_default)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform(), "host": socket.gethostname()}
    for mod in ("alal", "torch", "torchani", "ase", "numpy", "scipy", "parsl", "gpaw", "h5py"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", "?")
        except Exception:  # noqa: BLE001 - a missing optional package is recorded as such
            out[mod] = None
    return out


def seed_for(master: int, *tags) -> int:
    """A 63-bit seed derived from the run's master seed and a tag path (recorded wherever it is used)."""
    text = ":".join([str(master), *map(str, tags)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
