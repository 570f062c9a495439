"""Cold curves, elastic constants, the runner and the reports, on real (EMT, EAM, ANI-Al) computations."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from alal import potentials
from alal.cli import main as alal_main
from conftest import needs_ani_al, needs_mishin
from validation.properties.base import PotentialContext
from validation.properties.eos import ColdCurves, birch_murnaghan, fit_birch_murnaghan
from validation.properties.elastic import ElasticConstants, cubic_matrix, fit_cubic, voigt_strain_tensor
from validation.references import load_references


def context(name: str, tier: str = "quick") -> PotentialContext:
    return PotentialContext(name=name, tier=tier, references=load_references(),
                            make_calculator=lambda dtype: potentials.load(name, dtype=dtype), progress=lambda m: None)


# ----------------------------------------------------------------------------------------------- pure pieces


def test_birch_murnaghan_fit_recovers_its_parameters():
    v = np.linspace(15.0, 18.5, 11)
    e = birch_murnaghan(v, -3.4, 16.6, 0.48, 4.6)
    fit = fit_birch_murnaghan(v, e)
    assert fit["V0_A3_per_atom"] == pytest.approx(16.6, abs=1e-6)
    assert fit["B_GPa"] == pytest.approx(0.48 * 160.21766208, rel=1e-6)
    assert fit["Bprime"] == pytest.approx(4.6, abs=1e-4)


def test_cubic_fit_recovers_a_known_tensor():
    c = cubic_matrix(110.0, 60.0, 30.0)
    strains, stresses = [], []
    for comp in range(6):
        for d in (0.005, -0.005, 0.01, -0.01):
            e = np.zeros(6)
            e[comp] = d
            strains.append(e)
            stresses.append(c @ e + 0.1)  # a residual stress must not bias the constants
    fitted, resid = fit_cubic(np.array(strains), np.array(stresses))
    assert (fitted["C11_GPa"], fitted["C12_GPa"], fitted["C44_GPa"]) == pytest.approx((110, 60, 30), abs=1e-9)
    assert resid < 1e-9
    assert voigt_strain_tensor(3, 0.02)[1, 2] == pytest.approx(0.01)  # engineering shear: γ = 2 ε_yz


# ----------------------------------------------------------------------------------------------- EMT physics


@pytest.fixture(scope="module")
def emt_results():
    ctx = context("emt")
    return ctx, ColdCurves().run(ctx), ElasticConstants().run(ctx)


def test_emt_cold_curves_are_self_consistent(emt_results):
    ctx, eos, elastic = emt_results
    d = eos.data
    # The EOS minimum and the zero-pressure lattice constant are the same point of the same function.
    assert d["fcc"]["a0_A"] == pytest.approx(ctx.fcc_a0(), abs=2e-3)
    # Bulk modulus from the curvature of E(V) and from (C11 + 2 C12)/3 measure the same thing at a0; the narrow
    # (±6 %) fit is the better curvature for a smooth potential (EMT is far from Birch-Murnaghan over ±10 %).
    assert d["fcc"]["fit_6pct"]["B_GPa"] == pytest.approx(elastic.data["B_GPa"], rel=0.03)
    # Relaxing c/a can only lower the HCP energy; FCC is the zero of the energy scale.
    assert d["hcp"]["dE_meV_per_atom"] <= d["hcp_ideal"]["dE_meV_per_atom"] + 1e-6
    assert d["fcc"]["dE_meV_per_atom"] == 0.0
    for struct in ("fcc", "bcc", "sc", "diamond"):
        assert d[struct]["minimum_inside_scan"]
        # EMT is smooth: near the minimum a Birch-Murnaghan curve describes it to well under a meV.
        assert d[struct]["fit_6pct"]["fit_rms_meV_per_atom"] < 0.5
    # Open structures are less dense at their minimum.
    v = {s: d[s]["V0_A3_per_atom"] for s in ("fcc", "bcc", "sc", "diamond")}
    assert v["fcc"] < v["sc"] < v["diamond"]
    curve = d["curves"]["fcc"]
    assert min(curve["V_A3_per_atom"]) <= 11.0 and max(curve["V_A3_per_atom"]) >= 25.0


def test_emt_elastic_constants_are_stable_across_strains(emt_results):
    _ctx, _eos, elastic = emt_results
    d = elastic.data
    assert d["residual_GPa"] < 0.05  # EMT is smooth: the linear fit must be nearly exact
    for key in ("C11_GPa", "C12_GPa", "C44_GPa"):
        values = [v[key] for v in d["by_strain"].values()]
        assert max(values) - min(values) < 0.02 * abs(d[key]) + 0.5
    c = np.array(d["C_matrix_GPa"])
    assert np.allclose(c, c.T, atol=0.05)  # stress-strain of a hyperelastic crystal is symmetric
    assert abs(d["residual_stress_GPa"][0]) < 1e-3  # evaluated at the potential's own zero-pressure a0


# ----------------------------------------------------------------------------------------------- regressions


@needs_mishin
def test_mishin1999_reproduces_its_published_elastic_constants():
    ctx = context("eam-mishin1999")
    d = ElasticConstants().run(ctx).data
    # Mishin et al. fitted these exactly; the NIST setfl tabulation (spline-interpolated by LAMMPS) and our
    # strain protocol reproduce them to ~1 %: 1.5 GPa (1.3-5 %) is that plus rounding of the published table.
    assert d["C11_GPa"] == pytest.approx(114.0, abs=1.5)
    assert d["C12_GPa"] == pytest.approx(61.6, abs=1.5)
    assert d["C44_GPa"] == pytest.approx(31.6, abs=1.5)
    assert ctx.fcc_a0() == pytest.approx(4.05, abs=1e-3)  # fitted to experiment's 4.05 Å


@pytest.mark.parametrize("name,a0,tol", [
    # Mendelev et al. 2008 fitted a0 to experiment extrapolated to 0 K: 4.045 Å (their Table 1).
    ("eam-mendelev2008", 4.045, 1e-3),
    pytest.param("eam-mishin1999", 4.05, 1e-3, marks=needs_mishin),
])
def test_eam_lattice_constants(name, a0, tol):
    assert context(name).fcc_a0() == pytest.approx(a0, abs=tol)


@needs_ani_al
def test_ani_al_elastic_constants_against_the_paper():
    ctx = context("ani-al")
    d = ElasticConstants().run(ctx).data
    # The paper gives C11 117, C12 57.2, C44 30.4, B 77.3 GPa without its strain amplitude or lattice constant.
    # ANI-Al's energy surface is rough: across 0.25-2 % strain our C12 moves by ~3.5 GPa (see by_strain), so
    # protocol differences alone shift the constants by ±2 GPa. We allow 3 GPa (≈3-5 % for C11/C12/B,
    # 10 % for the small C44), i.e. a real change of the model or of our evaluation fails the test.
    assert d["C11_GPa"] == pytest.approx(117.0, abs=3.0)
    assert d["C12_GPa"] == pytest.approx(57.2, abs=3.0)
    assert d["C44_GPa"] == pytest.approx(30.4, abs=3.0)
    assert d["B_GPa"] == pytest.approx(77.3, abs=3.0)
    # Its own zero-pressure lattice constant in float64 (float32 would give a different, wrong value).
    assert d["a0_A"] == pytest.approx(4.0543, abs=1e-3)


# ----------------------------------------------------------------------------------------------- end to end


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.imgs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_validate_end_to_end_writes_results_html_and_pdf(tmp_path, capsys):
    out = tmp_path / "report"
    code = alal_main(["validate", "--potentials", "emt,eam-mendelev2008", "--properties", "eos,elastic",
                      "--out", str(out), "--quiet"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    for name in ("emt", "eam-mendelev2008"):
        p = results["potentials"][name]
        assert set(p["eos"]["fcc"]) >= {"a0_A", "V0_A3_per_atom", "E0_eV_per_atom", "B_GPa", "Bprime"}
        for s in ("hcp", "bcc", "sc", "diamond"):
            assert "dE_meV_per_atom" in p["eos"][s]
        assert set(p["elastic"]) >= {"C11_GPa", "C12_GPa", "C44_GPa", "B_GPa", "residual_GPa", "by_strain"}
        assert results["meta"]["potentials"][name]["citation"]
    meta = results["meta"]
    assert meta["packages"]["torch"].startswith("2.13.0") and meta["git"] is not None and meta["wall_time_s"] > 0

    parser = _Collect()
    parser.feed((out / "report.html").read_text())
    assert parser.tags.count("table") >= 3
    assert parser.imgs and all((out / src).is_file() for src in parser.imgs)
    text = " ".join(parser.text)
    assert "Summary" in text and "Provenance" in text and "EAM Mendelev 2008" in text

    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 4
    assert len(re.findall(rb"/Subtype\s*/Image", pdf)) >= 3  # the figures are embedded, not linked
    assert not list(tmp_path.glob(".report.partial-*"))


def test_report_can_be_rerendered_from_results_only(tmp_path):
    out = tmp_path / "r"
    assert alal_main(["validate", "--potentials", "emt", "--properties", "elastic", "--out", str(out), "--quiet",
                      "--no-report"]) == 0
    assert not (out / "report.html").exists()
    assert alal_main(["report", str(out)]) == 0
    assert (out / "report.html").is_file() and (out / "report.pdf").is_file()


@pytest.mark.parametrize("argv,message", [
    (["--potentials", "nope"], "unknown potential 'nope'"),
    (["--potentials", "emt", "--properties", "eos,bogus"], "unknown property 'bogus'"),
    (["--potentials", "emt", "--tier", "huge"], "invalid choice"),
])
def test_bad_input_gives_one_clear_message_and_no_report(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    try:
        code = alal_main(["validate", *argv, "--out", str(out)])
    except SystemExit as exc:  # argparse rejects bad choices itself (exit 2)
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert alal_main(["validate", "--potentials", "emt", "--out", str(blocker / "sub")]) == 2
    assert "cannot write the output folder" in capsys.readouterr().err


def test_missing_data_file_stops_before_any_computation(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALAL_DATA_DIR", str(tmp_path / "empty"))
    potentials._load_ani_model.cache_clear()
    out = tmp_path / "out"
    assert alal_main(["validate", "--potentials", "emt,ani-al", "--out", str(out)]) == 2
    assert "model-Al-75" in capsys.readouterr().err
    assert not out.exists()


def test_an_existing_report_is_replaced_only_by_a_complete_one(tmp_path):
    out = tmp_path / "r"
    assert alal_main(["validate", "--potentials", "emt", "--properties", "elastic", "--out", str(out), "--quiet",
                      "--no-report"]) == 0
    before = (out / "results.json").read_text()
    assert alal_main(["validate", "--potentials", "emt,nope", "--out", str(out), "--quiet"]) == 2
    assert (out / "results.json").read_text() == before
