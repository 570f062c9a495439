"""``alal status RUN_DIR``: what a run directory holds, read from its database alone.

Generation, dataset size, labels pending and failed, trajectories run, the current median
time-to-uncertainty, the survival curve (time to the first uncertain frame) per generation and each
generation's test errors. ``write_report`` renders the same as ``RUN_DIR/report.md``.

Unless told not to (``--no-discovery``), the per-generation discovery table of :mod:`alal.al.discovery` is added:
trajectories, survival, dataset size, test errors, CNA shares of candidates and end frames and the uncertainty
calibration of each generation's model (cached under ``RUN_DIR/reports/``; the report's figures are drawn there).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alal.al.stopping import StopRule, ThresholdLadder, finished, window_times
from alal.errors import AlalError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="an active-learning run directory")
    p.add_argument("--failures", action="store_true", help="list every failed labelling attempt with its reason")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--export", metavar="FILE", action="append", default=[],
                   help="write the run's labels to FILE: .extxyz/.xyz (extended XYZ) or .h5/.hdf5 (torchani HDF5); "
                        "repeatable")
    p.add_argument("--sources", default="bootstrap,al",
                   help="label sources to export (comma-separated: bootstrap, al, fccmelt; default bootstrap,al)")
    p.add_argument("--no-discovery", action="store_true",
                   help="skip the per-generation discovery table (CNA of candidates and end frames, uncertainty "
                        "calibration of every model; cached under RUN_DIR/reports/, slow only the first time)")
    p.add_argument("--report", action="store_true",
                   help="also write RUN_DIR/report.md with the discovery figures (RUN_DIR/reports/*.png)")


def run(args) -> int:
    discovery = not getattr(args, "no_discovery", False)

    def echo(msg: str) -> None:  # progress of a first (uncached) analysis, kept out of --json's stdout
        print(msg, file=sys.stderr, flush=True)

    if getattr(args, "report", False):
        summary = write_report(Path(args.run_dir), discovery=discovery, echo=echo)
    else:
        summary = summarize(Path(args.run_dir), discovery=discovery, echo=echo)
    if args.json:
        print(json.dumps(summary.data, indent=2, default=float))
    else:
        print(summary.summary_text)
    if args.failures:
        print(failures_text(Path(args.run_dir)))
    if args.export:
        from alal.data.export import export

        _, _, _, store = _open(Path(args.run_dir))
        sources = tuple(x.strip() for x in args.sources.split(",") if x.strip())
        for path in args.export:
            n = export(store, Path(path), sources=sources)
            print(f"exported {n} labels to {path}")
    return 0


@dataclass
class Summary:
    data: dict = field(default_factory=dict)
    summary_text: str = ""
    markdown: str = ""
    discovery: dict | None = None  # alal.al.discovery.analyse's result (with the plot data), when computed


def _open(run_dir: Path):
    from alal.al import config as alconfig
    from alal.al.rundir import RunDir
    from alal.data.store import Store

    rd = RunDir(run_dir)
    if not rd.exists():
        raise AlalError(f"'{run_dir}' is not an alal run directory (no manifest.json)")
    from alal.data.journal import check_run_database

    manifest = rd.read_manifest()
    url = (manifest.get("config", {}).get("run") or {}).get("database", "")  # a postgresql:// URL, not RUN/ase.db
    if not url:
        check_run_database(rd.path)  # a damaged or lost database: one line naming 'alal data rebuild'
        if not rd.db.is_file():
            raise AlalError(f"'{run_dir}' has no database yet (ase.db)")
    cfg = alconfig.from_dict(alconfig.undotted(manifest["config"]), where=f"'{rd.manifest_path}'")
    return rd, manifest, cfg, Store(url or rd.db)



def survival_table(trajs: list, t_max: float) -> tuple[list[float], list[dict]]:
    """Kaplan-Meier survival of trajectories per generation on a grid of times."""
    from alal.al.sampler import survival_curve

    grid = [round(t_max * f, 6) for f in (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)]
    rows = []
    by_gen: dict[int, list] = {}
    for r in trajs:
        by_gen.setdefault(int(r.generation), []).append(r)
    for gen in sorted(by_gen):
        rs = by_gen[gen]
        times = [float(r.t_reached_ps) for r in rs]
        events = [bool(r.get("event")) for r in rs]
        rows.append({"generation": gen, "n": len(rs), "events": int(sum(events)),
                     "median_ps": float(np.median(times)), "survival": survival_curve(times, events, grid)})
    return grid, rows


def wall_used_s(store) -> float:
    """Driver wall time over all sessions of the run (each session records its start and last sign of life)."""
    return sum(max(0.0, float(r.get("last_seen", 0.0)) - float(r.get("started", 0.0)))
               for r in store.select(kind="session"))


def progress_line(*, elapsed_s: float, generation: int, n_labels: int, n_pending: int, n_failed: int,
                  n_trajectories: int, n_running: int, median_ps: float, n_window: int, stop_median_ps: float,
                  wall_h: float, max_wall_h: float, training: list[tuple[int, Path]] = (),
                  rung: tuple[float, float, bool] | None = None) -> str:
    """The driver's progress line. ``training``: (generation, log file) of each training task running; ``rung``:
    (ρ threshold now, median that moves down a rung, last rung?) on a threshold ladder."""
    parts = [f"[{_hms(elapsed_s)}] gen {generation}", f"labels {n_labels} (+{n_pending} pending, {n_failed} failed)",
             f"trajectories {n_trajectories} (+{n_running} running)"]
    target_ps = stop_median_ps
    if rung is not None:
        rho_now, step_ps, last = rung
        parts.append(f"ρ threshold {rho_now:.3g} ({'last rung' if last else f'next rung at {step_ps:g} ps'})")
        target_ps = stop_median_ps if last else step_ps
    if n_window:
        parts.append(f"median t_unc last {n_window}: {median_ps:.3g} of {target_ps:g} ps")
    if max_wall_h < 1e5:
        parts.append(f"wall {wall_h * 60:.0f} of {max_wall_h * 60:.0f} min budget")
    for gen, log in training:
        parts.append(f"training gen {gen}: {_last_line(log)}")
    return " | ".join(parts)


def _last_line(path: Path) -> str:
    try:
        lines = [x for x in Path(path).read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return "starting"
    return lines[-1].split("] ", 1)[-1][:100] if lines else "starting"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def summarize(run_dir: Path, *, discovery: bool = True, calibration: bool = True, echo=None) -> Summary:
    """The run's summary; ``discovery`` adds the per-generation discovery table (``calibration=False`` leaves
    out the models' uncertainty calibration, the one part that evaluates models)."""
    rd, manifest, cfg, store = _open(run_dir)
    lp = cfg.section("loop")
    structures = Counter(r.status for r in store.structures())
    labels = store.labels(sources=("bootstrap", "al"))
    by_split = Counter(r.get("split") for r in labels)
    by_source = Counter(r.get("source") for r in labels)
    attempts = Counter(r.outcome for r in store.attempts())
    gens = store.generations()
    ok_gens = [g for g in gens if g.get("status") == "ok"]
    latest = max((int(g.generation) for g in ok_gens), default=-1)
    all_trajs = store.trajectories()
    trajs = finished(all_trajs)
    lost = len(all_trajs) - len(trajs)
    ladder = ThresholdLadder.from_config(cfg)
    rung = ladder.current([r.get("rho_threshold_eV") for r in all_trajs])
    median, n_window = StopRule.from_config(cfg).window_median(  # all finished once the driver is gone
        window_times(all_trajs, rho_threshold_eV=rung if len(ladder.rungs()) > 1 else None))
    reasons = Counter(r.get("stop_reason") for r in store.trajectories())
    grid, surv = survival_table(trajs, cfg["sampler.t_max_ps"])
    final = next((g for g in reversed(ok_gens) if int(g.generation) == latest), None)
    data = {
        "run_dir": str(rd.path), "name": cfg["run.name"], "created": manifest.get("created"),
        "generation": latest, "labels": len(labels), "labels_by_split": dict(by_split),
        "labels_by_source": dict(by_source), "structures_by_status": dict(structures),
        "attempts_by_outcome": dict(attempts), "trajectories": len(trajs), "trajectories_lost": lost,
        "stop_reasons": dict(reasons), "median_time_to_uncertainty_ps": median, "window": n_window,
        "stop_median_ps": lp["stop_median_ps"], "survival_grid_ps": grid, "survival": surv,
        "rho_threshold_rungs_eV": ladder.rungs(), "rho_threshold_now_eV": rung,
        "generations": [{k: g.get(k) for k in ("generation", "attempt", "status", "n_labels", "epochs", "train_wall_s",
                                                "test_energy_rmse_meV_per_atom", "test_force_rmse_eV_A",
                                                "test_energy_mae_meV_per_atom", "test_force_mae_eV_A", "reason")}
                        for g in gens],
        "final_test_errors": {k[5:]: final.get(k) for k in final.key_value_pairs if k.startswith("test_")} if final else {},
        "wall_h": wall_used_s(store) / 3600,
        "sessions": len(manifest.get("sessions", [])), "config_changes": manifest.get("config_changes", []),
        "stop": next(({"status": r.get("stop_status"), "message": r.get("stop_message")}
                      for r in sorted(store.select(kind="session"), key=lambda r: -float(r.get("started", 0)))
                      if r.get("stop_status")), None),
    }
    disc = None
    if discovery:
        from alal.al.discovery import analyse

        try:
            disc = analyse(rd, store, cfg, calibration=calibration, echo=echo)
        except Exception as exc:  # noqa: BLE001 - the extra analysis must not cost the summary (or a run's report)
            data["discovery_error"] = f"{type(exc).__name__}: {exc}"[:500]
        else:
            data["discovery"] = {"generations": disc["rows"], "notes": disc["notes"],
                                 "file": str(rd.path / "reports" / "discovery.json")}
    s = Summary(data=data, discovery=disc)
    s.summary_text = _text(data, disc)
    s.markdown = _markdown(data, rd, disc)
    return s


