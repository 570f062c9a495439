"""``alal validate --execution PROFILE``: the independent pieces run as Parsl tasks in other processes and give
exactly the numbers of the run without it; bad profiles are one clear error.

The comparison is :func:`check_same_as_local`, parametrised only by the profile file: a cluster variant writes a
Slurm profile (provider "slurm", the live cluster's partition) and calls it with the cluster's environment.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest

from alal.al.config import ConfigError
from alal.al.execution import load_profile
from alal.cli import main as alal_main
from alal.errors import AlalError
from conftest import needs_mishin
from validation import validate
from validation.distributed import pieces_of

POTENTIALS = ("emt", "eam-mishin1999")
PROPERTIES = ("vacancy", "elastic")  # two cheap static properties (a few seconds each on 2 cores)
IGNORED = {"wall_time_s"}  # timings: the only numbers that may differ
# MD properties also report their MD wall time and, in their notes, a throughput measured in the run
MD_IGNORED = IGNORED | {"wall_s", "md_wall_s", "notes"}


def local_profile(path: Path, workers: int = 2, extra_profile: str = 'validate = "pieces"') -> Path:
    """A profile of the local provider: a HighThroughputExecutor whose workers are processes on this machine."""
    path.write_text(f'[profile]\nprovider = "local"\n{extra_profile}\n\n'
                    f'[executors.pieces]\nworkers_per_node = {workers}\ncores_per_worker = 1\nmax_blocks = 1\n'
                    f'worker_init = "export PATH={Path(sys.executable).parent}:$PATH"\n')
    return path


def differences(a, b, path: str = "", ignored=IGNORED) -> list[str]:
    """Where two results trees differ (keys, order, values), timings left out; numbers compared exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"]
        return [d for k in a if k not in ignored for d in differences(a[k], b[k], f"{path}/{k}", ignored)]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]", ignored)]
    if isinstance(a, float) and isinstance(b, float):
        same = a == b or (a != a and b != b) or abs(a - b) <= 1e-12 * max(abs(a), abs(b))
        return [] if same else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def check_same_as_local(profile: Path, tmp_path: Path, potentials=POTENTIALS, properties=PROPERTIES,
                        ignored=IGNORED) -> dict:
    """Run ``alal validate`` without and with ``--execution profile``; assert the same results.json numbers and
    that every piece ran as a task in another process. Returns the distributed run's ``meta.execution``."""
    local, dist = tmp_path / "local", tmp_path / "dist"
    validate(list(potentials), list(properties), out=local, report=False, quiet=True)
    rc = alal_main(["validate", "--potentials", ",".join(potentials), "--properties", ",".join(properties),
                    "--out", str(dist), "--no-report", "--quiet", "--execution", str(profile)])
    assert rc == 0
    a = json.loads((local / "results.json").read_text())
    b = json.loads((dist / "results.json").read_text())
    assert list(a) == list(b)
    assert a["meta"]["errors"] == b["meta"]["errors"] == []
    assert list(b["potentials"]) == list(potentials)
    for pot in potentials:
        assert list(b["potentials"][pot]) == list(properties) + ["fcc_a0_A"]
    assert differences(a["potentials"], b["potentials"], ignored=ignored) == []
    for key in ("references", "dft_references"):
        assert a[key] == b[key]
    # the kept structures: the same files with the same content
    files = sorted(p.relative_to(local) for p in (local / "structures").rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(dist) for p in (dist / "structures").rglob("*") if p.is_file())
    for f in files:
        assert (local / f).read_bytes() == (dist / f).read_bytes(), f
    # pieces: one per (potential, property), each computed by its own process, none of them this one
    execution = b["meta"]["execution"]
    assert execution["profile"] == str(profile) and execution["task_kind"] == "validate"
    pieces = execution["pieces"]
    assert [(p["potential"], p["properties"]) for p in pieces] == [(pot, [prop]) for pot in potentials
                                                                   for prop in properties]
    pids = [p["pid"] for p in pieces]
    assert all(isinstance(pid, int) and pid != os.getpid() for pid in pids) and len(set(pids)) == len(pids)
    assert all(p["rc"] == 0 for p in pieces)
    for p in pieces:  # MD runs, where a property has them: tasks of their own, each in another process
        assert all(r["rc"] == 0 and r["pid"] not in (os.getpid(), p["pid"]) for r in p["md_runs"])
        assert len({r["pid"] for r in p["md_runs"]}) == len(p["md_runs"])
        assert p["passes"] == 1 + len({r["pass"] for r in p["md_runs"]})
    assert "execution" not in a["meta"]
    # nothing left behind beside the output folders (staging and piece folders are removed)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    return execution


@needs_mishin
def test_pieces_run_as_parsl_tasks_with_the_local_numbers(tmp_path):
    profile = local_profile(tmp_path.parent / f"{tmp_path.name}-local.toml")
    execution = check_same_as_local(profile, tmp_path)
    assert execution["provider"] == "local" and execution["executor"] == "pieces"


@needs_mishin
def test_md_runs_are_tasks_of_their_own_with_the_local_numbers(tmp_path):
    """heat_cool's two seeds (LAMMPS, quick tier, ~1 min): each seed a task in its own process, the piece
    completed in a second pass from their results, and every number as in the local run."""
    profile = local_profile(tmp_path.parent / f"{tmp_path.name}-local.toml")
    execution = check_same_as_local(profile, tmp_path, potentials=("eam-mishin1999",), properties=("heat_cool",),
                                    ignored=MD_IGNORED)
    (piece,) = execution["pieces"]
    assert piece["passes"] == 2 and [r["index"] for r in sorted(piece["md_runs"], key=lambda r: r["index"])] == [0, 1]
    assert {r["function"] for r in piece["md_runs"]} == {"validation.properties.heat_cool:heat_cool_trajectory"}


