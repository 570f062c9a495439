"""Liquid density and g(r) protocols on EAM potentials (LAMMPS), against experiment."""

from __future__ import annotations

import numpy as np
import pytest

from alal import potentials
from alal.md import engine_for
from alal.structures import fcc_cubic
from conftest import needs_ani_al, needs_mishin
from validation.properties.liquid_density import evaluate_curve, experimental_curves, run_liquid_series
from validation.properties.rdf import load_experimental_rdf
from validation.references import load_references

SHORT = {"dt_fs": 2.0, "P_GPa": 0.0, "melt_T_K": 2000.0, "melt_ps": 1.5, "first_equil_ps": 1.5, "equil_ps": 1.0,
         "production_ps": 2.0, "tdamp_fs": 100.0, "pdamp_fs": 500.0, "sample_every": 5, "min_blocks": 4}


# Tolerances fixed before running: Mendelev 2008 was fitted to liquid data (density and structure near Tm), so
# 2 % (experiments scatter by ~1 %, 2 ps of 256 atoms give ~0.3 %); Mishin 1999 was fitted to crystal data only,
# and the issue asks for "within a few percent": 5 %.
@pytest.mark.parametrize("name,rel", [("eam-mendelev2008", 0.02),
                                      pytest.param("eam-mishin1999", 0.05, marks=needs_mishin)])
def test_liquid_density_within_a_few_percent_of_experiment(name, rel):
    engine = engine_for(potentials.load(name))
    atoms = fcc_cubic(4.05 * 1.12 ** (1 / 3), 4)  # 256 atoms
    (point,) = run_liquid_series(atoms, engine, [1123.0], SHORT, seed=5)
    assert not point["crystallised"]
    assert abs(point["P_mean_GPa"]) < 0.1  # the barostat held 1 atm
    assert point["err_g_cm3"] < 0.02
    assessed = {c["key"]: c for c in experimental_curves(load_references())}["assael2006"]
    rho_exp = float(evaluate_curve(assessed, 1123.0))  # 2.318 g/cm³
    assert point["rho_g_cm3"] == pytest.approx(rho_exp, rel=rel)
    # the state handed to the rdf property is the liquid at that density
    assert point["state"].get_volume() == pytest.approx(point["V_mean_A3"], rel=0.05)
    assert np.abs(point["state"].get_velocities()).max() > 0


def test_experimental_rdf_files_are_read_when_present(tmp_path):
    from alal.errors import AlalError

    assert load_experimental_rdf(tmp_path, 1123.0) is None  # the shipped slot is empty
    r = np.linspace(1.5, 10.0, 50)
    body = "\n".join(f"{x:.3f} {1 + np.exp(-(x - 2.8) ** 2 / 0.05):.4f}" for x in r)
    (tmp_path / "mauro2011_1123K.dat").write_text(f"# label: test curve\n# citation: none\n{body}\n")
    exp = load_experimental_rdf(tmp_path, 1123.0)
    assert exp["label"] == "test curve" and len(exp["r_A"]) == 50
    assert load_experimental_rdf(tmp_path, 1183.0) is None
    (tmp_path / "bad_1183K.dat").write_text("1.0 x\n" * 20)
    with pytest.raises(AlalError, match="cannot read"):
        load_experimental_rdf(tmp_path, 1183.0)


def test_the_project_slot_comes_first_then_the_data_directory_tables(tmp_path, monkeypatch):
    from validation.properties.rdf import experiment_dirs, find_experimental_rdf
    from validation.references import load_references

    data = tmp_path / "data"
    (data / "reference" / "liquid_rdf").mkdir(parents=True)
    r = np.linspace(0.0, 10.0, 201)
    body = "\n".join(f"{x:.3f},{1 + np.exp(-(x - 2.8) ** 2 / 0.05):.4f}" for x in r)
    (data / "reference" / "liquid_rdf" / "tables_943K.dat").write_text(f"# label: data-dir table\n# citation: how\n{body}\n")
    monkeypatch.setenv("ALAL_DATA_DIR", str(data))
    folders = experiment_dirs(load_references())
    assert folders[1] == data / "reference" / "liquid_rdf"
    exp = find_experimental_rdf(folders, 943.0)
    assert exp["label"] == "data-dir table" and exp["citation"] == "how" and len(exp["r_A"]) == 201
    slot = tmp_path / "slot"
    slot.mkdir()
    (slot / "own_943K.dat").write_text(f"# label: own table\n{body}\n")
    assert find_experimental_rdf([slot, folders[1]], 943.0)["label"] == "own table"
    assert find_experimental_rdf(folders, 1000.0) is None


@needs_ani_al
def test_the_shared_liquid_rdf_tables_parse_and_compare():
    """The data directory's tables (943-1323 K): each parses, its first peak lies where liquid Al's does, and the
    comparison of a curve with itself has zero RMS difference."""
    from alal.config import data_dir
    from validation.properties.rdf import DATA_DIR_TABLES, compare_to_experiment

    folder = data_dir().joinpath(*DATA_DIR_TABLES)
    if not folder.is_dir():
        pytest.skip(f"no g(r) tables in {folder}")
    for T in (943.0, 1123.0, 1183.0, 1273.0, 1323.0):
        exp = load_experimental_rdf(folder, T)
        assert exp is not None and "hippynn" in exp["citation"]
        res = {"r_A": exp["r_A"], "g": exp["g"], "number_density_A3": 0.0506, "r_max_A": 8.0}
        cmp = compare_to_experiment(res, exp)
        assert 2.6 < cmp["peak_r_A"] < 2.95 and 2.2 < cmp["peak_g"] < 3.3, (T, cmp["peak_r_A"], cmp["peak_g"])
        assert cmp["rms_g_difference"] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
@needs_ani_al
def test_ani_al_liquid_density_near_experiment():
    """ANI-Al (fast engine, float32, ASE dynamics) at 1123 K: the paper's Fig. 4b has it close to experiment."""
    engine = engine_for(potentials.load("ani-al", dtype="float32"))
    atoms = fcc_cubic(4.04 * 1.12 ** (1 / 3), 4)  # 256 atoms
    (point,) = run_liquid_series(atoms, engine, [1123.0], SHORT, seed=5)
    assert not point["crystallised"]
    assessed = {c["key"]: c for c in experimental_curves(load_references())}["assael2006"]
    # 3 %: the paper's ANI-Al densities lie within ~1-2 % of Assael's; 2 ps of 256 atoms add ~0.3 %
    assert point["rho_g_cm3"] == pytest.approx(float(evaluate_curve(assessed, 1123.0)), rel=0.03)