def _fmt(x, spec=".3g"):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def _text(d: dict, disc: dict | None = None) -> str:
    pend = d["structures_by_status"].get("pending", 0)
    failed = d["structures_by_status"].get("failed", 0) + d["structures_by_status"].get("quarantined", 0)
    lines = [
        f"run {d['name']} ({d['run_dir']})",
        f"  generation      {d['generation']}",
        f"  labels          {d['labels']} (train {d['labels_by_split'].get('train', 0)}, val {d['labels_by_split'].get('val', 0)}, "
        f"test {d['labels_by_split'].get('test', 0)}; bootstrap {d['labels_by_source'].get('bootstrap', 0)}, "
        f"active learning {d['labels_by_source'].get('al', 0)})",
        f"  pending/failed  {pend} pending, {failed} failed or quarantined, "
        f"{d['structures_by_status'].get('dropped', 0)} dropped as near-duplicates; attempts: "
        + ", ".join(f"{k} {v}" for k, v in sorted(d["attempts_by_outcome"].items())),
        f"  trajectories    {d['trajectories']}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(d["stop_reasons"].items())) + ")" if d["stop_reasons"] else ""),
        f"  median t_unc    {_fmt(d['median_time_to_uncertainty_ps'])} ps over the last {d['window']} trajectories "
        f"(stop at {d['stop_median_ps']:g} ps)",
    ]
    rungs = d.get("rho_threshold_rungs_eV") or []
    if len(rungs) > 1:
        lines.append("  ρ threshold     ladder " + " → ".join(f"{r:.3g}" for r in rungs)
                     + f" eV/√atom; now {d['rho_threshold_now_eV']:.3g} (the median above is over trajectories at it)")
    fe = d["final_test_errors"]
    if fe:
        lines.append(f"  final model     test split: energy MAE/RMSE {_fmt(fe.get('energy_mae_meV_per_atom'))}/"
                     f"{_fmt(fe.get('energy_rmse_meV_per_atom'))} meV/atom, force MAE/RMSE "
                     f"{_fmt(fe.get('force_mae_eV_A'))}/{_fmt(fe.get('force_rmse_eV_A'))} eV/Å")
    if d["survival"]:
        grid = d["survival_grid_ps"]
        lines.append("  survival S(t) per generation (fraction of trajectories with no uncertain frame by t):")
        lines.append("    gen   n  events  median_ps  " + "  ".join(f"{g:>7.3g}ps" for g in grid))
        for r in d["survival"]:
            lines.append(f"    {r['generation']:>3} {r['n']:>3} {r['events']:>7} {r['median_ps']:>10.3g}  "
                         + "  ".join(f"{x:>9.2f}" for x in r["survival"]))
    if d.get("discovery_error"):
        lines.append(f"  discovery       not available: {d['discovery_error']} (--no-discovery skips it)")
    if disc is not None and disc["rows"]:
        from alal.al.discovery import table_text

        lines.append("  discovery per generation (trajectories sampled with model g and the candidates they found):")
        lines.append(table_text(disc))
    lines.append(f"  wall time       {d['wall_h']:.2f} h over {d['sessions']} session(s)")
    if d.get("stop"):
        lines.append(f"  stopped         {d['stop']['status']}: {d['stop']['message']} (trajectories already running "
                     "then were still recorded)" if d["stop"]["status"] == "converged" else
                     f"  stopped         {d['stop']['status']}: {d['stop']['message']}")
    return "\n".join(lines)


