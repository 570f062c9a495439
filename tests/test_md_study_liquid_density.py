"""`alal md-study liquid-density`: the plan, the analysis over seeds (pure) and a tiny real run that resumes."""

import json
import math

import pytest

from alal.errors import AlalError
from conftest import needs_ani_al
from validation.studies.liquid_density import BASELINE, VARIANTS, Lengths, analyse, markdown, plan


def piece(variant: str, seed: int, rho: float, crystalline: float = 0.0) -> dict:
    return {"variant": variant, "seed": seed, "n_atoms": 256, "rho_g_cm3": rho, "T_mean_K": 943.0, "P_mean_GPa": 0.0,
            "crystalline_fraction": crystalline, "wall_s": 1.0}


def test_the_plan_runs_every_variant_from_independent_seeds_cheapest_first():
    pieces = plan(n_seeds=3, first_seed=7)
    assert len(pieces) == 3 * len(VARIANTS)
    assert {(p.variant.name, p.seed) for p in pieces} == {(v.name, s) for v in VARIANTS for s in (7, 8, 9)}
    costs = [p.atom_steps for p in pieces]
    assert costs == sorted(costs) and pieces[-1].variant.n_atoms == 2048 and pieces[0].variant == BASELINE
    assert len({p.key for p in pieces}) == len(pieces)  # one file per piece
    # each variant changes exactly one factor of the baseline
    fields = ("n_cells", "dt_fs", "dtype", "ensemble")
    for v in VARIANTS[1:]:
        assert sum(getattr(v, f) != getattr(BASELINE, f) for f in fields) == 1, v.name
    with pytest.raises(AlalError, match="2 seeds"):
        plan(n_seeds=1)
    with pytest.raises(AlalError, match="baseline"):
        plan(variants=VARIANTS[1:])


def test_a_factor_is_significant_only_beyond_twice_the_combined_standard_error_over_seeds():
    res = analyse([piece("quick tier", s, r) for s, r in ((1, 2.320), (2, 2.324), (3, 2.322))]
                  + [piece("float64", s, r) for s, r in ((1, 2.321), (2, 2.325), (3, 2.323))]
                  + [piece("2048 atoms", s, r) for s, r in ((1, 2.360), (2, 2.362), (3, 2.358))]
                  + [piece("1 fs", 1, 2.33), piece("1 fs", 2, 2.34), piece("1 fs", 3, 2.5, crystalline=0.6)],
                  experiment_g_cm3=2.3743, experiment_label="Assael 2006")
    rows = {r["variant"]: r for r in res["rows"]}
    base = rows["quick tier"]
    assert base["rho_g_cm3"] == pytest.approx(2.322) and base["sem_g_cm3"] == pytest.approx(0.002 / math.sqrt(3))
    assert base["delta_vs_baseline_g_cm3"] is None
    assert rows["float64"]["delta_vs_baseline_g_cm3"] == pytest.approx(0.001) and rows["float64"]["significant"] is False
    assert rows["2048 atoms"]["delta_vs_baseline_g_cm3"] == pytest.approx(0.038) and rows["2048 atoms"]["significant"] is True
    assert rows["2048 atoms"]["delta_err_g_cm3"] == pytest.approx(math.hypot(base["sem_g_cm3"], rows["2048 atoms"]["sem_g_cm3"]))
    # a crystallised seed is left out and counted
    assert rows["1 fs"]["n_seeds"] == 2 and rows["1 fs"]["n_crystallised"] == 1 and rows["1 fs"]["rho_g_cm3"] == pytest.approx(2.335)
    assert base["vs_experiment_percent"] == pytest.approx(100 * (2.322 / 2.3743 - 1))
    assert [r["variant"] for r in res["rows"]] == ["quick tier", "float64", "1 fs", "2048 atoms"]
    md = markdown(res, "x", 943.0, Lengths())
    assert "| 2048 atoms |" in md and "yes" in md and "crystallised" in md and "Assael 2006" in md


@needs_ani_al
def test_a_tiny_study_runs_writes_its_table_and_a_rerun_reuses_every_piece(tmp_path, capsys):
    from alal.cli import main

    out = tmp_path / "study"
    args = ["md-study", "liquid-density", "--potential", "ani-al", "--out", str(out), "--seeds", "2", "--variants", "1 fs",
            "--melt-ps", "0.1", "--production-ps", "0.1", "--equil-ps", "0.05", "--quiet"]
    assert main(args) == 0
    result = json.loads((out / "liquid_density.json").read_text())
    rows = {r["variant"]: r for r in result["rows"]}
    assert set(rows) == {"quick tier", "1 fs"}
    for r in rows.values():
        assert r["n_seeds"] + r["n_crystallised"] == 2 and r["n_atoms"] == 256
    pieces = sorted((out / "pieces").glob("*.json"))
    assert len(pieces) == 4
    seeds = [json.loads(p.read_text()) for p in pieces]
    assert len({p["rho_g_cm3"] for p in seeds}) == 4  # independent seeds give different densities
    stamps = [p.stat().st_mtime_ns for p in pieces]
    assert main(args) == 0  # resumed: nothing reruns
    assert [p.stat().st_mtime_ns for p in pieces] == stamps
    assert (out / "liquid_density.md").read_text().startswith("## Liquid density of ani-al at 943 K")
    capsys.readouterr()
    assert main(["md-study", "liquid-density", "--out", str(out), "--variants", "2 fs"]) == 2
    assert "unknown 2 fs" in capsys.readouterr().err
