"""``alal train CONFIG.toml [--run-dir DIR | --resume DIR] [--dry-run] [--test-stage STAGE] [--validate]``."""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from pathlib import Path

STAGES = ("builder", "oracle", "trainer", "sampler")


def _stop_rule_text(s: dict) -> str:
    """The sampler's uncertainty stop rule in words."""
    parts = []
    if s["rho_threshold_eV"] > 0:
        final = s.get("rho_threshold_final_eV", 0.0)
        ladder = f", tightened ×{s['rho_tighten_factor']:g} per rung down to {final:g} eV" if 0 < final < s["rho_threshold_eV"] else ""
        parts.append(f"ρ > {s['rho_threshold_eV']:g} eV{ladder}")
    if s["force_spread_threshold_eV_A"] > 0:
        parts.append(f"{s['force_spread_statistic']} force spread > {s['force_spread_threshold_eV_A']:g} eV/Å")
    return " or ".join(parts) + " stops"

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="active-learning configuration (TOML; see configs/al-emt-demo.toml)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--run-dir", help="new run directory (default: runs/<run.name>)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (after a crash, a kill or a stop)")
    p.add_argument("--dry-run", action="store_true", help="print the plan (stages, sizes, expected cost) and exit")
    p.add_argument("--test-stage", choices=STAGES, help="smoke-test one stage with this config and exit")
    p.add_argument("--profile", help="execution profile: 'local' or a cluster profile TOML (overrides execution.profile)")
    p.add_argument("--validate", action="store_true",
                   help="afterwards, validate the final model with the static suite (alal validate --tier quick; RUN_DIR/validation)")
    p.add_argument("--quiet", action="store_true", help="only the final summary")


def run(args) -> int:
    from alal.al import config as alconfig

    cfg = alconfig.load(args.config)
    if args.profile:
        raw = cfg.to_dict()
        raw["execution"]["profile"] = args.profile
        cfg = alconfig.from_dict(alconfig.undotted(raw), where=f"config '{args.config}' with --profile {args.profile}")
    if args.test_stage:
        from alal.al.smoke import run_stage

        return run_stage(cfg, args.test_stage)
    run_dir = Path(args.resume or args.run_dir or Path("runs") / cfg["run.name"])
    if args.dry_run:
        print(plan(cfg, run_dir))
        return 0
    from alal.al.loop import Loop
    from alal.al.status import write_report

    echo = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    loop = Loop(cfg, run_dir, config_path=args.config, resume=bool(args.resume), echo=echo)
    outcome = loop.run()
    report = write_report(run_dir)
    print(report.summary_text)
    print(f"stopped ({outcome.status}): {outcome.message}")
    print(f"report: {run_dir / 'report.md'}")
    rc = 1 if outcome.status == "failed" else 0
    if args.validate and outcome.generation >= 0:
        rc = max(rc, validate(run_dir, outcome.generation))
    return rc


# The static suite (float64 at the model's own a0; minutes for a small ANI model). The MD properties of the
# quick tier (liquid density, RDF, melting, heat-cool) cost much more and are run with `alal validate` by hand.
STATIC_PROPERTIES = ("eos", "elastic", "bain", "gsfe", "vacancy", "surface", "phonons", "checks")


def validate(run_dir: Path, generation: int) -> int:
    try:
        from validation.properties import names

        props = [p for p in STATIC_PROPERTIES if p in names()]
    except ImportError:  # not run from the repository: let `alal validate` report what is missing
        props = list(STATIC_PROPERTIES)
    model = Path(run_dir) / "models" / f"gen-{generation:03d}"
    cmd = [sys.executable, "-m", "alal.cli", "validate", "--potentials", str(model), "--properties", ",".join(props),
           "--out", str(Path(run_dir) / "validation"), "--tier", "quick"]
    print("validation: " + " ".join(cmd), flush=True)
    return subprocess.call(cmd)



