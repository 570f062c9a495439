"""``alal bench`` end to end on a tiny configuration (the real run is ``make bench``; no timing asserted)."""

from __future__ import annotations

import json

import pytest

from conftest import needs_ani_al


def test_structures_have_the_requested_size_and_density():
    from alal.bench import fcc_repeats, make_structure
    from alal.structures import density_g_cm3

    for n in (256, 1008, 4000, 10976):
        a, b, c = fcc_repeats(n)
        assert 4 * a * b * c == n
    liquid = make_structure("liquid", 256)
    assert len(liquid) == 256 and density_g_cm3(liquid) == pytest.approx(2.37, rel=1e-6)
    assert density_g_cm3(make_structure("fcc", 256)) == pytest.approx(2.70, abs=0.01)
    with pytest.raises(ValueError):
        fcc_repeats(10)


@needs_ani_al
def test_bench_writes_table_and_json(tmp_path, capsys):
    from alal.cli import main

    rc = main(["bench", "--out", str(tmp_path), "--sizes", "32", "--structures", "fcc",
               "--methods", "torchani,alal-float32,emt", "--repeats", "1", "--md-steps", "3", "--md-atoms", "32"])
    assert rc == 0
    report = json.loads((tmp_path / "bench.json").read_text())
    printed = capsys.readouterr().out
    assert "atom-steps/s" in printed and "alal-float32" in printed and "inside the engine" in printed
    assert {r["method"] for r in report["results"]} == {"torchani", "alal-float32", "emt"}
    for r in report["results"]:
        assert r["atom_steps_per_s"] > 0 and r["repeats"] == 1 and r["peak_rss_mb"] > 0
    ratios = {(r["structure"], r["method"]) for r in report["ratios_to_torchani"]}
    assert ("fcc", "alal-float32") in ratios and ("fcc", "emt") in ratios
    md = report["md_step"]
    assert md["steps"] == 3 and 0 < md["engine_fraction"] <= 1
    assert report["machine"]["threads"] == 2


def test_bench_rejects_bad_arguments(tmp_path, capsys):
    from alal.cli import main

    assert main(["bench", "--out", str(tmp_path), "--methods", "lammps-lj"]) == 2
    assert "unknown benchmark method" in capsys.readouterr().err
    assert main(["bench", "--out", str(tmp_path), "--sizes", "30"]) == 2
