"""The four MD properties end to end (results.json + report) with small settings, and the quick-tier budget."""

from __future__ import annotations

import json

import validation.properties.heat_cool as heat_cool
import validation.properties.liquid_density as liquid_density
import validation.properties.melting as melting
import validation.properties.rdf as rdf
from validation.runner import run_validation

MD = ["liquid_density", "rdf", "melting", "heat_cool"]


def test_budget_rule_skips_md_with_a_reason(tmp_path, monkeypatch):
    """With no budget every MD property is skipped after the throughput probe, and the report says why."""
    monkeypatch.setenv("ALAL_MD_BUDGET_SCALE", "0")
    monkeypatch.setenv("ALAL_MD_QUICK_SKIP", "")  # EMT is on the quick tier's skip list: take it off
    res = run_validation(["emt"], MD, out=tmp_path / "out", tier="quick", log=lambda m: None)
    for prop in MD:
        entry = res["potentials"]["emt"][prop]
        assert entry["skipped"] is True
        assert "skipped in the quick tier" in entry["reason"] and "atom-steps/s" in entry["reason"]
        assert entry["budget"]["throughput_atom_steps_per_s"] > 0
    html = (tmp_path / "out" / "report.html").read_text()
    assert "skipped in the quick tier" in html


def test_quick_tier_leaves_emt_out_by_policy_without_running_md(tmp_path, monkeypatch):
    """EMT is on QUICK_SKIP: every MD property says so, no MD and no throughput probe are run."""
    monkeypatch.delenv("ALAL_MD_QUICK_SKIP", raising=False)
    monkeypatch.delenv("ALAL_MD_BUDGET_SCALE", raising=False)
    res = run_validation(["emt"], MD, out=tmp_path / "out", tier="quick", log=lambda m: None)
    for prop in MD:
        entry = res["potentials"]["emt"][prop]
        assert entry["skipped"] is True and "QUICK_SKIP" in entry["reason"]
        assert entry["budget"]["throughput_atom_steps_per_s"] is None  # nothing was measured or run
    assert "section failed to render" not in (tmp_path / "out" / "report.html").read_text()


def _small(monkeypatch):
    melting_quick = melting.protocol_settings("quick")
    heat_quick = heat_cool.protocol_settings("quick")

    def density(tier):
        return {"n_cells": 3, "n_atoms": 108, "dt_fs": 2.0, "T_K": [1123.0, 1273.0], "P_GPa": 0.0,
                "melt_T_K": 2000.0, "melt_ps": 1.0, "first_equil_ps": 0.5, "equil_ps": 0.3, "production_ps": 1.0,
                "tdamp_fs": 100.0, "pdamp_fs": 300.0, "sample_every": 5, "min_blocks": 4}

    def rdf_settings(tier):
        return {"T_K": [1123.0, 1273.0], "n_cells": 3, "n_atoms": 108, "dt_fs": 2.0, "equil_ps": 0.2, "n_frames": 12,
                "frame_interval_ps": 0.1, "bin_A": 0.05, "r_max_A": 8.0, "tdamp_fs": 100.0, "n_blocks": 3,
                "prep": density(tier)}

    def melting_settings(tier):
        s = dict(melting_quick)
        s.update({"rounds": [[{"P_GPa": 0.0, "lattice": "fcc", "seeds": 2}]], "repeat": {"fcc": [3, 3, 8]},
                  "solid_ps": 0.5, "melt_ps": 0.4, "settle_ps": 0.3, "contact_ps": 0.2, "nph_ps": 1.5,
                  "average_last_ps": 1.0, "max_attempts": 1})
        return s

    def heat_settings(tier):
        s = dict(heat_quick)
        s.update({"heat_ps": 6.0, "cool_ps": 6.0, "seeds": 2, "frame_interval_ps": 0.5})
        return s

    monkeypatch.setattr(liquid_density, "protocol_settings", density)
    monkeypatch.setattr(rdf, "protocol_settings", rdf_settings)
    monkeypatch.setattr(melting, "protocol_settings", melting_settings)
    monkeypatch.setattr(heat_cool, "protocol_settings", heat_settings)


