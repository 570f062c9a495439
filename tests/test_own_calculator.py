"""Validating a user's own calculator: import strings, entry points, the Python API, and bad input.

The calculators live in tests/own_calculators.py, a plain module outside alal, imported by string as a user's
package would be. EMT wrapped that way must give the registry's ``emt`` numbers exactly.
"""

from __future__ import annotations

import json

import pytest

from alal.cli import main as alal_main
from alal.errors import UnknownName
from alal.potentials.sources import ENTRY_POINT_GROUP, PotentialUnavailable, entry_points, probe, resolve
from validation import validate

PROPS = "eos,elastic"


def _numbers(entry: dict) -> dict:
    eos, elastic = entry["eos"]["fcc"], entry["elastic"]
    return {"a0_A": eos["a0_A"], "B_GPa": eos["B_GPa"], "E0_eV_per_atom": eos["E0_eV_per_atom"],
            "C11_GPa": elastic["C11_GPa"], "C12_GPa": elastic["C12_GPa"], "C44_GPa": elastic["C44_GPa"]}


@pytest.fixture(scope="module")
def registry_emt():
    return validate("emt", PROPS, quiet=True)["potentials"]["emt"]


def test_import_string_through_the_cli_equals_the_registry_emt(tmp_path, registry_emt, capsys):
    out = tmp_path / "r"
    code = alal_main(["validate", "--potentials", "own_calculators:wrapped_emt", "--properties", PROPS,
                      "--out", str(out), "--quiet"])
    assert code == 0, capsys.readouterr()
    results = json.loads((out / "results.json").read_text())
    entry = results["potentials"]["own_calculators:wrapped_emt"]
    assert _numbers(entry) == _numbers(registry_emt)
    info = results["meta"]["potentials"]["own_calculators:wrapped_emt"]
    assert info["kind"] == "external" and info["source"] == "own_calculators:wrapped_emt"
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file() and (out / "alal.log").is_file()


def test_potential_options_reach_the_callable(tmp_path):
    out = tmp_path / "r"
    assert alal_main(["validate", "--potentials", "own_calculators:wrapped_emt", "--potential-options",
                      '{"scale": 2.0}', "--properties", "eos", "--out", str(out), "--quiet", "--no-report"]) == 0
    results = json.loads((out / "results.json").read_text())
    plain = validate("own_calculators:wrapped_emt", "eos", quiet=True)
    e_scaled = results["potentials"]["own_calculators:wrapped_emt"]["eos"]["fcc"]["E0_eV_per_atom"]
    e_plain = plain["potentials"]["own_calculators:wrapped_emt"]["eos"]["fcc"]["E0_eV_per_atom"]
    assert e_scaled == pytest.approx(2.0 * e_plain, rel=1e-9)
    assert results["meta"]["potentials"]["own_calculators:wrapped_emt"]["options"] == {"scale": 2.0}


def test_python_api_with_a_calculator_object_and_a_factory_writes_the_same_files_as_the_cli(tmp_path, registry_emt):
    from ase.calculators.emt import EMT

    out = tmp_path / "api"
    results = validate({"object": EMT(), "factory": EMT}, PROPS, out=out, quiet=True)
    for label in ("object", "factory"):
        assert _numbers(results["potentials"][label]) == _numbers(registry_emt)
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["potentials"]["object"]["elastic"]["C11_GPa"] == results["potentials"]["object"]["elastic"]["C11_GPa"]
    assert on_disk["schema_version"] == results["meta"]["schema_version"]
    for name in ("results.json", "report.html", "report.pdf", "alal.log"):
        assert (out / name).is_file(), name


def test_entry_point_of_another_package(tmp_path, monkeypatch, registry_emt):
    # A real installed distribution's metadata (as pip writes it), found on sys.path like any installed package.
    dist = tmp_path / "site" / "alal_plugin_demo-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: alal-plugin-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nmy-emt = own_calculators:wrapped_emt\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert "my-emt" in entry_points()
    results = validate("my-emt", PROPS, quiet=True)
    assert _numbers(results["potentials"]["my-emt"]) == _numbers(registry_emt)
    assert results["meta"]["potentials"]["my-emt"]["entry_point"] == "my-emt"


