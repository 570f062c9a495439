"""``alal bench``: force-evaluation speed of the ANI engine beside torchani, LAMMPS EAM and EMT.

(``alal bench --suite al``: active-learning sampler and trainer throughput; see :mod:`alal.bench_al`.)

Every method sees the same structures in the same process: FCC aluminium and a liquid-like configuration at
256, 1008, 4000 and 10 976 atoms. Per (structure, method): one warm-up evaluation, then the median of
``--repeats`` force evaluations, each after a tiny random displacement (so no calculator can return a
cached result, while a neighbour list with a skin stays valid, as in MD). Reported: atom-steps/s, the
ratio to torchani measured in the same run (the figure that counts on a shared, noisy machine), peak
resident memory during the measurement, thread count and machine information. A short ASE velocity-Verlet
run measures which fraction of an MD step the engine itself takes.

torchani is slow at the larger sizes: every measurement is time-boxed (``--budget-s``), so it gets fewer
repeats there, and it is skipped, with a note, when its projected memory would not fit (ratios at that
size then use its cost per atom at the largest size it ran, flagged as extrapolated). Output: a printed table
and ``<out>/bench.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SIZES = (256, 1008, 4000, 10976)
STRUCTURES = ("fcc", "liquid")
METHODS = ("torchani", "alal-float32", "alal-float64", "eam-mendelev2008", "emt")
FCC_A = 4.05  # Å
LIQUID_DENSITY = 2.37  # g/cm³, liquid Al near the melting point
LIQUID_DISPLACEMENT = 0.3  # Å, Gaussian displacements of the expanded lattice
JIGGLE = 1e-3  # Å, displacement between repeats
MEMORY_SHARE = 0.4  # torchani runs only when its projected peak fits in this share of the available memory


@dataclass
class Measurement:
    structure: str
    n_atoms: int
    method: str
    repeats: int = 0
    median_s: float | None = None
    atom_steps_per_s: float | None = None
    cpu_s: float | None = None  # median CPU time (all threads of the process) per evaluation
    atom_steps_per_cpu_s: float | None = None
    peak_rss_mb: float | None = None
    rss_increase_mb: float | None = None
    note: str = ""
    details: dict = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ structures


def fcc_repeats(n_atoms: int) -> tuple[int, int, int]:
    """Conventional-cell repeats giving exactly ``n_atoms`` (4 per cell), as cubic as possible."""
    cells = n_atoms // 4
    if cells * 4 != n_atoms:
        raise ValueError(f"{n_atoms} atoms is not a whole number of 4-atom FCC cells")
    best = None
    for a in range(1, int(round(cells ** (1 / 3))) + 2):
        for b in range(a, int(np.sqrt(cells / a)) + 2):
            if cells % (a * b):
                continue
            c = cells // (a * b)
            if c < b:
                continue
            score = c / a
            if best is None or score < best[0]:
                best = (score, (a, b, c))
    if best is None:
        raise ValueError(f"no FCC supercell with {n_atoms} atoms")
    return best[1]


def make_structure(kind: str, n_atoms: int, seed: int = 0):
    """FCC at a = 4.05 Å, or liquid-like: the lattice expanded to the liquid density, Gaussian-displaced."""
    from ase.build import bulk

    atoms = bulk("Al", "fcc", a=FCC_A, cubic=True).repeat(fcc_repeats(n_atoms))
    if kind == "fcc":
        return atoms
    if kind != "liquid":
        raise ValueError(f"unknown structure kind '{kind}'")
    from alal.structures import density_g_cm3

    scale = (density_g_cm3(atoms) / LIQUID_DENSITY) ** (1 / 3)
    atoms.set_cell(atoms.cell.array * scale, scale_atoms=True)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0.0, LIQUID_DISPLACEMENT, atoms.positions.shape)
    atoms.wrap()
    return atoms


# ------------------------------------------------------------------------------------------ memory


def _status_kb(field_name: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> float | None:
    """Reset the kernel's peak-RSS counter (Linux: clear_refs 5); return the current RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    rss = _status_kb("VmRSS")
    return rss / 1024 if rss is not None else None


def peak_rss_mb() -> float | None:
    hwm = _status_kb("VmHWM")
    return hwm / 1024 if hwm is not None else None


# ------------------------------------------------------------------------------------------ calculators


