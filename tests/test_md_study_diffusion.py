"""`alal md-study diffusion`: the finite-size correction, the Arrhenius fit, the analysis over seeds (pure) and a
tiny real run that resumes."""

import json
import math

import numpy as np
import pytest
from ase import units

from alal.errors import AlalError
from conftest import needs_ani_al
from validation.studies.diffusion import (Protocol, analyse, arrhenius, markdown, plan, references, viscosity_Pa_s,
                                          yeh_hummer_correction)


def test_the_yeh_hummer_correction_and_the_experimental_viscosity_by_hand():
    visc, exp = references()
    assert exp["value_m2_s"] == 7.9e-9 and exp["T_K"] == 1020.0 and exp["Ea_eV"] == 0.28
    eta = viscosity_Pa_s(1020.0, visc)
    assert eta == pytest.approx(1e-3 * 10 ** (-0.7324 + 803.49 / 1020.0))  # ~1.14 mPa s
    # 2.837297 k_B T / (6 pi eta L), SI by hand: k_B = 1.380649e-23 J/K
    by_hand = 2.837297 * 1.380649e-23 * 1020.0 / (6 * math.pi * eta * 16.9e-10)
    assert yeh_hummer_correction(1020.0, eta, 16.9) == pytest.approx(by_hand, rel=1e-6)
    assert 0.9e-9 < by_hand < 1.3e-9  # ~14 % of the measured D for 256 atoms
    # the correction falls as 1/L: eight times the atoms, half the correction
    assert yeh_hummer_correction(1020.0, eta, 33.8) == pytest.approx(by_hand / 2, rel=1e-6)


def test_the_arrhenius_fit_recovers_a_known_activation_energy():
    T = np.array([980.0, 1020.0, 1060.0])
    D = 2e-7 * np.exp(-0.28 / (units.kB * T))
    fit = arrhenius(T, D)
    assert fit["Ea_eV"] == pytest.approx(0.28, rel=1e-9) and fit["D0_m2_s"] == pytest.approx(2e-7, rel=1e-9)
    assert arrhenius([1020.0], [7e-9])["Ea_eV"] is None


def test_the_analysis_averages_seeds_corrects_and_compares_with_experiment():
    visc, exp = references()
    pieces = [{"T_K": T, "seed": s, "n_atoms": 256, "L_A": 16.9, "D_pbc_m2_s": d}
              for T, ds in ((980.0, (6.0e-9, 6.2e-9, 6.4e-9)), (1020.0, (6.8e-9, 7.0e-9, 7.2e-9)), (1060.0, (7.6e-9, 7.8e-9, 8.0e-9)))
              for s, d in zip((1, 2, 3), ds)]
    res = analyse(pieces, visc, exp)
    r = {row["T_K"]: row for row in res["rows"]}
    assert r[1020.0]["D_pbc_m2_s"] == pytest.approx(7.0e-9) and r[1020.0]["D_pbc_sem_m2_s"] == pytest.approx(0.2e-9 / math.sqrt(3))
    assert r[1020.0]["D_inf_m2_s"] == pytest.approx(7.0e-9 + r[1020.0]["correction_m2_s"])
    assert res["ratio_to_experiment_pbc"] == pytest.approx(7.0 / 7.9)
    assert res["ratio_to_experiment_inf"] > res["ratio_to_experiment_pbc"]
    assert 0.1 < res["arrhenius_pbc"]["Ea_eV"] < 0.3
    md = markdown(res, "x")
    assert "| 1020 | 256 | 3 | 7.00 ±" in md and "Kargl" in md
    with pytest.raises(AlalError, match="2 seeds"):
        plan(n_seeds=1)


@needs_ani_al
def test_a_tiny_diffusion_study_runs_and_a_rerun_reuses_its_pieces(tmp_path, capsys):
    from alal.cli import main

    out = tmp_path / "d"
    args = ["md-study", "diffusion", "--potential", "ani-al", "--out", str(out), "--seeds", "2", "--T-K", "1020",
            "--melt-ps", "0.1", "--equil-ps", "0.1", "--nvt-equil-ps", "0.05", "--production-ps", "0.3", "--quiet"]
    assert main(args) == 0
    res = json.loads((out / "diffusion.json").read_text())
    (row,) = res["rows"]
    assert row["T_K"] == 1020.0 and row["n_seeds"] == 2 and all(d > 0 for d in row["seed_values_m2_s"])
    assert row["D_inf_m2_s"] > row["D_pbc_m2_s"]
    pieces = sorted((out / "pieces").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in pieces]
    assert len(pieces) == 2 and main(args) == 0 and [p.stat().st_mtime_ns for p in pieces] == stamps
    capsys.readouterr()
    assert main(["md-study", "diffusion", "--out", str(out), "--variants", "float64"]) == 2
    assert "liquid-density" in capsys.readouterr().err
    assert Protocol().n_atoms == 256
