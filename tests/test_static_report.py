"""The report sections of the static properties build from results.json alone: Fig. 3, the RMSE table, phonons,
checks; with and without our DFT reference. (The HTML/PDF writers are tested with the framework.)"""

from __future__ import annotations

import json

import pytest

from conftest import needs_mishin
from static_common import context, with_settings
from validation.properties.bain import BainPath
from validation.properties.base import jsonable
from validation.properties.checks import VerificationChecks
from validation.properties.gsfe import GeneralizedStackingFault
from validation.properties.phonons import Phonons
from validation.properties.surface import SurfaceEnergies
from validation.properties.vacancy import VacancyFormation
from validation.references import load_references
from validation.report import build_sections
from validation.report.sections import gsfe as gsfe_section

pytestmark = needs_mishin

PROPS = ["bain", "gsfe", "vacancy", "surface", "phonons", "checks"]


def small_properties() -> dict:
    return {
        "bain": BainPath(),
        "gsfe": with_settings(GeneralizedStackingFault, slip_displacements_b_partial=[0.0, 0.25, 0.5, 0.75, 1.0],
                              slip_relaxed_displacements_b_partial=[0.0, 0.5, 1.0], twin_points_per_layer=2,
                              twin_relaxed_points_per_layer=1, layer_convergence_n_layers=[6, 12],
                              gamma_surface_grid=4),
        "vacancy": with_settings(VacancyFormation, supercells=[2, 3]),
        "surface": with_settings(SurfaceEnergies, n_layers=[5, 7]),
        "phonons": with_settings(Phonons, supercells=[2], gruneisen_supercell=2, band_points_per_segment=9),
        "checks": with_settings(VerificationChecks, nve_steps=20, ev_points=11, gsfe_step_b_partial=0.25),
    }


@pytest.fixture(scope="module")
def results() -> dict:
    props = small_properties()
    out = {"meta": {"properties": PROPS, "tier": "quick", "potentials": {}, "errors": []}, "potentials": {},
           "references": load_references().to_json(), "dft_references": {}}
    for name in ("eam-mishin1999", "emt"):
        ctx = context(name)
        wanted = PROPS if name == "eam-mishin1999" else ["bain", "gsfe"]
        out["potentials"][name] = {p: props[p].run(ctx).to_json() for p in wanted}
    return jsonable(json.loads(json.dumps(jsonable(out))))


def test_sections_and_figures_without_dft(results, tmp_path):
    sections = {s.key: s for s in build_sections(results, tmp_path / "figures")}
    assert sections["bain"].figures == []  # the Bain panel lives in Fig. 3 of the gsfe section
    fig3 = sections["gsfe"].figures[0]
    assert fig3.path.name == "fig3_transformation_paths.png" and fig3.path.stat().st_size > 10_000
    assert "No DFT reference yet" in fig3.caption
    rmse = next(t for t in sections["gsfe"].tables if "RMSE" in t.title)
    assert "No DFT reference yet" in rmse.note
    assert any(f.path.name == "gsfe_gamma_surface.png" for f in sections["gsfe"].figures)
    for key in ("vacancy", "surface", "phonons", "checks"):
        assert sections[key].figures and all(f.path.exists() for f in sections[key].figures)
    checks = sections["checks"].tables[0]
    assert len(checks.rows) == 7 and {c for row in checks.classes for c in row} <= {"pass", "fail", ""}
    assert not [s for s in sections.values() if "failed to render" in s.title]


def test_fig3_and_rmse_table_with_a_dft_reference(results, tmp_path):
    """With DFT files the circles are drawn and the DFT row joins the fault-energy table."""
    mishin = results["potentials"]["eam-mishin1999"]
    b, g = mishin["bain"], mishin["gsfe"]
    dft = {"bain": {"label": "test DFT", "c_over_a": b["c_over_a"], "dE_meV_per_atom": b["dE_meV_per_atom"],
                    "a0_A": 4.04},
           "gsfe": {"label": "test DFT", "relaxation": "rigid", "n_layers": g["n_layers"], "slip": g["slip"],
                    "twin": g["twin"], **g["rigid"]}}
    res = dict(results, dft_references=dft)
    section = gsfe_section.build_section(res, tmp_path)
    assert "Fig. 3" in section.title
    assert "Circles: our GPAW-PBE reference" in section.figures[0].caption
    faults = next(t for t in section.tables if t.title.startswith("Fault energies"))
    assert any(row[0] == "test DFT" for row in faults.rows)