def make_calculator(method: str, n_atoms: int):
    """A fresh calculator for ``method`` (torchani: its own ASE calculator, float32, ANI-Al weights)."""
    from alal import potentials

    if method == "torchani":
        import torch

        from alal.potentials.ani_model import to_torchani

        # AllPairs is torchani's fastest list for small cells but O(N^2) in memory; CellList beyond that.
        neighborlist = "all_pairs" if n_atoms <= 1008 else "cell_list"
        model = to_torchani(potentials.load_ani_model("ani-al"), dtype=torch.float32, neighborlist=neighborlist)
        calc = model.ase()
        return calc, (f"torchani {_version('torchani')} ASE calculator on the ANI-Al weights, float32, AllPairs list "
                      f"up to 1008 atoms (its fastest there), CellList above (AllPairs memory is O(N^2))")
    if method.startswith("alal-"):
        dtype = method.split("-", 1)[1]
        calc = potentials.load("ani-al", dtype=dtype)
        return calc, f"alal engine, {dtype}, backend {calc.engine.backend.name}"
    if method in ("eam-mendelev2008", "emt"):
        return potentials.load(method), potentials.describe(method, with_hash=False).description
    raise ValueError(f"unknown method '{method}' (choose from {', '.join(METHODS)})")


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return "?"


def time_forces(atoms, calc, repeats: int, *, warmup: bool = True, seed: int = 0):
    """Wall and CPU times of ``repeats`` force evaluations; (wall times, CPU times, peak RSS MB, RSS increase MB).

    CPU time counts every thread of the process: on a shared machine it reflects the work done, while the
    wall time also contains the waits for cores that other jobs hold (and spinning threads count as work)."""
    rng = np.random.default_rng(seed)
    atoms = atoms.copy()
    atoms.calc = calc
    base = reset_peak_rss()
    if warmup:
        atoms.get_forces()
    times, cpu = [], []
    for _ in range(repeats):
        atoms.positions += rng.uniform(-JIGGLE, JIGGLE, atoms.positions.shape)
        t0, c0 = time.perf_counter(), time.process_time()
        f = atoms.get_forces()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if not np.all(np.isfinite(f)):
            raise RuntimeError("non-finite forces in the benchmark")
    peak = peak_rss_mb()
    return times, cpu, peak, (peak - base) if (peak is not None and base is not None) else None


# ------------------------------------------------------------------------------------------ MD fraction


def md_step_fraction(n_atoms: int, steps: int, dtype: str = "float32", temperature_K: float = 600.0) -> dict:
    """Wall time of ASE velocity-Verlet steps and the part of it spent inside the engine's evaluate()."""
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet

    from alal import potentials

    atoms = make_structure("fcc", n_atoms)
    calc = potentials.load("ani-al", dtype=dtype)
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(1))
    dyn = VelocityVerlet(atoms, timestep=2.0 * units.fs)
    dyn.run(2)  # warm-up (first list build, buffers)
    stats = calc.engine.stats
    calls0, engine0, builds0 = stats.calls, stats.seconds, stats.neighbor_builds
    t0 = time.perf_counter()
    dyn.run(steps)
    wall = time.perf_counter() - t0
    engine_s = stats.seconds - engine0
    return {
        "n_atoms": n_atoms,
        "dtype": dtype,
        "steps": steps,
        "timestep_fs": 2.0,
        "temperature_K": temperature_K,
        "wall_s": wall,
        "engine_s": engine_s,
        "engine_fraction": engine_s / wall if wall > 0 else None,
        "engine_calls": stats.calls - calls0,
        "neighbor_list_builds": stats.neighbor_builds - builds0,
        "atom_steps_per_s": n_atoms * steps / wall if wall > 0 else None,
    }


# ------------------------------------------------------------------------------------------ run


def _load1() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_info(threads: int) -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
        "torchani": _version("torchani"),
        "ase": _version("ase"),
        "lammps": _version("lammps"),
    }


