"""Execution profiles: the shipped cluster profiles parse and build a Parsl configuration (nothing is submitted);
bad profiles are one clear error naming the key."""

from pathlib import Path

import pytest

from alal.al.config import ConfigError
from alal.al.execution import Execution, load_profile, local_cores, parsl_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, provider", [("cluster-slurm.toml", "SlurmProvider"), ("cluster-lsf.toml", "LSFProvider")])
def test_cluster_profiles_build_parsl_configs(tmp_path, name, provider):
    prof = load_profile(ROOT / "configs" / name)
    cfg = parsl_config(prof, tmp_path)
    labels = {e.label for e in cfg.executors}
    assert labels == set(prof.executors) and set(prof.routes.values()) <= labels
    for e in cfg.executors:
        assert type(e).__name__ == "HighThroughputExecutor"
        assert type(e.provider).__name__ == provider
        spec = prof.executors[e.label]
        if spec["gpus_per_worker"]:
            assert len(e.available_accelerators) == spec["workers_per_node"]
    assert str(cfg.run_dir).startswith(str(tmp_path))


@pytest.mark.parametrize("text, key", [
    ('[profile]\nprovider = "slurm"\n[executors.a]\nnodez = 1\n', "executors.a.nodez"),
    ('[profile]\nprovider = "sge"\n[executors.a]\n', "profile.provider"),
    ('[profile]\nprovider = "slurm"\nlabel = "b"\n[executors.a]\n', "profile.label"),
    ('[profile]\nprovider = "slurm"\n[executors.a]\nwalltime = "12h"\n', "executors.a.walltime"),
    ('[profile]\nprovider = "slurm"\n[executors.a]\nnodes = -1\n', "executors.a.nodes"),
])
def test_bad_profiles_name_the_key(tmp_path, text, key):
    p = tmp_path / "p.toml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_profile(p)


def test_local_default_is_sized_to_the_machine(tmp_path):
    ex = Execution(tmp_path, profile="local")
    try:
        assert ex.cores == local_cores() >= 1 and ex.slots("train") == ex.cores and ex.shares_slots()
        assert "local" in ex.description
    finally:
        ex.close()


def test_local_sampling_leaves_a_core_for_labels_and_training_does_not_wait_for_sampling():
    from alal.al.execution import Execution

    ex = Execution.__new__(Execution)  # the admission rule alone: no Parsl
    ex.local, ex.cores = True, 3
    assert ex.fits("sample", 1, [("sample", 1)])
    assert not ex.fits("sample", 1, [("sample", 1), ("sample", 1)])  # the last core stays free
    assert ex.fits("label", 1, [("sample", 1), ("sample", 1)])
    assert ex.fits("train", 2, [("sample", 1), ("sample", 1)])  # long trajectories do not hold back a generation
    assert not ex.fits("train", 2, [("label", 1), ("train", 2)])  # other work still counts
    assert ex.fits("sample", 1, [])  # alone, always
    one = Execution.__new__(Execution)
    one.local, one.cores = True, 1
    assert one.fits("sample", 1, []) and not one.fits("sample", 1, [("label", 1)])