def plan(cfg, run_dir: Path) -> str:
    """The run's stages, sizes and a rough cost estimate (nothing is written)."""
    from alal.al.builder import BuilderSettings
    from alal.al.execution import load_profile, local_cores
    from alal.al.oracle import estimate_seconds

    b = BuilderSettings.from_config(cfg)
    lo, hi = b.atom_count_range()
    mid = (lo + hi) // 2
    o, t, s, lp, m = (cfg.section(x) for x in ("oracle", "trainer", "sampler", "loop", "model"))
    profile = cfg["execution.profile"]
    if profile == "local":
        workers = cfg["execution.workers"] or local_cores()
        where = f"local Parsl thread pool, {workers} cores"
    else:
        prof = load_profile(profile)
        workers = prof.capacity(prof.routes["label"])
        where = f"{prof.provider} profile {profile} ({', '.join(f'{k} -> {v}' for k, v in prof.routes.items())})"
    settings = cfg.oracle_settings()
    kpts = 1
    if settings["kind"] == "gpaw":
        side = sum(b.side_A) / 2
        kpts = max(1, math.ceil(2 * math.pi * settings["kpt_density_per_inv_A"] / side)) ** 3
    t_label = estimate_seconds(settings, mid, kpts)
    n_boot = lp["bootstrap_structures"]
    labels_cap = min(lp["max_labels"], n_boot + lp["retrain_every_labels"] * (lp["max_generations"] - 1))
    gens = min(lp["max_generations"], 1 + max(0, labels_cap - n_boot) // lp["retrain_every_labels"])
    per_atom_epoch_s = 4e-4 * m["n_members"] / 8  # measured on one CPU core (float32, 96-96-64)
    train_s = sum(min(t["max_epochs"], 60 if (g and t["warm_start"]) else t["max_epochs"])
                  * (n_boot + g * lp["retrain_every_labels"]) * mid * per_atom_epoch_s for g in range(gens))
    step_s = 6e-4 * mid  # fast ANI engine, 8 members, one core
    steps_max = int(s["t_max_ps"] / (s["timestep_fs"] * 1e-3))
    lines = [
        f"plan for {cfg.source} -> run directory {run_dir}",
        f"  builder   cells {b.side_A[0]:g}-{b.side_A[1]:g} Å per side, {b.density_g_cm3[0]:g}-{b.density_g_cm3[1]:g} g/cm³, "
        f"r_min {b.r_min_A:g} Å: {lo}-{hi} atoms (typical {mid})",
        f"  oracle    {settings['kind']}" + (f" (PW {settings['ecut_eV']:g} eV, {settings['xc']}, k-density "
                                              f"{settings['kpt_density_per_inv_A']:g}/Å⁻¹ ≈ {kpts} k-points for a typical cell, "
                                              f"{settings['smearing']} {settings['smearing_width_eV']:g} eV)"
                                              if settings["kind"] == "gpaw" else "")
        + f"; ~{t_label:.3g} s per label (rough), limit {o['time_limit_s']:g} s, {o['max_attempts']} attempts",
        f"  bootstrap {n_boot} random cells -> ~{n_boot * t_label / max(workers, 1) / 60:.1f} min of labelling on {workers} workers",
        f"  trainer   {m['n_members']} × ANI [96-{'-'.join(map(str, m['hidden_layers']))}-1], loss (Ê−E)² + {t['force_weight_A2']:g} Å²/N Σ|Δf|², "
        f"≤ {t['max_epochs']} epochs (patience {t['patience_epochs']}), retrain every {lp['retrain_every_labels']} labels",
        f"  sampler   Langevin dt {s['timestep_fs']:g} fs, T_start {s['T_start_K']}, T_end {s['T_end_K']}, T_mod {s['T_mod_K']} K, "
        f"t0 {s['t0_ps']} ps, t_max {s['t_max_ps']:g} ps (≤ {steps_max} steps), {_stop_rule_text(s)}, "
        f"check every {s['check_every_steps']} steps",
        f"  stop      median time-to-uncertainty of the last {lp['stop_window']} trajectories ≥ {lp['stop_median_ps']:g} ps; "
        f"budgets: {lp['max_labels']} labels, {lp['max_generations']} generations, {lp['max_wall_h']:g} h",
        f"  execution {where}",
        f"  expected  up to ~{gens} generations / ~{labels_cap} labels within the budgets; training ≈ {train_s / 60:.0f} min "
        f"in total on one core (rough); one full-length trajectory ≈ {steps_max * step_s / 60:.1f} min; the stop rule needs "
        f"≥ {lp['stop_window']} trajectories, typically half of them reaching {lp['stop_median_ps']:g} ps "
        f"(≈ {lp['stop_window'] / 2 * lp['stop_median_ps'] / (s['timestep_fs'] * 1e-3) * step_s / 60 / max(workers, 1):.0f} min on {workers} workers)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit("use: alal train CONFIG")
