"""What the active learning discovered, generation by generation, read from a run directory alone.

Pure analysis of what ``RUN_DIR`` holds (the database, the model directories); it writes nothing but its own
caches and outputs under ``RUN_DIR/reports/``, so it runs on a finished run or beside a running one.

Per generation g (the model g, the trajectories sampled with it and the candidates they sent to the oracle):

  trajectories     finished trajectories sampled with model g (lost ones are counted apart), median and max
                   time reached (ps), survival = the fraction that reached t_max (``stop_reason == "t_max"``)
  labels           the size of model g's dataset (its first ``n_labels`` bootstrap/al labels, in database
                   order: exactly the rows its training set was written from), by source and split
  test errors      model g's test-split energy MAE (meV/atom) and force-component MAE (eV/Å), from the
                   generation record (the training report)
  CNA              adaptive common-neighbour analysis (OVITO, :mod:`alal.analysis.cna`) of (a) the candidates
                   (structures with source "al" proposed by model g, near-duplicates dropped before the oracle
                   left out) and (b) the trajectories' end frames; atom-weighted mean fractions of fcc, hcp,
                   bcc, ico and other. Cached per structure in ``reports/cna_cache.json``.
  calibration      model g evaluated on the test split of its own dataset (and the val split): per structure
                   ρ = σ_E/√N (eV, σ over members of the total energy) against |Ê − E|/N (eV/atom), and the
                   mean per-atom force spread (eV/Å) against the force-component MAE (eV/Å); Spearman rank
                   correlations per generation. Cached per generation in ``reports/calibration.json`` (a
                   finished generation's model and dataset never change).

``reports/discovery.json`` holds the table with unit-bearing keys; :func:`write_figures` draws the figures.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Callable

import numpy as np

from alal.al.rundir import read_json, write_json_atomic
from alal.al.stopping import finished

REPORTS = "reports"
CNA_CACHE = "cna_cache.json"
CALIBRATION = "calibration.json"
DATASETS = "datasets_cache.json"
DISCOVERY = "discovery.json"
CACHE_VERSION = 1
CNA_TYPES = ("fcc", "hcp", "bcc", "ico", "other")
TRAIN_SOURCES = ("bootstrap", "al")  # as alal.al.loop.TRAIN_SOURCES (not imported: the loop pulls in Parsl)
MIN_SPEARMAN_POINTS = 5
FIGURES = {"cna": "discovery_cna.png", "survival": "discovery_survival.png", "calibration": "discovery_calibration.png"}


def reports_dir(run_dir: Path) -> Path:
    return Path(run_dir) / REPORTS


# --------------------------------------------------------------------------------------------- CNA


class CNACache:
    """Per-structure CNA fractions and atom counts in ``reports/cna_cache.json`` (keys ``s:HASH`` for a
    candidate structure, ``t:TRAJ_ID`` for a trajectory's end frame)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        d = read_json(self.path)
        ok = isinstance(d, dict) and d.get("version") == CACHE_VERSION and isinstance(d.get("entries"), dict)
        self.entries: dict = d["entries"] if ok else {}
        self.dirty = False
        self.error: str | None = None

    def get(self, key: str, atoms_fn: Callable):
        """The cached entry of ``key``, computing it from ``atoms_fn()`` when missing; None when CNA cannot run."""
        if key in self.entries:
            return self.entries[key]
        if self.error:
            return None
        atoms = atoms_fn()
        if atoms is None or len(atoms) == 0:
            return None
        from alal.analysis.cna import cna_fractions
        from alal.errors import AlalError

        try:
            f = cna_fractions(atoms)
        except AlalError as exc:  # OVITO missing: say so once, leave the CNA columns empty
            self.error = str(exc)
            return None
        entry = {"n_atoms": len(atoms), **{k: float(f[k]) for k in CNA_TYPES}}
        self.entries[key] = entry
        self.dirty = True
        return entry

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.path, {"version": CACHE_VERSION, "entries": self.entries})
            self.dirty = False


