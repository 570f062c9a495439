"""`alal md-study melt-curve`: the per-pressure summary and the report (pure), the seeds, and a tiny real run of an
EAM through LAMMPS that chains its guesses from pressure to pressure and resumes from its pieces."""

import json

import pytest

from alal.errors import AlalError
from validation.studies import melt_curve
from validation.studies.melt_curve import analyse, markdown, piece_seed, plan, protocol, summarise_pressure


def attempt(Tm, outcome="coexistence", phase="fcc", superseded=False, P=0.0):
    a = {"Tm_K": Tm, "outcome": outcome, "phase_grown": phase, "P_mean_GPa": P}
    if superseded:
        a["superseded"] = True
    return a


def test_a_pressure_averages_valid_fcc_seeds_and_flags_bcc_apart():
    pieces = [
        {"P_GPa": 20.0, "attempts": [attempt(1500.0, "melted"), attempt(1400.0)]},  # a retry that found coexistence
        {"P_GPa": 20.0, "attempts": [attempt(1700.0, superseded=True), attempt(1420.0)]},  # superseded: left out
        {"P_GPa": 20.0, "attempts": [attempt(1600.0, phase="bcc")]},  # BCC grew: not averaged into the FCC line
    ]
    row = summarise_pressure(pieces)
    assert row["n_seeds"] == 3 and row["n_valid"] == 3 and row["n_fcc"] == 2 and row["attempts"] == 5
    assert row["Tm_K"] == pytest.approx(1410.0) and row["Tm_sem_K"] == pytest.approx(10.0)  # std (ddof 1) 14.1 over sqrt(2)
    assert row["phases_grown"] == ["bcc", "fcc"] and row["bcc_Tm_K"] == [1600.0]
    one = summarise_pressure([{"P_GPa": 0.0, "attempts": [attempt(930.0)]}])
    assert one["Tm_K"] == 930.0 and one["Tm_sem_K"] is None  # one seed: no error bar claimed
    none = summarise_pressure([{"P_GPa": 50.0, "attempts": [attempt(2000.0, "melted"), attempt(1900.0, "solidified")]}])
    assert none["Tm_K"] is None and none["n_valid"] == 0


def test_the_analysis_fits_each_potential_and_the_report_names_bcc():
    rows = [summarise_pressure([{"P_GPa": P, "attempts": [attempt(T + d)]} for d in (-5.0, 0.0, 5.0)])
            for P, T in ((0.0, 930.0), (5.0, 1230.0), (10.0, 1480.0), (20.0, 1880.0))]
    bcc_rows = rows[:2] + [summarise_pressure([{"P_GPa": 10.0, "attempts": [attempt(1300.0, phase="bcc")]}])]
    res = analyse({"a": rows, "b": bcc_rows})
    a, b = res["potentials"]["a"], res["potentials"]["b"]
    assert a["fit"]["model"].startswith("Simon") and 40.0 < a["fit"]["dTm_dP_K_per_GPa"] < 80.0
    assert a["bcc_grew_from_GPa"] is None and b["bcc_grew_from_GPa"] == 10.0
    assert b["fit"]["model"].startswith("straight line")  # two FCC points
    md = markdown(res, protocol())
    assert "| 5 | 1230 ± 3 (3/3) | 1230 ± 3 (3/3) |" in md
    assert "BCC only: 1300" in md and "BCC grew from 10 GPa" in md and "768 atoms" in md


def test_seeds_differ_across_pressures_and_indices_and_settings_are_checked():
    seeds = {piece_seed(p, P, k) for p in ("x", "y") for P in (0.0, 5.0) for k in (1, 2, 3)}
    assert len(seeds) == 12
    pieces = plan("x", 5.0, 1200.0, protocol(), 3, 1)
    assert [p.seed for p in pieces] == [piece_seed("x", 5.0, k) for k in (1, 2, 3)]
    assert len({p.key for p in pieces}) == 3
    assert plan("x", 5.0, 1250.0, protocol(), 1, 1)[0].key != pieces[0].key  # another guess: another piece
    with pytest.raises(AlalError, match="averaging window"):
        protocol(nph_ps=2.0)
    with pytest.raises(AlalError, match="unknown melt-curve setting"):
        protocol(nph_fs=2.0)
    with pytest.raises(AlalError, match="at least 1 seed"):
        plan("x", 0.0, 933.0, protocol(), 0, 1)


def test_a_tiny_melt_curve_chains_its_guesses_and_a_rerun_reuses_its_pieces(tmp_path, capsys, monkeypatch):
    """Mendelev 2008 (LAMMPS) at 0 and 5 GPa, one short seed each on a small cell: the 5 GPa guess extrapolates the
    0 GPa result, the files are written, and a rerun runs no MD. The command line's errors are checked apart."""
    from alal.cli import main
    from validation.studies.melt_curve import study

    monkeypatch.setenv("ALAL_MD_WORKERS", "1")
    out = tmp_path / "mc"
    tiny = protocol(repeat={"fcc": [3, 3, 8], "bcc": [4, 4, 10]}, solid_ps=0.4, melt_ps=0.4, settle_ps=0.4,
                    contact_ps=0.2, nph_ps=1.5, average_last_ps=0.6, max_attempts=1)
    res = study(["eam-mendelev2008"], out, pressures=[5.0, 0.0], n_seeds=1, settings=tiny, echo=lambda m: None)
    rows = res["potentials"]["eam-mendelev2008"]["rows"]
    assert [r["P_GPa"] for r in rows] == [0.0, 5.0]  # in order of pressure, whatever the order asked
    pieces = sorted((out / "eam-mendelev2008" / "pieces").glob("*.json"))
    assert len(pieces) == 2
    by_p = {json.loads(p.read_text())["P_GPa"]: json.loads(p.read_text()) for p in pieces}
    assert by_p[0.0]["T_guess_K"] == pytest.approx(933.47) and by_p[0.0]["attempts"][0]["n_atoms"] == 288
    if rows[0]["Tm_K"] is not None:  # the seed found coexistence at 0 GPa: the next guess is its line at 60 K/GPa
        assert by_p[5.0]["T_guess_K"] == pytest.approx(rows[0]["Tm_K"] + 300.0)
    else:
        assert by_p[5.0]["T_guess_K"] == pytest.approx(933.47)
    assert (out / "melt_curve.md").is_file() and (out / "melt_curve.png").stat().st_size > 1000
    stamps = [p.stat().st_mtime_ns for p in pieces]

    def no_md(*a, **k):
        raise AssertionError("a rerun ran MD")

    monkeypatch.setattr(melt_curve, "run_piece", no_md)
    again = study(["eam-mendelev2008"], out, pressures=[0.0, 5.0], n_seeds=1, settings=tiny, echo=lambda m: None)
    assert [p.stat().st_mtime_ns for p in pieces] == stamps
    assert json.loads(json.dumps(again["potentials"])) == json.loads((out / "melt_curve.json").read_text())["potentials"]
    capsys.readouterr()
    assert main(["md-study", "melt-curve", "--out", str(out), "--pressures", "0,x"]) == 2
    assert "--pressures" in capsys.readouterr().err
    assert main(["md-study", "melt-curve", "--out", str(out), "--T-K", "900"]) == 2
    assert main(["md-study", "diffusion", "--out", str(out), "--pressures", "0"]) == 2
