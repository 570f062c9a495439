"""`alal study table1` on a tiny EMT run (slow: a run, an MD-generated FCC/Melt set, a second training)."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import alal, tiny_config  # noqa: E402


@pytest.mark.slow
def test_table1_on_a_tiny_run(tmp_path):
    cfg = tiny_config(tmp_path, {
        # the run stops on its label budget (12 bootstrap + 2): the study must still label its own structures,
        # and must not label the run's leftover candidates
        "loop": {"max_generations": 2, "max_labels": 14},
        "study": {"table1": {"fcc_cells": 2, "fcc_duration_ps": 1.0, "fcc_snapshots": 10, "liquid_T_K": [1500.0],
                             "liquid_density_g_cm3": [2.3], "liquid_snapshots": 8, "liquid_equilibration_ps": 0.4,
                             "liquid_spacing_ps": 0.05}},
    })
    run = tmp_path / "run"
    r = alal("train", str(cfg), "--run-dir", str(run))
    assert r.returncode == 0, r.stderr[-2000:]
    from alal.data import Store

    before = Store(run / "ase.db")
    al_before = (len(before.labels(sources=("bootstrap", "al"))), before.count(kind="structure", status="pending"))
    assert al_before[0] == 14
    r = alal("study", "table1", str(run), timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    after = Store(run / "ase.db")
    assert (len(after.labels(sources=("bootstrap", "al"))), after.count(kind="structure", status="pending")) == al_before
    data = json.loads((run / "study" / "table1" / "table1.json").read_text())
    for model in ("FCC/Melt trained", "AL trained"):
        for test in ("fccmelt", "al"):
            x = data["results"][model][test]
            assert x["n_structures"] > 0 and x["energy_rmse_meV_per_atom"] >= x["energy_mae_meV_per_atom"] > 0
    assert data["n_labels"]["fccmelt"] == 18
    assert "Table I" in (run / "report.md").read_text()
    # idempotent: a second study reuses labels and the FCC/Melt model
    r2 = alal("study", "table1", str(run))
    assert r2.returncode == 0 and "training the FCC/Melt model" not in r2.stdout
