"""The wheel a user gets from ``pip install .``: reference data, engine sources and templates inside it.

Built for real (setuptools through pip, no network: ``--no-build-isolation`` uses the venv's setuptools) from a
copy of the repository's files, so the working tree gets no build/ or *.egg-info folders.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _source_copy(dest: Path) -> Path:
    listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(src.read_bytes())
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    root = tmp_path_factory.mktemp("wheel")
    src = _source_copy(root / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                    "-w", str(root / "dist"), str(src)], check=True, capture_output=True)
    (path,) = (root / "dist").glob("alal-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_contains_the_reference_data(wheel):
    names = set(wheel.namelist())
    shipped = sorted(p.relative_to(REPO / "reference_data").as_posix()
                     for p in (REPO / "reference_data").rglob("*") if p.is_file() and p.suffix in (".json", ".md"))
    assert shipped, "reference_data/ is empty?"
    missing = [rel for rel in shipped if f"validation/reference_data/{rel}" not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_wheel_contains_engine_sources_templates_and_every_package(wheel):
    names = set(wheel.namelist())
    for src in (REPO / "alal/potentials/engine/csrc").iterdir():
        assert f"alal/potentials/engine/csrc/{src.name}" in names
    for tpl in (REPO / "validation/report/templates").iterdir():
        assert f"validation/report/templates/{tpl.name}" in names
    for init in list((REPO / "alal").rglob("__init__.py")) + list((REPO / "validation").rglob("__init__.py")):
        assert init.relative_to(REPO).as_posix() in names


def test_wheel_metadata_has_ranges_the_console_script_and_the_dft_extra(wheel):
    (meta_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    meta = wheel.read(meta_name).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert core and not any("==" in r for r in core), f"exact pins in the wheel's dependencies: {core}"
    assert not any(r.startswith("gpaw") for r in core), "GPAW must be an extra, not a core dependency"
    assert any(r.startswith("gpaw") and 'extra == "dft"' in r for r in requires)
    (ep_name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "alal = alal.cli:main" in wheel.read(ep_name).decode()


def test_installed_layout_finds_the_packaged_reference_data(wheel, tmp_path, monkeypatch):
    """Unpacked as site-packages, references load from validation/reference_data (not the source tree)."""
    site = tmp_path / "site"
    wheel.extractall(site)
    code = ("import validation.references as r; d = r.reference_dir(); refs = r.load_references(); "
            "print(d); assert 'site' in str(d) and refs.entries and refs.dft_data('eos')")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert str(site / "validation" / "reference_data") in done.stdout
