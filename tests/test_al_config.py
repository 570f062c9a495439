"""The AL config: validated TOML, one clear error naming the key, shipped configs valid, --dry-run."""

import subprocess
import sys
from pathlib import Path

import pytest

from alal.al import config as alconfig
from alal.al.config import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path, text, name="c.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, key",
    [
        ("[sampler]\nt_max_pss = 3\n", "sampler.t_max_pss"),
        ("[samplr]\nt_max_ps = 3\n", "samplr"),
        ("[loop]\nbootstrap_structures = -5\n", "loop.bootstrap_structures"),
        ("[builder]\nside_A = [17.0, 10.5]\n", "builder.side_A"),
        ("[builder]\ndensity_g_cm3 = [1.8]\n", "builder.density_g_cm3"),
        ("[sampler]\nT_start_K = [-10, 100]\n", "sampler.T_start_K"),
        ("[oracle]\nkind = \"vasp\"\n", "oracle.kind"),
        ("[oracle.gpaw]\necut_eV = \"400\"\n", "oracle.gpaw.ecut_eV"),
        ("[trainer]\nmax_epochs = 1.5\n", "trainer.max_epochs"),
        ("[loop]\nstop_median_ps = 300\n[sampler]\nt_max_ps = 250\n", "loop.stop_median_ps"),
        ("seed = 3\n", "seed"),
    ],
)
def test_bad_values_name_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        alconfig.load(write(tmp_path, text))


def test_malformed_toml(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        alconfig.load(write(tmp_path, "[run\nname = 'x'\n"))


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        alconfig.load(tmp_path / "nope.toml")


def test_defaults_are_the_paper():
    cfg = alconfig.from_dict({})
    assert cfg["builder.side_A"] == [10.5, 17.0] and cfg["builder.density_g_cm3"] == [1.80, 4.05]
    assert cfg["builder.r_min_A"] == 1.8
    assert cfg["sampler.T_start_K"] == [10.0, 1000.0] and cfg["sampler.T_end_K"] == [10.0, 600.0]
    assert cfg["sampler.T_mod_K"] == [0.0, 2000.0] and cfg["sampler.t0_ps"] == [10.0, 50.0]
    assert cfg["model.n_members"] == 8 and cfg["model.hidden_layers"] == [96, 96, 64] and cfg["model.celu_alpha"] == 0.1
    assert cfg["trainer.force_weight_A2"] == 0.01 and cfg["loop.bootstrap_structures"] == 400


@pytest.mark.parametrize("name", ["al-emt-demo.toml", "al-gpaw.toml", "al-gpaw-paper.toml"])
def test_shipped_configs_are_valid(name):
    cfg = alconfig.load(ROOT / "configs" / name)
    assert cfg["run.name"]


def test_resume_mutability():
    assert alconfig.is_resume_mutable("loop.max_labels")
    assert alconfig.is_resume_mutable("sampler.rho_threshold_eV")
    assert not alconfig.is_resume_mutable("oracle.gpaw.ecut_eV")
    assert not alconfig.is_resume_mutable("model.hidden_layers")
    assert not alconfig.is_resume_mutable("trainer.val_fraction")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "alal.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_cli_one_line_errors(tmp_path):
    bad = write(tmp_path, "[loop]\nbootstrap_structures = -1\n")
    r = run_cli("train", str(bad), "--run-dir", str(tmp_path / "run"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "loop.bootstrap_structures" in r.stderr
    assert not (tmp_path / "run").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    r = run_cli("train", str(ROOT / "configs" / "al-emt-demo.toml"), "--run-dir", str(tmp_path / "run"), "--dry-run")
    assert r.returncode == 0, r.stderr
    for word in ("builder", "oracle", "bootstrap", "trainer", "sampler", "stop", "execution", "expected"):
        assert word in r.stdout
    assert not (tmp_path / "run").exists()


# trainer and sampler each train a tiny ensemble first (~40 s on a loaded 2-core machine): slow
@pytest.mark.parametrize("stage", ["builder", "oracle", pytest.param("trainer", marks=pytest.mark.slow),
                                   pytest.param("sampler", marks=pytest.mark.slow)])
def test_stage_smoke_tests(stage):
    r = run_cli("train", str(ROOT / "configs" / "al-emt-demo.toml"), "--test-stage", stage)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"stage {stage}: OK" in r.stdout


def test_labels_ahead_limit_cannot_starve_the_next_training():
    with pytest.raises(alconfig.ConfigError, match="max_labels_ahead .* below loop.retrain_every_labels"):
        alconfig.from_dict({"loop": {"max_labels_ahead": 10, "retrain_every_labels": 20}})
    assert alconfig.from_dict({"loop": {"max_labels_ahead": 40, "retrain_every_labels": 20}})["loop.max_labels_ahead"] == 40


def test_an_uncertainty_stop_rule_is_required_and_force_spread_can_replace_rho():
    with pytest.raises(alconfig.ConfigError, match="nothing would ever stop a trajectory"):
        alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.0}})
    cfg = alconfig.from_dict({"sampler": {"rho_threshold_eV": 0.0, "force_spread_threshold_eV_A": 0.3,
                                          "force_spread_statistic": "mean"}})
    assert cfg["sampler.force_spread_statistic"] == "mean"
    with pytest.raises(alconfig.ConfigError, match="force_spread_statistic"):
        alconfig.from_dict({"sampler": {"force_spread_statistic": "median"}})