def weighted_fractions(entries: list[dict]) -> dict:
    """Atom-weighted mean CNA fractions of several structures (they sum to 1), ``n_structures`` and ``n_atoms``."""
    entries = [e for e in entries if e]
    n = sum(int(e["n_atoms"]) for e in entries)
    out = {"n_structures": len(entries), "n_atoms": n}
    for k in CNA_TYPES:
        out[k] = sum(e[k] * int(e["n_atoms"]) for e in entries) / n if n else None
    return out


# ------------------------------------------------------------------------------------- calibration


def spearman(x, y, *, min_points: int = MIN_SPEARMAN_POINTS) -> tuple[float | None, str]:
    """(Spearman rank correlation, "") or (None, why it is not given)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < min_points:
        return None, f"{len(x)} structures (at least {min_points} needed)"
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, "constant values"
    from scipy.stats import spearmanr

    r = float(spearmanr(x, y).statistic)
    return (r, "") if math.isfinite(r) else (None, "undefined")


def evaluate_points(model_dir: Path, rows: list, *, dtype: str = "float64") -> list[dict]:
    """Per label row: ρ, |energy error| per atom, force spread and force errors under the model in ``model_dir``."""
    from alal.potentials import load
    from alal.potentials.ani import ANICalculator
    from alal.al.uncertainty import force_spread, rho

    calc = load(str(model_dir), dtype=dtype, member_forces=True)
    points = []
    for r in rows:
        a = r.toatoms()
        a.calc = calc
        n = len(a)
        e_pred = float(a.get_potential_energy())
        f_pred = np.asarray(a.get_forces())
        me = calc.results["member_energies"]
        mf = calc.results.get("member_forces")
        if mf is None and isinstance(calc, ANICalculator):  # an engine that ignored the request: ask once more
            calc.want_member_forces = True
            calc.calculate(a, ["energy", "forces"])
            mf = calc.results.get("member_forces")
        fs_mean, fs_max = force_spread(mf) if mf is not None else (float("nan"), float("nan"))
        df = np.abs(f_pred - np.asarray(r.forces, float))
        points.append({
            "hash": r.hash, "split": r.get("split"), "source": r.get("source"), "n_atoms": n,
            "rho_eV": rho(me, n), "energy_abs_error_eV_per_atom": abs(e_pred - float(r.energy)) / n,
            "force_spread_mean_eV_A": fs_mean, "force_spread_max_eV_A": fs_max,
            "force_mae_eV_A": float(df.mean()), "force_max_abs_error_eV_A": float(df.max()),
        })
    return points


def calibration_summary(points: list[dict]) -> dict:
    """Spearman correlations of ρ vs energy error and force spread vs force error: test split (the headline),
    val split and both together."""
    out = {}
    for tag, splits in (("", ("test",)), ("_val", ("val",)), ("_test_val", ("test", "val"))):
        p = [x for x in points if x["split"] in splits]
        r, why = spearman([x["rho_eV"] for x in p], [x["energy_abs_error_eV_per_atom"] for x in p])
        rf, whyf = spearman([x["force_spread_mean_eV_A"] for x in p], [x["force_mae_eV_A"] for x in p])
        out[f"n_calibration{tag or '_test'}"] = len(p)
        out[f"spearman_rho_vs_energy_error{tag}"] = r
        out[f"spearman_force_spread_vs_force_error{tag}"] = rf
        if why:
            out[f"spearman_rho_vs_energy_error{tag}_reason"] = why
        if whyf:
            out[f"spearman_force_spread_vs_force_error{tag}_reason"] = whyf
    return out


def _model_stamp(model_dir: Path) -> str:
    p = Path(model_dir) / "alal_model.json"
    st = p.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


# ---------------------------------------------------------------------------------------- analysis


_KV = re.compile(r'(\w+)=("[^"]*"|\S+)')


def read_dataset_index(path: Path) -> list[tuple[str, str, str]]:
    """(hash, split, source) of every frame of a training-set file (extended XYZ written by
    :func:`alal.al.tasks.write_dataset`), from its comment lines alone (no atoms parsed)."""
    out = []
    with open(path) as fh:
        for line in fh:
            if not line.strip():
                continue
            n = int(line)
            info = {k: v.strip('"') for k, v in _KV.findall(fh.readline())}
            out.append((info.get("hash", ""), info.get("split", ""), info.get("source", "")))
            for _ in range(n):
                fh.readline()
    return out


def dataset_index(rd, generation: int, attempt: int, labels: list, n_labels: int) -> tuple[list, str]:
    """The labels generation g was trained on as [(hash, split, source)] and where that was read: its training-set
    file (``work/train/gen-NNN/dataset-attemptK.extxyz``) when present, else the first ``n_labels`` bootstrap/al
    labels in database order (the loop writes the file from exactly those; labels are only ever added)."""
    path = rd.train_work(generation) / f"dataset-attempt{attempt}.extxyz"
    if path.is_file():
        try:
            return read_dataset_index(path), "dataset file"
        except (OSError, ValueError):
            pass
    return [(r.hash, r.get("split"), r.get("source")) for r in labels[:n_labels]], "database order"


def analyse(rd, store, cfg, *, calibration: bool = True, cna: bool = True, echo: Callable | None = None) -> dict:
    """The per-generation discovery table of a run (see the module docstring).

    Returns {"rows": [...], "calibration": {gen: {"summary", "points"}}, "curves": {gen: (times, events)},
    "t_max_ps", "notes": [...]}. ``rows`` is what ``reports/discovery.json`` holds.
    """
    echo = echo or (lambda msg: None)
    out_dir = reports_dir(rd.path)
    notes: list[str] = []
    t_max = float(cfg["sampler.t_max_ps"])

    all_trajs = store.trajectories()
    by_gen_t: dict[int, list] = {}
    for t in all_trajs:
        by_gen_t.setdefault(int(t.get("generation", -1)), []).append(t)
    cands: dict[int, list] = {}
    dropped: dict[int, int] = {}
    for s in store.structures(source="al"):
        g = int(s.get("generation", -1))
        if s.get("status") == "dropped":
            dropped[g] = dropped.get(g, 0) + 1
        else:
            cands.setdefault(g, []).append(s)
    gen_rows: dict[int, object] = {}
    for g in store.generations(status="ok"):
        gen_rows[int(g.generation)] = g  # the last successful attempt
    labels = store.labels(sources=TRAIN_SOURCES)

    cache = CNACache(out_dir / CNA_CACHE) if cna else None
    cal_cache = None
    if calibration:
        d = read_json(out_dir / CALIBRATION)
        cal_cache = d if isinstance(d, dict) and d.get("version") == CACHE_VERSION else {"version": CACHE_VERSION}
        cal_cache.setdefault("generations", {})
    cal_dirty = False
    d = read_json(out_dir / DATASETS)
    ds_cache = d if isinstance(d, dict) and d.get("version") == CACHE_VERSION else {"version": CACHE_VERSION}
    ds_cache.setdefault("generations", {})
    ds_dirty = False
    by_hash = {r.hash: r for r in labels}

    rows, cal_out, curves = [], {}, {}
    for gen in sorted(set(by_gen_t) | set(gen_rows)):
        if gen < 0:
            continue
        ts_all = by_gen_t.get(gen, [])
        ts = finished(ts_all)
        times = [float(t.get("t_reached_ps")) for t in ts]
        curves[gen] = (times, [bool(t.get("event")) for t in ts])
        reasons = [t.get("stop_reason") for t in ts]
        row = {
            "generation": gen,
            "n_trajectories": len(ts), "n_trajectories_lost": len(ts_all) - len(ts),
            "median_t_ps": float(np.median(times)) if times else None,
            "max_t_ps": float(np.max(times)) if times else None,
            "t_max_ps": t_max,
            "survival_fraction": sum(r == "t_max" for r in reasons) / len(ts) if ts else None,
            "rho_thresholds_eV": sorted({float(t.get("rho_threshold_eV")) for t in ts if t.get("rho_threshold_eV") is not None},
                                        reverse=True),  # more than one on a threshold ladder (alal.al.stopping)
            "n_uncertain": sum(r in ("uncertain", "uncertain_forces") for r in reasons),
            "n_blowups": sum(r == "blowup" for r in reasons),
            "n_candidates": len(cands.get(gen, [])), "n_candidates_dropped": dropped.get(gen, 0),
            "n_candidates_labelled": sum(s.get("status") == "labelled" for s in cands.get(gen, [])),
        }
        g = gen_rows.get(gen)
        if g is not None:
            n_labels = int(g.get("n_labels", 0) or 0)
            ds_stamp = {"attempt": int(g.attempt), "n_labels": n_labels}
            comp = ds_cache["generations"].get(str(gen))
            if not (isinstance(comp, dict) and comp.get("stamp") == ds_stamp):
                idx, where = dataset_index(rd, gen, int(g.attempt), labels, n_labels)
                comp = {"stamp": ds_stamp, "from": where, "n": len(idx),
                        **{f"source_{k}": sum(x[2] == k for x in idx) for k in TRAIN_SOURCES},
                        **{f"split_{k}": sum(x[1] == k for x in idx) for k in ("train", "val", "test")}}
                if where == "dataset file" or len(idx) == n_labels:  # a complete answer never changes
                    ds_cache["generations"][str(gen)] = comp
                    ds_dirty = True
            row.update({
                "model_attempt": int(g.attempt), "n_labels": n_labels, "n_labels_from": comp["from"],
                "n_labels_bootstrap": comp["source_bootstrap"], "n_labels_al": comp["source_al"],
                "n_labels_train": comp["split_train"], "n_labels_val": comp["split_val"],
                "n_labels_test": comp["split_test"],
                "test_energy_mae_meV_per_atom": g.get("test_energy_mae_meV_per_atom"),
                "test_energy_rmse_meV_per_atom": g.get("test_energy_rmse_meV_per_atom"),
                "test_force_mae_eV_A": g.get("test_force_mae_eV_A"),
                "test_force_rmse_eV_A": g.get("test_force_rmse_eV_A"),
            })
            if comp["n"] != n_labels:
                notes.append(f"generation {gen}: its record says {n_labels} labels, its dataset ({comp['from']}) "
                             f"holds {comp['n']}")
        else:
            row.update({"model_attempt": None, "n_labels": None})
        # CNA
        if cache is not None:
            ce = [cache.get(f"s:{s.hash}", s.toatoms) for s in cands.get(gen, [])]
            ee = [cache.get(f"t:{t.traj_id}", t.toatoms) for t in ts]
            for prefix, entries in (("cand", ce), ("end", ee)):
                w = weighted_fractions(entries)
                row[f"{prefix}_cna_n_structures"] = w["n_structures"]
                for k in CNA_TYPES:
                    row[f"{prefix}_{k}_fraction"] = w[k]
        # calibration
        if cal_cache is not None and g is not None:
            model_dir = rd.model(gen)
            key = str(gen)
            c = cal_cache["generations"].get(key)
            if not (model_dir / "alal_model.json").is_file():
                row["calibration_reason"] = f"model directory {model_dir.name} is missing"
            else:
                stamp = {"attempt": int(g.attempt), "n_labels": int(row["n_labels"]), "model": _model_stamp(model_dir)}
                if not (isinstance(c, dict) and c.get("stamp") == stamp):
                    idx, _ = dataset_index(rd, gen, int(g.attempt), labels, int(row["n_labels"]))
                    todo = [by_hash[h] for h, split, _ in idx if split in ("test", "val") and h in by_hash]
                    echo(f"discovery: calibrating generation {gen} on {len(todo)} test/val labels")
                    try:
                        points = evaluate_points(model_dir, todo)
                    except Exception as exc:  # noqa: BLE001 - one model that cannot be evaluated: said, not fatal
                        c = None
                        row["calibration_reason"] = f"evaluation failed ({type(exc).__name__}: {exc})"[:300]
                        notes.append(f"generation {gen}: {row['calibration_reason']}")
                    else:
                        c = {"stamp": stamp, "summary": calibration_summary(points), "points": points}
                        cal_cache["generations"][key] = c
                        cal_dirty = True
                if c is not None:
                    cal_out[gen] = c
                    row.update(c["summary"])
        rows.append(row)

    if cache is not None:
        if cache.error:
            notes.append(f"no CNA: {cache.error}")
        try:
            cache.save()
        except OSError as exc:
            notes.append(f"CNA cache not written ({exc})")
    for dirty, name, content, what in ((ds_dirty, DATASETS, ds_cache, "dataset"),
                                       (cal_dirty, CALIBRATION, cal_cache, "calibration")):
        if not dirty:
            continue
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out_dir / name, content)
        except OSError as exc:
            notes.append(f"{what} cache not written ({exc})")
    result = {"rows": rows, "calibration": cal_out, "curves": curves, "t_max_ps": t_max, "notes": notes,
              "cna": cache is not None and not cache.error, "calibrated": cal_cache is not None}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out_dir / DISCOVERY, {"format": "alal-discovery-v1", "t_max_ps": t_max,
                                                "min_spearman_points": MIN_SPEARMAN_POINTS, "notes": notes,
                                                "generations": rows})
    except OSError as exc:
        notes.append(f"{DISCOVERY} not written ({exc})")
    return result


# -------------------------------------------------------------------------------------------- text


def _f(x, spec=".3g", scale=1.0):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x * scale, spec)


def _cna_cell(row: dict, prefix: str) -> str:
    if row.get(f"{prefix}_fcc_fraction") is None:
        return "-"
    return "/".join(f"{100 * row[f'{prefix}_{k}_fraction']:.0f}" for k in CNA_TYPES)


HEADER = ("gen", "ρ thr eV", "trajs", "median t ps", "survival %", "labels (boot+al)", "test E MAE meV/at", "test F MAE eV/Å",
          "cand fcc/hcp/bcc/ico/oth %", "end fcc/hcp/bcc/ico/oth %", "spearman ρ-vs-err")


def table_cells(row: dict) -> list[str]:
    labels = "-" if row.get("n_labels") is None else f"{row['n_labels']} ({row['n_labels_bootstrap']}+{row['n_labels_al']})"
    sp = row.get("spearman_rho_vs_energy_error")
    sp_cell = _f(sp, "+.2f") if sp is not None else ("n/a" if row.get("spearman_rho_vs_energy_error_reason") else "-")
    thr = "/".join(f"{t:.3g}" for t in row.get("rho_thresholds_eV") or []) or "-"
    return [str(row["generation"]), thr, str(row["n_trajectories"]), _f(row.get("median_t_ps")),
            _f(row.get("survival_fraction"), ".0f", 100.0), labels, _f(row.get("test_energy_mae_meV_per_atom")),
            _f(row.get("test_force_mae_eV_A")), _cna_cell(row, "cand"), _cna_cell(row, "end"), sp_cell]


def table_text(result: dict, indent: str = "    ") -> str:
    cells = [list(HEADER)] + [table_cells(r) for r in result["rows"]]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = [indent + "  ".join(c[i].rjust(widths[i]) for i in range(len(HEADER))) for c in cells]
    lines += [indent + line for line in legend(result)]
    return "\n".join(lines)


def legend(result: dict) -> list[str]:
    t_max = result["t_max_ps"]
    out = [f"ρ thr: the ρ threshold(s) the generation's trajectories stopped at; survival: share of trajectories reaching t_max = {t_max:g} ps; CNA: atom-weighted adaptive-CNA shares of "
           "the candidates sent to the oracle (cand) and of the trajectories' end frames (end); spearman: rank "
           f"correlation of ρ = σ_E/√N with |Ê−E|/N over the model's test split (n/a: fewer than "
           f"{MIN_SPEARMAN_POINTS} test structures)"]
    out += [f"note: {n}" for n in result["notes"]]
    return out


def table_markdown(result: dict) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(table_cells(r)) + " |" for r in result["rows"]]
    lines += [""] + [f"*{line}*" for line in legend(result)]
    cal = [r for r in result["rows"] if r.get("n_calibration_test") is not None]
    if cal:
        lines += ["", "Uncertainty calibration (Spearman rank correlations; test split, val split):", "",
                  "| gen | n test | ρ vs \\|ΔE\\|/N (test) | F spread vs F MAE (test) | n val | ρ vs \\|ΔE\\|/N (val) "
                  "| F spread vs F MAE (val) |", "|" + " --- |" * 7]
        for r in cal:
            def sp(k):
                return _f(r.get(k), "+.2f") if r.get(k) is not None else "n/a"
            lines.append(f"| {r['generation']} | {r['n_calibration_test']} | {sp('spearman_rho_vs_energy_error')} | "
                         f"{sp('spearman_force_spread_vs_force_error')} | {r['n_calibration_val']} | "
                         f"{sp('spearman_rho_vs_energy_error_val')} | {sp('spearman_force_spread_vs_force_error_val')} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- figures


def write_figures(result: dict, out_dir: Path) -> dict[str, Path]:
    """The three figures as PNGs in ``out_dir``; returns {name: path} of those drawn."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    made: dict[str, Path] = {}
    colors = {"fcc": "tab:green", "hcp": "tab:red", "bcc": "tab:blue", "ico": "tab:orange", "other": "0.6"}

    # (i) CNA shares vs generation
    if result.get("cna") and any(r.get("cand_fcc_fraction") is not None or r.get("end_fcc_fraction") is not None
                                 for r in rows):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
        for ax, prefix, title in ((axes[0], "cand", "candidates sent to the oracle"),
                                  (axes[1], "end", "trajectory end frames")):
            sel = [r for r in rows if r.get(f"{prefix}_fcc_fraction") is not None]
            gens = [r["generation"] for r in sel]
            bottom = np.zeros(len(sel))
            for k in CNA_TYPES:  # stacked bars: one per generation
                v = np.array([100 * r[f"{prefix}_{k}_fraction"] for r in sel])
                ax.bar(gens, v, bottom=bottom, color=colors[k], width=0.8, label=k)
                bottom += v
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("generation")
            ax.set_ylim(0, 100)
        axes[0].set_ylabel("atoms (%, adaptive CNA)")
        axes[1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.tight_layout()
        made["cna"] = out_dir / FIGURES["cna"]
        fig.savefig(made["cna"], dpi=110)
        plt.close(fig)

    # (ii) survival curves per generation and median time vs generation
    curves = {g: c for g, c in result.get("curves", {}).items() if c[0]}
    if curves:
        from alal.al.sampler import survival_curve

        t_max = result["t_max_ps"]
        grid = list(np.linspace(0.0, t_max, 101))
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        cmap = plt.get_cmap("viridis")
        gens = sorted(curves)
        for i, g in enumerate(gens):
            times, events = curves[g]
            s = survival_curve(times, events, grid)
            axes[0].step(grid, s, where="post", color=cmap(i / max(1, len(gens) - 1)),
                         label=f"gen {g} (n={len(times)})" if len(gens) <= 12 or i % max(1, len(gens) // 10) == 0 else None)
        axes[0].set_xlabel("t (ps)")
        axes[0].set_ylabel("S(t): no uncertain frame yet")
        axes[0].set_ylim(-0.02, 1.02)
        axes[0].legend(fontsize=7)
        sel = [r for r in rows if r.get("median_t_ps") is not None]
        axes[1].plot([r["generation"] for r in sel], [r["median_t_ps"] for r in sel], "o-", label="median t")
        axes[1].plot([r["generation"] for r in sel], [r["max_t_ps"] for r in sel], "s--", alpha=0.6, label="max t")
        axes[1].axhline(t_max, color="0.5", lw=0.8, ls=":", label=f"t_max = {t_max:g} ps")
        axes[1].set_xlabel("generation")
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_ylabel("time reached (ps)")
        ax2 = axes[1].twinx()
        ax2.plot([r["generation"] for r in sel], [100 * r["survival_fraction"] for r in sel], "^:", color="tab:red",
                 label="survival %")
        ax2.set_ylabel("reached t_max (%)", color="tab:red")
        ax2.set_ylim(-2, 102)
        axes[1].legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        made["survival"] = out_dir / FIGURES["survival"]
        fig.savefig(made["survival"], dpi=110)
        plt.close(fig)

    # (iii) calibration: ρ vs |ΔE|/N and force spread vs force MAE, log-log, coloured by generation
    cal = {g: c for g, c in result.get("calibration", {}).items() if c.get("points")}
    if cal:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        cmap = plt.get_cmap("plasma")
        gens = sorted(cal)
        tiny = 1e-7
        for i, g in enumerate(gens):
            pts = [p for p in cal[g]["points"] if p["split"] in ("test", "val")]
            col = cmap(0.85 * i / max(1, len(gens) - 1))
            summ = cal[g]["summary"]
            test = [p["split"] == "test" for p in pts]

            def lab(key):
                v = summ.get(key)
                return f"gen {g}: r_s = {v:+.2f}" if v is not None else f"gen {g}: r_s n/a"
            show = len(gens) <= 12 or i % max(1, len(gens) // 10) == 0 or i == len(gens) - 1
            for ax, xk, yk, key in ((axes[0], "rho_eV", "energy_abs_error_eV_per_atom", "spearman_rho_vs_energy_error"),
                                    (axes[1], "force_spread_mean_eV_A", "force_mae_eV_A",
                                     "spearman_force_spread_vs_force_error")):
                x = np.maximum([p[xk] for p in pts], tiny)
                y = np.maximum([p[yk] for p in pts], tiny)
                t = np.asarray(test, bool)
                ax.scatter(x[t], y[t], s=14, color=col, label=lab(key) if show else None)
                ax.scatter(x[~t], y[~t], s=14, facecolors="none", edgecolors=[col])
        axes[0].set_xlabel("ρ = σ_E/√N (eV)")
        axes[0].set_ylabel("|Ê − E|/N (eV/atom)")
        axes[1].set_xlabel("mean per-atom force spread (eV/Å)")
        axes[1].set_ylabel("force MAE (eV/Å)")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=7, title="test split (filled); val (open)", title_fontsize=7)
        fig.tight_layout()
        made["calibration"] = out_dir / FIGURES["calibration"]
        fig.savefig(made["calibration"], dpi=110)
        plt.close(fig)
    return made


def figures_markdown(made: dict[str, Path], base: Path) -> str:
    captions = {
        "cna": "CNA shares of the candidates sent to the oracle (left) and of the trajectories' end frames (right) "
               "per generation",
        "survival": "Survival S(t) per generation (left) and time reached per generation (right)",
        "calibration": "Uncertainty calibration per generation: ρ vs energy error (left), force spread vs force error "
                       "(right); r_s = Spearman rank correlation on the test split",
    }
    out = []
    for k in ("cna", "survival", "calibration"):
        if k in made:
            rel = os.path.relpath(made[k], base)
            out += [f"![{captions[k]}]({rel})", "", f"*{captions[k]}.*", ""]
    return "\n".join(out)