def _repeats_for(method: str, n_atoms: int, repeats: int, last_time: dict, budget_s: float) -> tuple[int, bool, str]:
    """As many repeats as fit the time box of one measurement (projected linearly from the previous size);
    in practice only torchani at the larger sizes gets fewer."""
    if method not in last_time:
        return repeats, True, ""
    n_prev, t_prev = last_time[method]
    projected = t_prev * n_atoms / n_prev
    fit = int(budget_s // max(projected, 1e-9))
    if fit >= repeats + 1:
        return repeats, True, ""
    if fit >= 2:
        return fit - 1, True, f"{fit - 1} repeats (time budget {budget_s:.0f} s)"
    return 1, False, f"1 evaluation without warm-up (time budget {budget_s:.0f} s)"


def _memory_fits(method: str, n_atoms: int, last_memory: dict) -> tuple[bool, str]:
    if method != "torchani" or method not in last_memory:
        return True, ""
    import psutil

    n_prev, mb_prev = last_memory[method]
    projected = mb_prev * n_atoms / n_prev
    available = psutil.virtual_memory().available / 2**20
    if projected > MEMORY_SHARE * available:  # the machine is shared: never push it into swap or the OOM killer
        return False, (f"skipped: projected {projected / 1024:.1f} GB > {MEMORY_SHARE:.0%} of the "
                       f"{available / 1024:.1f} GB available")
    return True, ""


def run_benchmark(sizes, structures, methods, *, repeats: int, threads: int, budget_s: float,
                  md_steps: int, md_atoms: int, progress=print) -> dict:
    import torch

    torch.set_num_threads(threads)
    info = machine_info(threads)
    results: list[Measurement] = []
    descriptions: dict[str, str] = {}
    for kind in structures:
        last_time: dict = {}
        last_memory: dict = {}
        for n in sizes:
            atoms = make_structure(kind, n)
            for method in methods:
                m = Measurement(kind, n, method)
                fits, note = _memory_fits(method, n, last_memory)
                if not fits:
                    m.note = note + "; ratios at this size use torchani's cost per atom at the largest size it ran"
                    results.append(m)
                    progress(f"  {kind:6s} {n:6d} {method:18s} {note}")
                    continue
                reps, warmup, note = _repeats_for(method, n, repeats, last_time, budget_s)
                calc, desc = make_calculator(method, n)
                descriptions[method] = desc
                try:
                    times, cpu, peak, increase = time_forces(atoms, calc, reps, warmup=warmup)
                except MemoryError:
                    m.note = "out of memory"
                    results.append(m)
                    continue
                finally:
                    del calc
                m.repeats = reps
                m.median_s = float(np.median(times))
                m.atom_steps_per_s = n / m.median_s
                m.cpu_s = float(np.median(cpu))
                m.atom_steps_per_cpu_s = n / m.cpu_s if m.cpu_s > 0 else None
                m.peak_rss_mb, m.rss_increase_mb, m.note = peak, increase, note
                m.details = {"times_s": times, "cpu_s": cpu, "load_average_1min_after": _load1()}
                results.append(m)
                last_time[method] = (n, m.median_s)
                if increase is not None:
                    last_memory[method] = (n, max(increase, 1.0))
                progress(f"  {kind:6s} {n:6d} {method:18s} {m.atom_steps_per_s:12.0f} atom-steps/s"
                         f"  (median of {reps}: {m.median_s * 1e3:.1f} ms, peak RSS {peak or 0:.0f} MB) {note}")
    md = md_step_fraction(md_atoms, md_steps) if md_steps > 0 else None
    return {
        "machine": info,
        "settings": {
            "sizes": list(sizes),
            "structures": list(structures),
            "methods": list(methods),
            "repeats": repeats,
            "threads": threads,
            "budget_s_per_measurement": budget_s,
            "fcc_a_A": FCC_A,
            "liquid": f"FCC expanded to {LIQUID_DENSITY} g/cm3, Gaussian displacements sigma {LIQUID_DISPLACEMENT} A",
            "between_repeats": f"uniform random displacement of +-{JIGGLE} A",
        },
        "methods": descriptions,
        "results": [asdict(r) for r in results],
        "ratios_to_torchani": ratios(results),
        "md_step": md,
        "targets": targets(results, md),
    }


def ratios(results: list[Measurement]) -> list[dict]:
    """Speed of every method relative to torchani on the same structure (same run). Where torchani could not
    run (memory), its speed is extrapolated from the largest size it ran at (same cost per atom: its cell
    list is O(N)), and the ratio is flagged ``extrapolated``."""
    measured = {(r.structure, r.n_atoms): r.atom_steps_per_s for r in results
                if r.method == "torchani" and r.atom_steps_per_s}
    out = []
    for r in results:
        if r.method == "torchani" or not r.atom_steps_per_s:
            continue
        base = measured.get((r.structure, r.n_atoms))
        extrapolated = False
        if base is None:
            smaller = [n for (s, n) in measured if s == r.structure and n < r.n_atoms]
            skipped = any(x.method == "torchani" and x.structure == r.structure and x.n_atoms == r.n_atoms
                          for x in results)
            if not smaller or not skipped:
                continue
            base = measured[(r.structure, max(smaller))]
            extrapolated = True
        out.append({"structure": r.structure, "n_atoms": r.n_atoms, "method": r.method,
                    "ratio_to_torchani": r.atom_steps_per_s / base, "extrapolated": extrapolated})
    return out


def targets(results: list[Measurement], md: dict | None) -> dict:
    """The issue's targets, evaluated on this run (None where not measured)."""
    def speed(structure, n, method):
        for r in results:
            if (r.structure, r.n_atoms, r.method) == (structure, n, method):
                return r
        return None

    out: dict = {}
    f32 = speed("fcc", 1008, "alal-float32")
    ta = speed("fcc", 1008, "torchani")
    if f32 and f32.atom_steps_per_s:
        out["fcc_1008_float32_atom_steps_per_s"] = f32.atom_steps_per_s
        out["fcc_1008_float32_ge_20000"] = f32.atom_steps_per_s >= 20000
        if ta and ta.atom_steps_per_s:
            out["fcc_1008_ratio_to_torchani"] = f32.atom_steps_per_s / ta.atom_steps_per_s
            out["fcc_1008_ratio_ge_40"] = out["fcc_1008_ratio_to_torchani"] >= 40
    for structure in ("fcc", "liquid"):
        small, large = speed(structure, 1008, "alal-float32"), speed(structure, 10976, "alal-float32")
        if small and large and small.atom_steps_per_s and large.atom_steps_per_s:
            cost_ratio = small.atom_steps_per_s / large.atom_steps_per_s  # cost per atom, 10976 vs 1008
            out[f"{structure}_cost_per_atom_10976_over_1008"] = cost_ratio
            out[f"{structure}_flat_within_1.5x"] = cost_ratio <= 1.5
        if large and large.peak_rss_mb is not None:
            out[f"{structure}_10976_float32_peak_rss_mb"] = large.peak_rss_mb
            out[f"{structure}_10976_float32_peak_le_2GB"] = large.peak_rss_mb <= 2048
    if md:
        out["md_engine_fraction"] = md["engine_fraction"]
        out["md_engine_fraction_ge_0.8"] = md["engine_fraction"] is not None and md["engine_fraction"] >= 0.8
    return out


def format_table(report: dict) -> str:
    results = [Measurement(**r) for r in report["results"]]
    methods = report["settings"]["methods"]
    ratio = {(r["structure"], r["n_atoms"], r["method"]): r["ratio_to_torchani"] for r in report["ratios_to_torchani"]}
    extrapolated = {(r["structure"], r["n_atoms"], r["method"]): r.get("extrapolated") for r in report["ratios_to_torchani"]}
    lines = []
    header = f"{'structure':9s} {'atoms':>6s} " + " ".join(f"{m:>18s}" for m in methods)
    lines.append("atom-steps/s (ratio to torchani in the same run; ~: torchani extrapolated, see notes)")
    lines.append(header)
    lines.append("-" * len(header))
    keys = sorted({(r.structure, r.n_atoms) for r in results}, key=lambda k: (report["settings"]["structures"].index(k[0]), k[1]))
    for structure, n in keys:
        cells = []
        for method in methods:
            r = next((x for x in results if (x.structure, x.n_atoms, x.method) == (structure, n, method)), None)
            if r is None or r.atom_steps_per_s is None:
                cells.append(f"{'-':>18s}")
                continue
            q = ratio.get((structure, n, method))
            mark = "~" if extrapolated.get((structure, n, method)) else ""
            text = f"{r.atom_steps_per_s:,.0f}" + (f" ({mark}{q:,.0f}x)" if q is not None and q >= 10 else
                                                   f" ({mark}{q:.2f}x)" if q is not None else "")
            cells.append(f"{text:>18s}")
        lines.append(f"{structure:9s} {n:6d} " + " ".join(cells))
    lines.append("")
    lines.append("atom-steps per CPU-second (all threads; wall-clock speed = this x threads on an idle machine,")
    lines.append("less sensitive to other jobs than the wall clock, but counts torch's spinning threads as work)")
    for structure, n in keys:
        row = []
        for method in methods:
            r = next((x for x in results if (x.structure, x.n_atoms, x.method) == (structure, n, method)), None)
            row.append(f"{(r.atom_steps_per_cpu_s if r and r.atom_steps_per_cpu_s else float('nan')):>18,.0f}")
        lines.append(f"{structure:9s} {n:6d} " + " ".join(row))
    lines.append("")
    lines.append("peak RSS during each measurement, MB")
    for structure, n in keys:
        row = []
        for method in methods:
            r = next((x for x in results if (x.structure, x.n_atoms, x.method) == (structure, n, method)), None)
            row.append(f"{(r.peak_rss_mb if r and r.peak_rss_mb else float('nan')):>18.0f}")
        lines.append(f"{structure:9s} {n:6d} " + " ".join(row))
    notes = [f"  {r.structure} {r.n_atoms} {r.method}: {r.note}" for r in results if r.note]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(notes)
    md = report.get("md_step")
    if md:
        lines.append("")
        lines.append(
            f"MD (ASE velocity Verlet, {md['n_atoms']} atoms, {md['dtype']}, {md['steps']} steps of {md['timestep_fs']} fs "
            f"at {md['temperature_K']:.0f} K): {md['atom_steps_per_s']:,.0f} atom-steps/s, "
            f"{100 * md['engine_fraction']:.1f}% of the wall time inside the engine, "
            f"{md['neighbor_list_builds']} neighbour-list builds")
    lines.append("")
    lines.append("methods: " + "; ".join(f"{k}: {v}" for k, v in report["methods"].items()))
    m = report["machine"]
    def loads(v):
        return "/".join(f"{x:.1f}" for x in v) if v else "?"

    lines.append(f"machine: {m['cpu']}, {m['logical_cpus']} logical CPUs, {m['threads']} threads, torch {m['torch']} "
                 f"({m['torch_cpu_capability']}); load average (1/5/15 min) at start {loads(m['load_average_at_start'])}"
                 f", at end {loads(m.get('load_average_at_end'))}: other jobs share this machine")
    t = report.get("targets", {})
    if t:
        lines.append("targets: " + ", ".join(f"{k}={_fmt(v)}" for k, v in t.items()))
    return "\n".join(lines)


def _fmt(v):
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


# ------------------------------------------------------------------------------------------ CLI


def _csv(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="reports/bench", help="output folder for bench.json (default reports/bench)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="atom counts (multiples of 4)")
    parser.add_argument("--structures", default=",".join(STRUCTURES), help="fcc,liquid")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed evaluations per measurement (median)")
    parser.add_argument("--threads", type=int, default=2, help="torch/engine threads (default 2)")
    parser.add_argument("--budget-s", type=float, default=45.0,
                        help="time box per measurement: fewer repeats where one evaluation is slow (torchani)")
    parser.add_argument("--md-steps", type=int, default=50, help="velocity-Verlet steps for the MD fraction (0: skip)")
    parser.add_argument("--md-atoms", type=int, default=1008, help="atoms of the MD-fraction run")
    parser.add_argument("--suite", default="engine", choices=["engine", "al"],
                        help="engine: force evaluation beside torchani/LAMMPS/EMT (bench.json); al: active-learning "
                             "sampler and trainer throughput, current beside new path (al.json)")
    parser.add_argument("--parts", default="sampler,trainer", help="--suite al: sampler,trainer or one of them")
    parser.add_argument("--sampler-steps", type=int, default=200, help="--suite al: MD steps per trajectory")
    parser.add_argument("--sampler-cells", default="32,64,128", help="--suite al: atoms per random cell")
    parser.add_argument("--sampler-batches", default="1,8,32,128", help="--suite al: batch sizes B")
    parser.add_argument("--trainer-cells", type=int, default=500, help="--suite al: EMT-labelled cells")
    parser.add_argument("--trainer-epochs", type=int, default=20, help="--suite al: epochs per trainer")


def run(args) -> int:
    from alal.errors import AlalError

    if args.suite == "al":
        from alal.bench_al import run_suite

        return run_suite(args)

    sizes = [int(x) for x in _csv(args.sizes)]
    structures, methods = _csv(args.structures), _csv(args.methods)
    for m in methods:
        if m not in METHODS:
            raise AlalError(f"unknown benchmark method '{m}': choose from {', '.join(METHODS)}")
    for s in structures:
        if s not in STRUCTURES:
            raise AlalError(f"unknown structure '{s}': choose from {', '.join(STRUCTURES)}")
    for n in sizes:
        if n <= 0 or n % 4:
            raise AlalError(f"benchmark sizes must be positive multiples of 4 atoms, not {n}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"alal bench: {', '.join(methods)} on {', '.join(structures)} at {', '.join(map(str, sizes))} atoms, "
          f"{args.threads} threads")
    t0 = time.perf_counter()
    report = run_benchmark(sizes, structures, methods, repeats=args.repeats, threads=args.threads,
                           budget_s=args.budget_s, md_steps=args.md_steps, md_atoms=args.md_atoms)
    finish_report(report, out / "bench.json", format_table(report), t0)
    return 0


def finish_report(report: dict, path: Path, table: str, t0: float) -> None:
    """Record wall time and load, write ``path`` atomically, print the table (both benchmark suites)."""
    report["wall_s"] = time.perf_counter() - t0
    report["machine"]["load_average_at_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(path)
    print()
    print(table)
    print(f"\nwrote {path} ({report['wall_s']:.0f} s)")
