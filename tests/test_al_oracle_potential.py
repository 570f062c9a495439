"""The oracle kind ``potential``: any potential alal can load labels structures (a teacher standing in for DFT).

Its labels must equal the potential's own energies, forces and stress (float64), in the labelling child process
as in this one; its identity (name and data-file sha256) keeps labels of different weights apart; bad names fail
before anything is written.
"""

import tomllib
from pathlib import Path

import numpy as np
import pytest

from alal.al import config as alconfig
from alal.al import oracle as orc
from alal.al.builder import BuilderSettings, random_cell
from alal.data import structure_hash
from alal.errors import AlalError
from alal.potentials import load
from conftest import needs_ani_al

SMALL = BuilderSettings(side_A=(6.5, 7.5), density_g_cm3=(2.4, 2.8))
ROOT = Path(__file__).resolve().parents[1]


def label_in_child(tmp_path, atoms, settings):
    h = structure_hash(atoms)
    d = orc.attempt_dir(tmp_path, h, 1)
    d.mkdir(parents=True, exist_ok=True)
    orc.write_input(d / "input.json", atoms, h, 1, settings, None, True, 1)
    return orc.run_attempt(d / "input.json", d / "result.json", time_limit_s=120)


@needs_ani_al
def test_ani_al_teacher_labels_equal_the_registry_potential(tmp_path):
    cfg = alconfig.from_dict({"oracle": {"kind": "potential", "name": "ani-al"}})
    settings = cfg.oracle_settings()
    assert settings["kind"] == "potential" and settings["dtype"] == "float64"
    assert len(settings["sha256"]) == 64  # the weights' identity is part of every label's oracle hash
    atoms = random_cell(11, SMALL)
    res = label_in_child(tmp_path, atoms, settings)
    assert res.ok, res.reason
    ref = atoms.copy()
    ref.calc = load("ani-al", dtype="float64")
    assert res.energy_eV == pytest.approx(ref.get_potential_energy(), abs=1e-8)
    np.testing.assert_allclose(res.forces_eV_A, ref.get_forces(), atol=1e-8)
    np.testing.assert_allclose(res.stress_eV_A3, ref.get_stress(), atol=1e-9)


def test_one_calculator_serves_structures_of_different_sizes():
    """The labelling process keeps one calculator per potential; a reused calculator must not carry state
    from the previous structure into the next one."""
    settings = {"kind": "potential", "name": "emt", "dtype": "float64", "sha256": None}
    cells = [random_cell(s, BuilderSettings(side_A=side, density_g_cm3=(2.5, 2.7)))
             for s, side in ((1, (6.0, 6.5)), (2, (8.0, 8.5)), (3, (6.0, 6.5)))]
    for atoms in cells:
        res = orc.compute(atoms, structure_hash(atoms), 1, settings)
        fresh = atoms.copy()
        fresh.calc = load("emt")
        assert res.ok
        assert res.energy_eV == pytest.approx(fresh.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(res.forces_eV_A, fresh.get_forces(), atol=1e-10)


def test_a_users_calculator_can_be_the_oracle_even_without_stress(tmp_path, monkeypatch):
    # labelling runs in child processes: a user's module must be importable there (installed or on PYTHONPATH)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent))
    cfg = alconfig.from_dict({"oracle": {"kind": "potential", "name": "own_calculators:EMTWithoutStress"}})
    settings = cfg.oracle_settings()
    orc.check_available(settings, "Al")
    assert settings["sha256"] is None  # no data files to hash: the import string is the identity
    res = label_in_child(tmp_path, random_cell(12, SMALL), settings)
    assert res.ok, res.reason
    assert res.stress_eV_A3 is None and np.isfinite(res.energy_eV)


def test_different_potentials_give_different_oracle_hashes():
    from alal.al.tasks import oracle_hash

    a = alconfig.from_dict({"oracle": {"kind": "potential", "name": "emt"}}).oracle_settings()
    b = alconfig.from_dict({"oracle": {"kind": "potential", "name": "own_calculators:wrapped_emt"}}).oracle_settings()
    assert oracle_hash(a) != oracle_hash(b)


@pytest.mark.parametrize("oracle, message", [
    ({"kind": "potential"}, "needs oracle.name"),
    ({"kind": "emt", "name": "ani-al"}, "only used with oracle.kind = 'potential'"),
])
def test_bad_oracle_tables_name_the_key(oracle, message):
    with pytest.raises(alconfig.ConfigError, match=message):
        alconfig.from_dict({"oracle": oracle})


def test_unknown_or_broken_potential_fails_before_the_run(tmp_path):
    with pytest.raises(AlalError, match="unknown potential 'no-such-potential'"):
        alconfig.from_dict({"oracle": {"kind": "potential", "name": "no-such-potential"}}).oracle_settings()
    settings = alconfig.from_dict({"oracle": {"kind": "potential", "name": "own_calculators:RaisesOnAluminium"}}).oracle_settings()
    with pytest.raises(AlalError, match="oracle.name = 'own_calculators:RaisesOnAluminium'.*fails on a 4-atom FCC"):
        orc.check_available(settings, "Al")


def test_discovery_config_is_the_papers_protocol_with_stated_deviations():
    """The shipped discovery run: random cells only, the teacher as oracle, Eq. 2 with the paper's ranges."""
    path = ROOT / "configs" / "al-discovery.toml"
    cfg = alconfig.load(path)
    assert cfg["oracle.kind"] == "potential" and cfg["oracle.name"] == "ani-al"
    for key, paper in (("sampler.T_start_K", [10.0, 1000.0]), ("sampler.T_end_K", [10.0, 600.0]),
                       ("sampler.T_mod_K", [0.0, 2000.0]), ("sampler.t0_ps", [10.0, 50.0]),
                       ("builder.density_g_cm3", [1.80, 4.05]), ("builder.r_min_A", 1.8)):
        assert cfg[key] == paper, key
    assert cfg["loop.stop_window"] >= 16 and cfg["loop.stop_median_ps"] == cfg["sampler.t_max_ps"] >= 20.0
    assert cfg["loop.max_wall_h"] <= 2.5
    raw = tomllib.loads(path.read_text())
    assert "builder" in raw and not any("lattice" in k or "crystal" in k for k in raw["builder"])
