"""The per-generation discovery table of ``alal status`` (alal.al.discovery) on a tiny real EMT run: counts
against the database, CNA shares, the uncertainty calibration, the caches, the report's figures."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_al_loop import alal, tiny_config  # noqa: E402

from alal.al import discovery  # noqa: E402
from alal.al import status  # noqa: E402
from alal.data import Store  # noqa: E402

HEADER = "cand fcc/hcp/bcc/ico/oth %"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A tiny 2-generation EMT run (about 30 s); a larger test split so that Spearman has points."""
    tmp = tmp_path_factory.mktemp("disc")
    cfg = tiny_config(tmp, {"trainer": {"test_fraction": 0.35}})
    run = tmp / "run"
    r = alal("train", str(cfg), "--run-dir", str(run), "--quiet")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def summary(run):
    return status.summarize(run)


def test_rows_match_the_database(run, summary):
    store = Store(run / "ase.db")
    rows = summary.discovery["rows"]
    trajs = store.trajectories()
    gens_ok = {int(g.generation): g for g in store.generations(status="ok")}
    assert [r["generation"] for r in rows] == sorted(set(gens_ok) | {int(t.generation) for t in trajs})
    assert len(rows) == 2 and sum(r["n_trajectories"] for r in rows) == len(trajs) > 0
    labels = store.labels(sources=("bootstrap", "al"))
    from alal.al.tasks import read_dataset

    for r in rows:
        g = r["generation"]
        ts = [t for t in trajs if int(t.generation) == g]
        assert r["n_trajectories"] + r["n_trajectories_lost"] == len(ts)
        if ts:
            times = [float(t.t_reached_ps) for t in ts]
            assert r["median_t_ps"] == pytest.approx(np.median(times)) and r["max_t_ps"] == pytest.approx(max(times))
            assert r["survival_fraction"] == pytest.approx(np.mean([t.stop_reason == "t_max" for t in ts]))
        cands = [s for s in store.structures(source="al") if int(s.generation) == g and s.status != "dropped"]
        assert r["n_candidates"] == len(cands)
        # the dataset the generation was trained on: its record, its training-set file and the row agree
        rec = gens_ok[g]
        assert r["n_labels"] == rec.n_labels and r["n_labels_bootstrap"] + r["n_labels_al"] == rec.n_labels
        assert (r["n_labels_train"], r["n_labels_val"], r["n_labels_test"]) == (rec.n_train, rec.n_val, rec.n_test)
        ds = read_dataset(run / "work" / "train" / f"gen-{g:03d}" / f"dataset-attempt{rec.attempt}.extxyz")
        assert [x["hash"] for x in ds] == [x.hash for x in labels[:r["n_labels"]]]
        assert r["n_labels_from"] == "dataset file" and discovery.read_dataset_index(
            run / "work" / "train" / f"gen-{g:03d}" / f"dataset-attempt{rec.attempt}.extxyz") == \
            [(x["hash"], x["atoms"].info["split"], x["atoms"].info["source"]) for x in ds]
        assert r["n_labels_al"] == sum(x.source == "al" for x in labels[:r["n_labels"]])
        assert r["test_energy_mae_meV_per_atom"] == pytest.approx(rec.test_energy_mae_meV_per_atom)
        assert r["test_force_mae_eV_A"] == pytest.approx(rec.test_force_mae_eV_A)
        # CNA: every candidate and end frame analysed, shares sum to 1
        if cands:
            assert r["cand_cna_n_structures"] == len(cands)
            assert sum(r[f"cand_{k}_fraction"] for k in discovery.CNA_TYPES) == pytest.approx(1.0)
        if r["n_trajectories"]:
            assert r["end_cna_n_structures"] == r["n_trajectories"]
            assert sum(r[f"end_{k}_fraction"] for k in discovery.CNA_TYPES) == pytest.approx(1.0)
    # generation 1 learned from (some of) generation 0's finds
    assert 0 < rows[1]["n_labels_al"] <= rows[0]["n_candidates_labelled"]
    # the machine-readable table
    d = json.loads((run / "reports" / "discovery.json").read_text())
    assert d["generations"] == json.loads(json.dumps(rows))
    for key in ("median_t_ps", "survival_fraction", "test_energy_mae_meV_per_atom", "test_force_mae_eV_A",
                "cand_fcc_fraction", "end_other_fraction", "spearman_rho_vs_energy_error"):
        assert key in d["generations"][0]


def test_calibration_against_an_independent_evaluation(run, summary):
    from scipy.stats import spearmanr

    from alal.potentials import load

    cal = summary.discovery["calibration"]
    assert sorted(cal) == [0, 1]
    for row in summary.discovery["rows"]:
        g = row["generation"]
        pts = cal[g]["points"]
        test = [p for p in pts if p["split"] == "test"]
        assert len(test) == row["n_labels_test"] and len(pts) == row["n_labels_test"] + row["n_labels_val"]
        # the test points reproduce the training report's test errors (same structures, same model)
        assert 1000 * np.mean([p["energy_abs_error_eV_per_atom"] for p in test]) == \
            pytest.approx(row["test_energy_mae_meV_per_atom"], rel=1e-3)
        sp = row["spearman_rho_vs_energy_error"]
        if sp is None:
            assert row["spearman_rho_vs_energy_error_reason"]
        else:
            assert np.isfinite(sp) and len(test) >= discovery.MIN_SPEARMAN_POINTS
            ref = spearmanr([p["rho_eV"] for p in test], [p["energy_abs_error_eV_per_atom"] for p in test]).statistic
            assert sp == pytest.approx(ref)
        # ρ and the force spread of one structure, from the reference torchani engine's member results
        store = Store(run / "ase.db")
        lab = store.label(test[0]["hash"])
        a = lab.toatoms()
        calc = load(str(run / "models" / f"gen-{g:03d}"), dtype="float64", engine="torchani", member_forces=True)
        a.calc = calc
        a.get_potential_energy()
        n = len(a)
        assert test[0]["rho_eV"] == pytest.approx(np.std(calc.results["member_energies"]) / np.sqrt(n), rel=1e-4)
        spread = np.linalg.norm(calc.results["member_forces"].std(axis=0), axis=1)
        assert test[0]["force_spread_max_eV_A"] == pytest.approx(spread.max(), rel=1e-4)
    assert any(r["spearman_rho_vs_energy_error"] is not None for r in summary.discovery["rows"])