def test_calculator_without_stress_is_told_which_properties_need_it(tmp_path, capsys):
    from own_calculators import EMTWithoutStress

    src = resolve(EMTWithoutStress(), label="nostress")
    assert probe(src).has_stress is False
    results = validate({"nostress": EMTWithoutStress()}, "eos,elastic,vacancy", quiet=True)
    entry = results["potentials"]["nostress"]
    assert "error" not in entry["eos"] and "error" not in entry["vacancy"]
    assert "needs the stress tensor" in entry["elastic"]["error"]
    assert any("nostress / elastic" in e and "stress" in e for e in results["meta"]["errors"])


@pytest.mark.parametrize("spec,message", [
    ("no_such_module_xyz:make", "cannot import module 'no_such_module_xyz'"),
    ("own_calculators:missing_name", "has no attribute 'missing_name'"),
    ("own_calculators:not_a_calculator", "returned float, not an ASE calculator"),
    ("own_calculators:NOT_CALLABLE", "neither a callable"),
    ("own_calculators:RaisesOnAluminium", "fails on a 4-atom FCC Al cell"),
])
def test_a_broken_potential_is_one_line_and_the_others_are_still_validated(tmp_path, capsys, spec, message):
    out = tmp_path / "r"
    code = alal_main(["validate", "--potentials", f"emt,{spec}", "--properties", "eos", "--out", str(out),
                      "--no-report"])
    printed = capsys.readouterr().out
    assert code == 1
    assert message in printed and spec in printed
    results = json.loads((out / "results.json").read_text())
    assert "error" not in results["potentials"]["emt"]["eos"]
    assert message in results["potentials"][spec]["error"]
    assert message in results["meta"]["potential_errors"][spec]


def test_unknown_name_still_stops_before_any_computation():
    with pytest.raises(UnknownName, match="package.module:callable"):
        resolve("no-such-potential")
    with pytest.raises(PotentialUnavailable):
        resolve("own_calculators:not_a_calculator").make_calculator("float64")


def test_bad_potential_options_are_one_clear_error(tmp_path, capsys):
    code = alal_main(["validate", "--potentials", "own_calculators:wrapped_emt", "--potential-options", "{oops",
                      "--out", str(tmp_path / "r")])
    assert code == 2
    assert "--potential-options is not valid JSON" in capsys.readouterr().err


def test_md_runs_for_a_users_calculator_through_ase(tmp_path, monkeypatch):
    """A calculator alal knows nothing about gets the MD protocols through ASE dynamics (tiny liquid run)."""
    import validation.properties.liquid_density as liquid_density
    from own_calculators import ScaledEMT

    def tiny(tier):
        return {"n_cells": 2, "n_atoms": 32, "dt_fs": 2.0, "T_K": [1273.0], "P_GPa": 0.0, "melt_T_K": 2000.0,
                "melt_ps": 0.2, "first_equil_ps": 0.2, "equil_ps": 0.1, "production_ps": 0.4, "tdamp_fs": 100.0,
                "pdamp_fs": 300.0, "sample_every": 5, "min_blocks": 4}

    monkeypatch.setattr(liquid_density, "protocol_settings", tiny)
    results = validate({"mine": ScaledEMT(1.0)}, "liquid_density", tier="full", out=tmp_path / "r", quiet=True)
    entry = results["potentials"]["mine"]["liquid_density"]
    assert "error" not in entry, entry.get("traceback")
    assert entry["settings"]["engine"] == "ase" and len(entry["rho_g_cm3"]) == 1 and entry["rho_g_cm3"][0] > 0
    assert list((tmp_path / "r" / "structures" / "liquid_density" / "mine").glob("*.extxyz"))
