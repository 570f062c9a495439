"""``alal bench --suite al`` end to end at toy size: the file others read has the documented keys.

No timing is asserted (the machine is shared); the test checks that both paths ran on the same inputs and
that the trainer's two paths reach the same validation loss on the same data and seeds.
"""

from __future__ import annotations

import json

import pytest

from alal.cli import main as alal_main
from conftest import needs_ani_al


@needs_ani_al
def test_bench_al_writes_the_documented_keys(tmp_path, capsys):
    out = tmp_path / "bench"
    assert alal_main(["bench", "--suite", "al", "--out", str(out), "--threads", "1", "--sampler-steps", "10",
                      "--sampler-cells", "32", "--sampler-batches", "1,3", "--trainer-cells", "8",
                      "--trainer-epochs", "2"]) == 0
    report = json.loads((out / "al.json").read_text())
    s, t = report["sampler"], report["trainer"]
    assert s["fcc_1008_atom_steps_per_s"] > 0
    assert {(r["path"], r["batch"]) for r in s["rows"]} == {("current", 1), ("batched", 1), ("batched", 3)}
    assert all(r["cell_atoms"] == 32 and r["atom_steps_per_s"] > 0 for r in s["rows"])
    assert [r["path"] for r in t["rows"]] == ["current", "fast"]
    assert t["networks_bound_member_atoms_per_s"] > 0
    current, fast = t["rows"]
    assert fast["final_val_loss"] == pytest.approx(current["final_val_loss"], rel=0.05)
    assert "member-atoms/s" in capsys.readouterr().out