def _markdown(d: dict, rd, disc: dict | None = None, figures: str = "") -> str:
    out = [f"# Active-learning run `{d['name']}`", "", "```", _text(d), "```", "", "## Generations", "",
           "| gen | attempt | status | labels | epochs | train s | test E RMSE meV/atom | test F RMSE eV/Å |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g in d["generations"]:
        out.append(f"| {g['generation']} | {g['attempt']} | {g['status']} | {g.get('n_labels') or '-'} | {g.get('epochs') or '-'} | "
                   f"{_fmt(g.get('train_wall_s'), '.0f')} | {_fmt(g.get('test_energy_rmse_meV_per_atom'))} | "
                   f"{_fmt(g.get('test_force_rmse_eV_A'))} |")
    if disc is not None and disc["rows"]:
        from alal.al.discovery import table_markdown

        out += ["", "## Discovery per generation", "",
                "Trajectories sampled with model g, the candidates they sent to the oracle, model g's dataset and "
                "test errors, and how well its uncertainty ranks its errors (machine-readable: "
                "`reports/discovery.json`).", "", table_markdown(disc), ""]
        if figures:
            out += [figures]
    table1 = rd.path / "study" / "table1" / "table1.md"
    if table1.is_file():
        out += ["", table1.read_text()]
    return "\n".join(out) + "\n"


def write_report(run_dir: Path, *, discovery: bool = True, echo=None) -> Summary:
    """``RUN_DIR/report.md``; with ``discovery``, the discovery table and its figures (``RUN_DIR/reports/*.png``)."""
    from alal.al.rundir import write_text_atomic

    run_dir = Path(run_dir)
    s = summarize(run_dir, discovery=discovery, echo=echo)
    if s.discovery is not None:
        from alal.al.discovery import figures_markdown, reports_dir, write_figures

        from alal.al.rundir import RunDir

        try:
            made = write_figures(s.discovery, reports_dir(run_dir))
        except Exception as exc:  # noqa: BLE001 - a figure that cannot be drawn must not cost the report
            made = {}
            s.discovery["notes"].append(f"figures not drawn ({type(exc).__name__}: {exc})")

        s.markdown = _markdown(s.data, RunDir(run_dir), s.discovery, figures_markdown(made, run_dir))
        s.data["discovery"]["figures"] = {k: str(v) for k, v in made.items()}
    write_text_atomic(run_dir / "report.md", s.markdown)
    return s


def failures_text(run_dir: Path) -> str:
    _, _, _, store = _open(run_dir)
    bad = [a for a in store.attempts() if a.outcome != "ok"]
    lines = [f"{len(bad)} failed labelling attempts:"]
    for a in bad:
        st = store.structure(a.hash)
        lines.append(f"  {a.hash[:12]} attempt {a.attempt}: {a.outcome} -> structure {st.status if st else '?'}: {a.reason}")
    return "\n".join(lines)
