"""Build (once, cached) and load the C++ kernels in ``csrc/`` (``kernels.cpp`` and the headers it includes).

The kernels have a plain C ABI and no torch headers, so a build is one ``g++`` call of a few seconds; it
happens on first use and is cached under ``$ALAL_CACHE_DIR`` (default ``~/.cache/alal``; a temporary folder
when that is not writable), keyed by a hash of the source, compiler and flags. Concurrent first uses are
serialised with a file lock (``fcntl.flock``: released by the kernel when a process dies, so a killed build
never blocks later ones). Any failure raises :class:`NativeUnavailable` with the compiler's message; the
engine then falls back to its pure-torch backend and says so.

Threads: the kernels run their own small thread pool (idle workers sleep rather than spin, which matters
on shared machines); the Python side passes ``torch.get_num_threads()``, so ``torch.set_num_threads``
applies to the engine too.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SOURCE_DIR = Path(__file__).with_name("csrc")
SOURCE = SOURCE_DIR / "kernels.cpp"  # the one translation unit; it includes the headers beside it
ABI_VERSION = 7
BASE_FLAGS = ["-O3", "-std=c++17", "-fPIC", "-shared", "-pthread", "-fno-math-errno", "-fno-trapping-math"]

_LOADED: "NativeKernels | None" = None
_FAILURE: str | None = None


class NativeUnavailable(RuntimeError):
    """The compiled kernels could not be built or loaded (no compiler, compile error, ...)."""


def cache_dir() -> Path:
    """Where built kernels live: $ALAL_CACHE_DIR/engine, else ~/.cache/alal/engine, else a temp folder."""
    env = os.environ.get("ALAL_CACHE_DIR")
    candidates = [Path(env).expanduser() / "engine"] if env else []
    xdg = os.environ.get("XDG_CACHE_HOME")
    candidates.append((Path(xdg) if xdg else Path.home() / ".cache") / "alal" / "engine")
    candidates.append(Path(tempfile.gettempdir()) / f"alal-{os.getuid() if hasattr(os, 'getuid') else 'user'}" / "engine")
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
            return path
        except OSError:
            continue
    raise NativeUnavailable("no writable cache folder for the compiled kernels (set ALAL_CACHE_DIR)")


def isa_flags() -> list[str]:
    """AVX2+FMA when this CPU has them (torch's own dispatch test), else the compiler's baseline."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # pragma: no cover - very old torch
        capability = "DEFAULT"
    if platform.machine() in ("x86_64", "AMD64") and capability in ("AVX2", "AVX512"):
        return ["-mavx2", "-mfma"]
    return []


def compiler() -> str:
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return name
    raise NativeUnavailable("no C++ compiler found (install g++ or set CXX)")


def _compiler_version(cxx: str) -> str:
    try:
        return subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout.split("\n")[0]
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_path() -> tuple[Path, list[str]]:
    cxx = compiler()
    flags = BASE_FLAGS + isa_flags()
    key = hashlib.sha256()
    sources = [p.read_bytes() for p in sorted(SOURCE_DIR.glob("*")) if p.suffix in (".cpp", ".h")]
    for part in (*sources, " ".join(flags).encode(), _compiler_version(cxx).encode(),
                 platform.machine().encode(), str(ABI_VERSION).encode()):
        key.update(part)
        key.update(b"\0")
    name = f"alal_kernels-{key.hexdigest()[:16]}.so"
    return cache_dir() / name, [cxx, *flags]


def build(verbose: bool = False) -> Path:
    """Compile the kernels into the cache (no-op when an up-to-date build exists); return the library path."""
    import fcntl

    lib, command = library_path()
    if lib.exists():
        return lib
    lock_path = lib.with_suffix(".lock")
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same library
        except OSError:  # file systems without locks: the atomic rename below still keeps builds whole
            pass
        if lib.exists():
            return lib
        tmp = lib.with_name(f"{lib.name}.tmp{os.getpid()}")
        cmd = [*command, str(SOURCE), "-o", str(tmp)]
        if verbose:
            print("alal engine: building kernels:", " ".join(cmd), file=sys.stderr)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            raise NativeUnavailable(f"compiling the engine kernels failed: {exc}") from exc
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            tail = (proc.stderr or proc.stdout).strip()[-2000:]
            raise NativeUnavailable(f"compiling the engine kernels failed ({' '.join(cmd)}):\n{tail}")
        os.replace(tmp, lib)  # atomic: a half-written library is never visible under the final name
    return lib


def load() -> "NativeKernels":
    """The loaded kernels (built on first use). Raises NativeUnavailable, remembering the first failure."""
    global _LOADED, _FAILURE
    if os.environ.get("ALAL_ENGINE_NATIVE", "1") == "0":  # read on every call: switchable at run time
        raise NativeUnavailable("disabled by ALAL_ENGINE_NATIVE=0")
    if _LOADED is not None:
        return _LOADED
    if _FAILURE is not None:
        raise NativeUnavailable(_FAILURE)
    try:
        _LOADED = NativeKernels(ctypes.CDLL(str(build())))
    except NativeUnavailable as exc:
        _FAILURE = str(exc)
        raise
    except OSError as exc:
        _FAILURE = f"loading the engine kernels failed: {exc}"
        raise NativeUnavailable(_FAILURE) from exc
    return _LOADED


def available() -> bool:
    try:
        load()
    except NativeUnavailable:
        return False
    return True


_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_INT = ctypes.c_int
_DBL = ctypes.c_double


class NativeKernels:
    """ctypes signatures of the C ABI; every array argument is a raw pointer (``array.ctypes.data``)."""

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        lib.alal_abi_version.restype = _INT
        if lib.alal_abi_version() != ABI_VERSION:
            raise NativeUnavailable(f"kernel library ABI {lib.alal_abi_version()} != {ABI_VERSION}")
        lib.alal_max_sections.restype = _INT
        self.max_sections = lib.alal_max_sections()
        lib.alal_nl_build.restype = _P
        lib.alal_nl_build.argtypes = [_I64, _P, _P, _P, _DBL, _INT]
        lib.alal_nl_error.restype = ctypes.c_char_p
        lib.alal_nl_error.argtypes = [_P]
        lib.alal_nl_entries.restype = _I64
        lib.alal_nl_entries.argtypes = [_P]
        lib.alal_nl_export.restype = None
        lib.alal_nl_export.argtypes = [_P, _P, _P, _P, _P]
        lib.alal_nl_free.restype = None
        lib.alal_nl_free.argtypes = [_P]
        for suffix in ("f32", "f64"):
            f = getattr(lib, f"alal_geometry_{suffix}")
            f.restype = _DBL
            f.argtypes = [_I64, _P, _P, _P, _P, _P, _P, _P, _P, _I64, _P, _INT]
            f = getattr(lib, f"alal_aev_forward_{suffix}")
            f.restype = None
            f.argtypes = [_I64, _P, _P, _P, _P, _I64, _P, _P, _P, _P, _P, _P, _P, _P, _INT]
            f = getattr(lib, f"alal_evaluate_{suffix}")
            f.restype = None
            f.argtypes = [_I64, _P, _P, _P, _P, _I64, _P, _P, _P, _P, _P, _P, _P,  # structure, geometry, AEV
                          _P, _P, _I64,  # atom order and blocks
                          _P, _P, _P, _INT, _DBL,  # networks
                          _INT, _P, _P, _P, _INT]  # channels, channel weights, outputs, threads
            f = getattr(lib, f"alal_gather_{suffix}")
            f.restype = None
            f.argtypes = [_I64, _P, _P, _P, _I64, _P, _INT, _P, _P, _I64, _P, _P, _INT]
        lib.alal_simd_width_f32.restype = _INT
        self.contract_max_members = lib.alal_simd_width_f32()
        for name in ("alal_jac_contract_f32", "alal_jac_contract_t_f32"):
            f = getattr(lib, name)
            f.restype = None
            f.argtypes = [_I64, _INT, _INT, _INT, _I64, _P, _P, _P, _P, _P, _P, _INT]

    def neighbor_list(self, positions, cell, pbc, cutoff: float, threads: int):
        """Half-list search in a cell list, expanded to a symmetric CSR list: (offsets, nbr, shift, partner)."""
        import numpy as np

        n = len(positions)
        pos = np.ascontiguousarray(positions, dtype=np.float64)
        cel = np.ascontiguousarray(cell, dtype=np.float64)
        pb = np.ascontiguousarray(pbc, dtype=np.int32)
        handle = self.lib.alal_nl_build(n, pos.ctypes.data, cel.ctypes.data, pb.ctypes.data, float(cutoff), threads)
        try:
            err = self.lib.alal_nl_error(handle).decode()
            if err:
                raise ValueError(err)
            ne = self.lib.alal_nl_entries(handle)
            offsets = np.empty(n + 1, dtype=np.int64)
            nbr = np.empty(ne, dtype=np.int32)
            shift = np.empty((ne, 3), dtype=np.int32)
            partner = np.empty(ne, dtype=np.int64)
            self.lib.alal_nl_export(handle, offsets.ctypes.data, nbr.ctypes.data, shift.ctypes.data, partner.ctypes.data)
        finally:
            self.lib.alal_nl_free(handle)
        return offsets, nbr, shift, partner

    def fn(self, name: str, dtype: str):
        return getattr(self.lib, f"alal_{name}_{'f32' if dtype == 'float32' else 'f64'}")
