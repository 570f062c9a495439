"""``alal discover [CONFIG] [--run-dir DIR]``: an automated-discovery run from random cells to its verdict.

One command (``make discover``) for the paper's claim, on this machine:

  1. the active-learning loop (``alal train``), resumed when the run directory already holds a run, so a
     killed ``make discover`` continues where it stopped;
  2. the final generation validated against the oracle that labelled its data (``alal validate --against``,
     when the oracle is a potential: teacher-student) or with the static suite (any other oracle);
  3. the final model on held-out random cells, heat-cool snapshots and strained crystals labelled by the
     oracle (``alal study heldout``: energy and force MAE against the discovery targets);
  4. the paper's Table I on this run (``alal study table1``);
  5. the run's summary with the per-generation discovery table (``alal status``).

Each step is a separate process, as a user would run it, so a failure names its step and the later steps of
a finished run can be repeated on their own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from alal.errors import AlalError

DEFAULT_CONFIG = "configs/al-discovery.toml"
STEPS = ("train", "validate", "heldout", "table1")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=DEFAULT_CONFIG, help=f"AL configuration (default {DEFAULT_CONFIG})")
    p.add_argument("--run-dir", help="run directory (default runs/<run.name>); an existing run is resumed")
    p.add_argument("--tier", default="quick", choices=["quick", "full"], help="validation tier (default quick)")
    p.add_argument("--skip", default="", help=f"comma-separated steps to skip: {', '.join(STEPS)}")


def _final_generation(run_dir: Path) -> int:
    models = sorted(p for p in (run_dir / "models").glob("gen-*") if (p / "alal_model.json").is_file())
    if not models:
        raise AlalError(f"run '{run_dir}' has no trained generation; the loop must run first")
    return int(models[-1].name.split("-")[1])


def steps(cfg, config: str, run_dir: Path, tier: str, skip: set[str]) -> list[tuple[str, list[str] | None]]:
    """The commands of a discovery run (``None`` for the model: it is known only after training)."""
    py = [sys.executable, "-m", "alal.cli"]
    out: list[tuple[str, list[str] | None]] = []
    if "train" not in skip:
        resume = (run_dir / "manifest.json").is_file()
        out.append(("train", py + ["train", config] + (["--resume", str(run_dir)] if resume else ["--run-dir", str(run_dir)])))
    if "validate" not in skip:
        out.append(("validate", None))
    if "heldout" not in skip and cfg["oracle.kind"] in ("potential", "emt"):  # labelled in-process: cheap oracles
        out.append(("heldout", py + ["study", "heldout", str(run_dir)]))
    if "table1" not in skip:
        out.append(("table1", py + ["study", "table1", str(run_dir)]))
    out.append(("status", py + ["status", str(run_dir)]))
    return out


def validate_command(cfg, run_dir: Path, tier: str) -> list[str]:
    from alal.al.cli import STATIC_PROPERTIES

    model = run_dir / "models" / f"gen-{_final_generation(run_dir):03d}"
    cmd = [sys.executable, "-m", "alal.cli", "validate", "--potentials", str(model), "--tier", tier,
           "--out", str(run_dir / "validation")]
    if cfg["oracle.kind"] == "potential":
        return cmd + ["--against", cfg.oracle_settings()["name"]]
    return cmd + ["--properties", ",".join(STATIC_PROPERTIES)]


def run(args) -> int:
    from alal.al import config as alconfig

    cfg = alconfig.load(args.config)
    run_dir = Path(args.run_dir or Path("runs") / cfg["run.name"])
    if not run_dir.parent.is_dir():
        raise AlalError(f"the parent folder of the run directory '{run_dir}' does not exist")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(STEPS)
    if unknown:
        raise AlalError(f"--skip: unknown step(s) {', '.join(sorted(unknown))} (choose from {', '.join(STEPS)})")
    t0 = time.time()
    rc = 0
    for name, cmd in steps(cfg, args.config, run_dir, args.tier, skip):
        if cmd is None:
            cmd = validate_command(cfg, run_dir, args.tier)
        print(f"discover [{name}] {' '.join(cmd)}", flush=True)
        step_rc = subprocess.call(cmd)
        print(f"discover [{name}] exit {step_rc} after {(time.time() - t0) / 60:.1f} min in all", flush=True)
        if step_rc and name == "train":
            return step_rc  # no model to judge
        rc = rc or step_rc
    print(f"discover: done in {(time.time() - t0) / 60:.1f} min; run {run_dir}, report {run_dir / 'report.md'}, "
          f"validation {run_dir / 'validation'}", flush=True)
    return rc