def test_pieces_keep_properties_that_share_state_together():
    assert pieces_of(["eos", "rdf", "vacancy", "liquid_density", "melting"]) == [
        ["eos"], ["rdf", "liquid_density"], ["vacancy"], ["melting"]]
    assert pieces_of(["liquid_density", "rdf", "melting"], skip={"melting"}) == [["liquid_density", "rdf"]]
    assert pieces_of(["rdf"]) == [["rdf"]]


def test_validate_task_kind_is_routed_by_the_profile(tmp_path):
    two = ('[executors.cpu]\nworkers_per_node = 1\n[executors.gpu]\nworkers_per_node = 1\n')
    p = tmp_path / "p.toml"
    p.write_text('[profile]\nprovider = "local"\nlabel = "gpu"\n' + two)
    prof = load_profile(p)
    assert prof.route("validate") == "gpu" and "validate" not in prof.routes  # default: the executor of label
    p.write_text('[profile]\nprovider = "local"\nvalidate = "cpu"\nlabel = "gpu"\n' + two)
    assert load_profile(p).route("validate") == "cpu"
    p.write_text('[profile]\nprovider = "local"\n' + two)
    assert load_profile(p).route("validate") == "cpu"  # neither named: the first executor
    p.write_text('[profile]\nprovider = "local"\nvalidate = "tpu"\n' + two)
    with pytest.raises(ConfigError, match=r"profile\.validate"):
        load_profile(p)


@pytest.mark.parametrize("text, message", [
    (None, "does not exist"),
    ('[profile]\nprovider = "local"\n', r"define at least one \[executors\.NAME\]"),
    ('[profile]\nprovider = "local"\nvalidate = "nope"\n[executors.a]\n', "names executor 'nope'"),
])
def test_a_bad_profile_is_one_clear_error(tmp_path, capsys, text, message):
    profile = tmp_path / "profile.toml"
    if text is not None:
        profile.write_text(text)
    out = tmp_path / "out"
    rc = alal_main(["validate", "--potentials", "emt", "--properties", "vacancy", "--out", str(out), "--no-report",
                    "--quiet", "--execution", str(profile)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith("alal validate: error: --execution:") and str(profile) in err
    assert re.search(message, err), err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [profile.name] * (text is not None)


def test_calculator_objects_cannot_travel(tmp_path):
    from ase.calculators.emt import EMT

    profile = local_profile(tmp_path / "p.toml")
    with pytest.raises(AlalError, match="my-emt cannot be rebuilt in another process"):
        validate({"my-emt": EMT()}, ["vacancy"], out=tmp_path / "out", report=False, quiet=True, execution=profile)
    assert not (tmp_path / "out").exists()


def crash_in_piece():
    """A calculator factory that works here (the driver's probe) and kills the process of a piece."""
    from ase.calculators.emt import EMT

    if os.environ.get("ALAL_PARENT_PID"):  # set in every task process (alal.al.oracle.spawn)
        os._exit(3)
    return EMT()


def test_a_crashed_piece_is_a_failed_property_not_a_failed_run(tmp_path, monkeypatch, capsys):
    here = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    profile = local_profile(tmp_path / "p.toml", workers=1)
    out = tmp_path / "out"
    rc = alal_main(["validate", "--potentials", "test_validation_execution:crash_in_piece", "--properties", "vacancy",
                    "--out", str(out), "--no-report", "--quiet", "--execution", str(profile)])
    assert rc == 1
    results = json.loads((out / "results.json").read_text())
    label = "test_validation_execution:crash_in_piece"
    (error,) = results["meta"]["errors"]
    assert error.startswith(f"{label} / vacancy: validation piece failed on ") and "exit status 3" in error
    assert results["potentials"][label]["vacancy"]["error"] in error
    assert results["meta"]["execution"]["pieces"][0]["rc"] == 3


def crash_in_md_run():
    """EMT that works in the driver and in a piece's passes, and kills the process of an MD run (a task whose file
    is ``...-runNNN.json``)."""
    import sys

    from ase.calculators.emt import EMT

    if os.environ.get("ALAL_PARENT_PID") and "-run" in Path(sys.argv[-1]).name:
        os._exit(4)
    return EMT()


def test_a_crashed_md_run_fails_its_property_and_says_which_run(tmp_path, monkeypatch):
    here = str(Path(__file__).resolve().parent)
    monkeypatch.setenv("PYTHONPATH", here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("ALAL_MD_QUICK_SKIP", "")  # EMT runs no MD in the quick tier by default
    monkeypatch.setenv("ALAL_MD_BUDGET_SCALE", "1000")  # and its budget must not skip it: the runs must start
    profile = local_profile(tmp_path / "p.toml", workers=2)
    out = tmp_path / "out"
    label = "test_validation_execution:crash_in_md_run"
    rc = alal_main(["validate", "--potentials", label, "--properties", "heat_cool", "--out", str(out), "--no-report",
                    "--quiet", "--execution", str(profile)])
    assert rc == 1
    results = json.loads((out / "results.json").read_text())
    (error,) = results["meta"]["errors"]
    assert error.startswith(f"{label} / heat_cool: MD run ") and "heat_cool_trajectory" in error, error
    assert "exit status 4" in error
    (piece,) = results["meta"]["execution"]["pieces"]
    assert piece["passes"] == 1 and len(piece["md_runs"]) == 2 and all(r["rc"] == 4 for r in piece["md_runs"])