def test_md_properties_end_to_end_on_eam(tmp_path, monkeypatch):
    """Short versions of all four protocols on Mendelev 2008 (LAMMPS): results.json layout and report figures."""
    _small(monkeypatch)
    out = tmp_path / "out"
    run_validation(["eam-mendelev2008"], MD, out=out, tier="quick", log=lambda m: None)
    res = json.loads((out / "results.json").read_text())
    entry = res["potentials"]["eam-mendelev2008"]
    for prop in MD:
        assert "error" not in entry[prop], entry[prop].get("traceback")
        assert not entry[prop].get("skipped")
    d = entry["liquid_density"]
    assert d["T_K"] == [1123.0, 1273.0] and len(d["rho_g_cm3"]) == 2 and all(e > 0 for e in d["err_g_cm3"])
    assert 2.1 < d["rho_g_cm3"][0] < 2.5
    r = entry["rdf"]
    assert r["source_of_liquid"].startswith("liquid_density")  # the NPT states were reused
    for T in ("1123", "1273"):
        assert 2.6 < r[T]["peak_r_A"] < 3.0 and r[T]["peak_g"] > 2.0 and 9.0 < r[T]["cn"] < 14.0
        assert len(r[T]["r_A"]) == len(r[T]["g"])
    # tabulated g(r): the data directory's tables where it has them (the shared data does), else reported missing
    from alal.config import data_dir

    tables = data_dir() / "reference" / "liquid_rdf"
    for T in ("1123", "1273"):
        if any(tables.glob(f"*_{T}K.dat")):
            e = r[T]["experiment"]
            assert T not in r["experiment_missing"] and 0.0 < e["rms_g_difference"] < 0.5 and 2.6 < e["peak_r_A"] < 3.0
        else:
            assert T in r["experiment_missing"]
    m = entry["melting"]
    assert set(m) >= {"P_GPa", "Tm_K", "err_K", "Tm_0GPa_K", "dTm_dP_K_per_GPa", "runs"}
    assert len(m["runs"]) == 2 and all(len(run["solid_share"]) == 3 for run in m["runs"])
    h = entry["heat_cool"]
    assert set(h["fractions"]) == {"fcc", "hcp", "bcc", "other"}
    assert h["fractions"]["fcc"][0] > 0.9  # starts as a crystal
    assert "t_melt_ps" in h and "t_freeze_ps" in h
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"liquid_density.png", "liquid_rdf.png", "melting_line.png", "heat_cool_thermo.png",
            "heat_cool_cna.png"} <= figs
    html = (out / "report.html").read_text()
    assert "section failed to render" not in html
    assert "Mauro" in html and "RMS Δg" in html  # the paper's g(r) source named; the RMS column against the tables


def test_reference_spot_checks_on_trajectory_frames():
    """The full tier's DFT spot checks, with EMT standing in for GPAW: MAEs of energy, mean force and pressure."""
    import numpy as np

    from alal import potentials
    from alal.structures import fcc_cubic

    rng = np.random.default_rng(0)
    frames = []
    for i in range(3):
        a = fcc_cubic(4.05, 3)
        a.positions += rng.normal(0.0, 0.1 * (i + 1), a.positions.shape)
        frames.append({"t_ps": 2.5 * i, "positions": a.positions, "cell": a.cell.array})
    out = heat_cool.dft_spot_checks({"dft_frames": frames},
                                    lambda: (potentials.load("eam-mendelev2008"), potentials.load("emt")))
    assert len(out["frames"]) == 3
    # EMT and Mendelev are different potentials: their differences are finite and non-zero
    for key in ("mae_energy_meV_per_atom", "mae_mean_force_meV_per_A", "mae_pressure_GPa"):
        assert 0 < out[key] < 1e4
    same = heat_cool.dft_spot_checks({"dft_frames": frames},
                                     lambda: (potentials.load("emt"), potentials.load("emt")))
    assert same["mae_energy_meV_per_atom"] < 1e-9 and same["mae_pressure_GPa"] < 1e-9  # a potential against itself