def test_caches_make_a_second_call_cheap_and_survive_corruption(run, summary, monkeypatch):
    before = summary.discovery["rows"]

    def boom(*a, **k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(discovery, "evaluate_points", boom)
    monkeypatch.setattr("alal.analysis.cna.cna_fractions", boom)
    assert status.summarize(run).discovery["rows"] == before
    monkeypatch.undo()
    # a damaged CNA cache is recomputed, not trusted
    cache = run / "reports" / "cna_cache.json"
    cache.write_text("{not json")
    assert status.summarize(run, calibration=False).discovery["rows"][0]["cand_other_fraction"] == \
        pytest.approx(before[0]["cand_other_fraction"])
    assert json.loads(cache.read_text())["entries"]


def test_cna_of_crystals_and_atom_weighting(tmp_path):
    from ase.build import bulk

    cache = discovery.CNACache(tmp_path / "c.json")
    fcc = cache.get("s:fcc", lambda: bulk("Al", "fcc", a=4.05, cubic=True).repeat(3))
    assert fcc["fcc"] == pytest.approx(1.0) and fcc["n_atoms"] == 108
    hcp = cache.get("s:hcp", lambda: bulk("Al", "hcp", a=2.86, c=2.86 * 1.633).repeat((4, 4, 3)))
    assert hcp["hcp"] == pytest.approx(1.0)
    w = discovery.weighted_fractions([fcc, hcp])
    assert w["fcc"] == pytest.approx(108 / (108 + hcp["n_atoms"])) and sum(w[k] for k in discovery.CNA_TYPES) == 1.0
    cache.save()
    assert set(json.loads((tmp_path / "c.json").read_text())["entries"]) == {"s:fcc", "s:hcp"}


def test_an_fcc_candidate_counts_atom_weighted_in_its_generation(run, summary, tmp_path):
    import shutil

    from ase.build import bulk

    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("work", "parsl", "cache", "datasets_cache.json"))
    before = summary.discovery["rows"][0]
    n_before = sum(len(s.toatoms()) for s in Store(copy / "ase.db").structures(source="al")
                   if int(s.generation) == 0 and s.status != "dropped")
    fcc = bulk("Al", "fcc", a=4.05, cubic=True).repeat(3)
    Store(copy / "ase.db").add_structure(fcc, source="al", generation=0, traj_id="t-fcc")
    row = status.summarize(copy, calibration=False).discovery["rows"][0]
    assert row["n_candidates"] == before["n_candidates"] + 1
    assert row["cand_fcc_fraction"] == pytest.approx((108 + before["cand_fcc_fraction"] * n_before) / (108 + n_before))
    assert row["cand_other_fraction"] == pytest.approx(before["cand_other_fraction"] * n_before / (108 + n_before))
    assert row["end_other_fraction"] == pytest.approx(before["end_other_fraction"])  # end frames untouched
    # no training-set files: the dataset is read from the database order, with the same counts
    assert row["n_labels_from"] == "database order"
    assert [row[k] for k in ("n_labels", "n_labels_bootstrap", "n_labels_al", "n_labels_test")] == \
        [before[k] for k in ("n_labels", "n_labels_bootstrap", "n_labels_al", "n_labels_test")]


def test_spearman_states_why_it_is_missing():
    assert discovery.spearman([1, 2, 3], [1, 2, 3]) == (None, "3 structures (at least 5 needed)")
    assert discovery.spearman([1, 1, 1, 1, 1], [1, 2, 3, 4, 5])[1] == "constant values"
    r, why = discovery.spearman([1, 2, 3, 4, 5], [2, 4, 5, 9, 10])
    assert r == pytest.approx(1.0) and why == ""
    r, why = discovery.spearman([1, 2, 3, 4, 5, np.nan], [5, 4, 3, 2, 1, 0])
    assert r == pytest.approx(-1.0) and why == ""


def test_status_prints_the_table_and_the_report_has_the_figures(run, summary, capsys):
    r = alal("status", str(run), "--report")
    assert r.returncode == 0, r.stderr[-2000:]
    assert HEADER in r.stdout and "spearman ρ-vs-err" in r.stdout and "discovery per generation" in r.stdout
    md = (run / "report.md").read_text()
    assert "## Discovery per generation" in md and HEADER in md
    for name in discovery.FIGURES.values():
        png = run / "reports" / name
        assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG" and f"(reports/{name})" in md
    # --no-discovery: the old summary only, nothing analysed
    import argparse

    p = argparse.ArgumentParser()
    status.add_arguments(p)
    assert status.run(p.parse_args([str(run), "--no-discovery"])) == 0
    assert HEADER not in capsys.readouterr().out
    assert status.run(p.parse_args([str(run), "--json"])) == 0
    d = json.loads(capsys.readouterr().out)
    assert [g["generation"] for g in d["discovery"]["generations"]] == [0, 1]
