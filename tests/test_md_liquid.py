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
