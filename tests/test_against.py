"""Oracle consistency (``alal validate --against ORACLE``): the pure comparison on hand-made results, and one real
run (EMT as the oracle; the same EMT imported by string, which must agree exactly; EMT with energies scaled by 1.1,
which must be caught)."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import pytest

from alal.cli import main as alal_main
from validation.against import TOLERANCES, attach, compare, summary_lines

# --- (a) the pure comparison ------------------------------------------------------------------------------------


def _eos(a0=4.0, b=80.0, de=None):
    de = de or {"hcp": 30.0, "bcc": 90.0, "sc": 350.0, "diamond": 700.0}
    out = {"fcc": {"a0_A": a0, "B_GPa": b, "dE_meV_per_atom": 0.0, "E0_eV_per_atom": -3.0},
           "curves": {"fcc": {"V_A3_per_atom": [1.0, 2.0]}}, "dft_source": "x", "wall_time_s": 1.0,
           "comparisons": [], "settings": {"n": 3}, "notes": []}
    for s, v in de.items():
        out[s] = {"dE_meV_per_atom": v}
    return out


def _entry(**kw):
    entry = {"eos": _eos(), "elastic": {"C11_GPa": 110.0, "C12_GPa": 60.0, "C44_GPa": 30.0, "B_GPa": 76.0,
                                        "residual_GPa": 0.01, "wall_time_s": 0.5},
             "phonons": {"X_T_THz": 5.8, "X_L_THz": 9.7, "L_T_THz": 4.2, "L_L_THz": 9.6, "min_frequency_THz": -1e-6},
             "fcc_a0_A": 4.0}
    entry.update(kw)
    return entry


def _q(result, prop, key):
    return result.to_json()[prop][key]


def test_tolerance_edges_are_inclusive():
    oracle = _entry()
    # a0 +0.3 % exactly (rel), hcp ΔE +3 meV exactly (abs), C11 -10 % exactly: all on the edge, all pass
    model = _entry(eos=_eos(a0=4.0 * 1.003, de={"hcp": 33.0, "bcc": 90.0, "sc": 350.0, "diamond": 700.0}))
    model["elastic"] = dict(oracle["elastic"], C11_GPa=99.0)
    r = compare(model, oracle, ["eos", "elastic"])
    for prop, key in (("eos", "fcc.a0_A"), ("eos", "hcp.dE_meV_per_atom"), ("elastic", "C11_GPa")):
        assert _q(r, prop, key)["verdict"] == "pass", (prop, key, _q(r, prop, key))
    a0 = _q(r, "eos", "fcc.a0_A")
    assert a0["tolerance"] == 0.003 and a0["tolerance_kind"] == "rel"
    assert a0["diff"] == pytest.approx(0.012) and a0["rel_diff"] == pytest.approx(0.003)
    assert _q(r, "eos", "hcp.dE_meV_per_atom")["tolerance_kind"] == "abs"
    # just outside the edge: fail
    model = _entry(eos=_eos(a0=4.0 * 1.0031, de={"hcp": 26.99, "bcc": 90.0, "sc": 350.0, "diamond": 700.0}))
    model["elastic"] = dict(oracle["elastic"], C11_GPa=98.9)
    r = compare(model, oracle, ["eos", "elastic"])
    for prop, key in (("eos", "fcc.a0_A"), ("eos", "hcp.dE_meV_per_atom"), ("elastic", "C11_GPa")):
        assert _q(r, prop, key)["verdict"] == "fail", (prop, key)
    s = r.summary()
    assert s["n_fail"] == 3 and set(s["failed"]) == {"eos.fcc.a0_A", "eos.hcp.dE_meV_per_atom", "elastic.C11_GPa"}


def test_other_scalars_are_info_and_bookkeeping_is_not_compared():
    oracle = _entry()
    model = copy.deepcopy(oracle)
    model["elastic"]["residual_GPa"] = 5.0
    model["elastic"]["wall_time_s"] = 99.0
    out = compare(model, oracle, ["eos", "elastic"]).to_json()
    res = out["elastic"]["residual_GPa"]
    assert res == {"model": 5.0, "oracle": 0.01, "diff": pytest.approx(4.99), "rel_diff": pytest.approx(499.0),
                   "tolerance": None, "tolerance_kind": None, "verdict": "info"}
    for prop in ("eos", "elastic"):
        assert not any(k.startswith(("wall", "settings", "comparisons", "curves", "dft_")) for k in out[prop])
    assert out["summary"]["n_fail"] == 0 and out["summary"]["n_pass"] > 0


def test_missing_properties_carry_the_reason():
    oracle = _entry(vacancy={"Ef_eV": 0.67})
    model = _entry(elastic={"error": "elastic needs the stress tensor\nsecond line", "wall_time_s": 0.0})
    out = compare(model, oracle, ["eos", "elastic", "vacancy"]).to_json()
    assert out["elastic"]["verdict"] == "missing" and "model" in out["elastic"]["reason"]
    assert "needs the stress tensor" in out["elastic"]["reason"] and "second line" not in out["elastic"]["reason"]
    assert out["vacancy"] == {"verdict": "missing", "reason": "vacancy did not run for the model"}
    assert out["summary"]["n_missing"] == 2 and out["summary"]["missing"] == ["elastic", "vacancy"]
    # a whole potential that failed: every property missing
    failed = compare({"error": "cannot import"}, oracle, ["eos", "elastic"]).to_json()
    assert all(failed[p]["verdict"] == "missing" and "cannot import" in failed[p]["reason"] for p in ("eos", "elastic"))
    # a non-finite model value against a tolerance fails, without a difference
    model = _entry()
    model["elastic"] = dict(model["elastic"], C44_GPa=None)
    q = compare(model, oracle, ["elastic"]).to_json()["elastic"]["C44_GPa"]
    assert q["verdict"] == "fail" and q["diff"] is None


def test_structure_ordering_verdict():
    oracle = _entry()
    same = compare(_entry(eos=_eos(de={"hcp": 35.0, "bcc": 95.0, "sc": 300.0, "diamond": 650.0})), oracle, ["eos"])
    order = _q(same, "eos", "structure_order")
    assert order["verdict"] == "pass" and order["model"] == "fcc < hcp < bcc < sc < diamond"
    assert order["tolerance_kind"] == "ordering"
    assert _q(same, "eos", "fcc_lowest")["verdict"] == "pass"
    # SC and diamond swapped (both far outside any ΔE tolerance of their own: none): the ordering catches it
    swapped = compare(_entry(eos=_eos(de={"hcp": 30.0, "bcc": 90.0, "sc": 800.0, "diamond": 700.0})), oracle, ["eos"])
    assert _q(swapped, "eos", "structure_order")["verdict"] == "fail"
    assert _q(swapped, "eos", "fcc_lowest")["verdict"] == "pass"
    # HCP below FCC in the model only: both verdicts fail
    hcp_low = compare(_entry(eos=_eos(de={"hcp": -1.0, "bcc": 90.0, "sc": 350.0, "diamond": 700.0})), oracle, ["eos"])
    assert _q(hcp_low, "eos", "fcc_lowest")["verdict"] == "fail"
    assert _q(hcp_low, "eos", "structure_order")["verdict"] == "fail"
    # ... and when the oracle has HCP lowest too, "FCC lowest" cannot be asked of the student: info
    both = compare(_entry(eos=_eos(de={"hcp": -1.0, "bcc": 90.0, "sc": 350.0, "diamond": 700.0})),
                   _entry(eos=_eos(de={"hcp": -2.0, "bcc": 90.0, "sc": 350.0, "diamond": 700.0})), ["eos"])
    assert _q(both, "eos", "structure_order")["verdict"] == "pass"
    assert _q(both, "eos", "fcc_lowest")["verdict"] == "info"


def test_phonon_and_liquid_verdicts():
    oracle = _entry(liquid_density={"T_K": [943.0, 1023.0, 1273.0], "rho_g_cm3": [2.35, 2.33, 2.25],
                                    "crystallised": [False, False, False], "wall_s": [1.0, 1.0, 1.0]})
    model = _entry(liquid_density={"T_K": [943.0, 1023.0, 1273.0], "rho_g_cm3": [2.35 * 1.01, 2.0, 2.25 * 1.02],
                                   "crystallised": [False, False, False]})
    model["phonons"] = dict(model["phonons"], min_frequency_THz=-0.4, X_L_THz=9.7 * 1.06)
    out = compare(model, oracle, ["phonons", "liquid_density"]).to_json()
    assert out["phonons"]["no_imaginary_mode"]["verdict"] == "fail"
    assert out["phonons"]["X_L_THz"]["verdict"] == "fail" and out["phonons"]["X_T_THz"]["verdict"] == "pass"
    liquid = out["liquid_density"]
    assert liquid["rho_943K_g_cm3"]["verdict"] == "pass" and liquid["rho_1273K_g_cm3"]["verdict"] == "fail"
    assert liquid["rho_1023K_g_cm3"]["verdict"] == "info"  # no target at 1023 K
    model["liquid_density"]["crystallised"] = [True, False, False]
    q = compare(model, oracle, ["liquid_density"]).to_json()["liquid_density"]["rho_943K_g_cm3"]
    assert q["verdict"] == "fail" and "crystallised" in q["reason"]


def test_every_tolerance_names_a_registered_property():
    from validation.properties import PROPERTIES

    assert {p for p, _ in TOLERANCES} <= set(PROPERTIES)
    assert all(kind in ("abs", "rel") and t > 0 for t, kind in TOLERANCES.values())


def test_attach_and_summary_lines():
    results = {"meta": {"properties": ["eos", "elastic"]},
               "potentials": {"oracle": _entry(), "student": _entry(elastic={"error": "boom"})}}
    results["potentials"]["student"]["eos"]["fcc"]["B_GPa"] = 100.0
    attach(results, "oracle")
    assert results["meta"]["against"] == "oracle" and "against" not in results["potentials"]["oracle"]
    lines = summary_lines(results)
    assert lines[0].startswith("student against oracle: ") and "1 fail, 1 missing" in lines[0]
    assert any("eos.fcc.B_GPa" in line and "tolerance ±5 %" in line for line in lines[1:])
    assert any(line.startswith("  - elastic: missing") for line in lines[1:])


# --- (b, c) real runs: EMT the oracle, the same EMT again (must agree exactly), EMT scaled by 1.1 (must be caught) -

SAME = "own_calculators:wrapped_emt"  # EMT() imported by string: must agree with the registry's emt exactly
SCALED = "own_calculators:emt_scaled_1p1"  # energies, forces, stresses x 1.1: bulk modulus 10 % too high


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """Through the command line, with the reports: elastic constants (the fast stress-strain property)."""
    out = tmp_path_factory.mktemp("against") / "r"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = alal_main(["validate", "--potentials", f"{SAME},{SCALED}", "--against", "emt",
                          "--properties", "elastic", "--out", str(out), "--quiet"])
    return code, json.loads((out / "results.json").read_text()), printed.getvalue(), out


def _assert_identical(comp: dict, props: tuple[str, ...]) -> int:
    n = 0
    for prop in props:
        for key, q in comp[prop].items():
            assert q["verdict"] in ("pass", "info"), (prop, key, q)
            if q["diff"] is not None:
                assert q["diff"] == 0.0, (prop, key, q)
                n += 1
    assert comp["summary"]["n_fail"] == 0 and comp["summary"]["n_missing"] == 0
    return n


def test_the_oracle_is_added_to_the_run(cli_run):
    code, results, _, _ = cli_run
    assert code == 0  # the exit status is that of property failures, unchanged by --against
    assert list(results["potentials"]) == [SAME, SCALED, "emt"]
    assert results["meta"]["against"] == "emt" and "against" not in results["potentials"]["emt"]


def test_a_model_against_itself_agrees_exactly(cli_run):
    _, results, printed, _ = cli_run
    comp = results["potentials"][SAME]["against"]["emt"]
    assert _assert_identical(comp, ("elastic",)) > 20
    assert comp["summary"]["n_pass"] == 4  # C11, C12, C44, B
    assert f"{SAME} against emt: 4 pass, 0 fail" in printed


def test_a_perturbed_model_is_caught(cli_run):
    _, results, printed, out = cli_run
    comp = results["potentials"][SCALED]["against"]["emt"]
    for key in ("B_GPa", "C11_GPa", "C12_GPa", "C44_GPa"):
        assert comp["elastic"][key]["rel_diff"] == pytest.approx(0.1, abs=0.005), key
    assert comp["elastic"]["B_GPa"]["verdict"] == "fail"  # ±5 %
    assert comp["elastic"]["a0_A"]["diff"] == pytest.approx(0.0, abs=1e-6)  # scaling E leaves the minimum in place
    assert comp["summary"]["n_fail"] >= 1 and "elastic.B_GPa" in comp["summary"]["failed"]
    line = f"{SCALED} against emt: {comp['summary']['n_pass']} pass, {comp['summary']['n_fail']} fail"
    assert line in printed and "  - elastic.B_GPa: model " in printed
    # the report's section, built from results.json alone, in the HTML and the PDF
    html = (out / "report.html").read_text()
    assert "Against EMT (ASE)" in html and f"{SCALED} against EMT (ASE)" in html
    assert (out / "report.pdf").stat().st_size > 10_000


def test_cold_curves_against_themselves_through_run_validation():
    """The whole EOS result (about a hundred numbers, the structure ordering) of EMT against EMT."""
    from validation.runner import run_validation

    results = run_validation({"emt-again": "emt"}, ["eos"], out=None, against="emt", log=lambda m: None)
    assert list(results["potentials"]) == ["emt-again", "emt"]
    comp = results["potentials"]["emt-again"]["against"]["emt"]
    assert _assert_identical(comp, ("eos",)) > 50
    # EMT has HCP 3.5 meV/atom below FCC: the identical ordering passes, "FCC lowest" is information only
    assert comp["eos"]["structure_order"]["verdict"] == "pass"
    assert comp["eos"]["fcc_lowest"]["verdict"] == "info"
    assert comp["eos"]["fcc.a0_A"]["verdict"] == "pass" and comp["eos"]["hcp.dE_meV_per_atom"]["verdict"] == "pass"


def test_a_property_skipped_on_either_side_is_missing_not_passed():
    from validation.against import compare

    skipped = {"skipped": True, "reason": "predicted 194 s exceeds its 180 s budget"}
    ran = {"temperatures_K": [943.0], "rho_943K_g_cm3": 2.37}
    for model, oracle in ((skipped, ran), (ran, skipped)):
        out = compare({"liquid_density": model}, {"liquid_density": oracle}).to_json()
        assert out["liquid_density"]["verdict"] == "missing"
        assert "skipped" in out["liquid_density"]["reason"] and "180 s budget" in out["liquid_density"]["reason"]
        assert out["summary"]["n_missing"] == 1 and out["summary"]["n_pass"] == 0
