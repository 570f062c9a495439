"""``alal reference``: compute the GPAW-PBE reference data (``reference_data/dft/<property>.json``).

Resumable twice over: a property whose file already holds the same settings and inputs is skipped (``--force``
redoes it), and every finished GPAW calculation is cached (``--cache-dir``), so an interrupted property resumes
where it stopped.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from alal.errors import AlalError


def production_out() -> Path:
    """Where the committed references live: ``reference_data/dft`` (the source tree's, or the installed copy)."""
    from validation.references import reference_dir

    return reference_dir() / "dft"


def add_arguments(p) -> None:
    from validation.dft.pipeline import DEFAULT, MODULES

    p.add_argument("--only", default=None,
                   help=f"comma-separated subset of: {', '.join(MODULES)} (default: {','.join(DEFAULT)})")
    p.add_argument("--out", default=None,
                   help="output folder (default reference_data/dft; with --quick: reports/dft-quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: low cutoff, coarse k-points, short grids (minutes; never into reference_data/dft)")
    p.add_argument("--force", action="store_true", help="recompute properties whose file is up to date")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel GPAW processes, one core each (default: the number of usable cores)")
    p.add_argument("--cache-dir", default=None,
                   help="per-calculation cache (default $ALAL_CACHE_DIR/dft or ~/.cache/alal/dft)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the per-calculation cache")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run(args) -> int:
    from alal.optional import require_gpaw

    require_gpaw("alal reference (GPAW-PBE references)")
    from validation.dft import pipeline
    from validation.dft.engine import default_cache_dir
    from validation.dft.settings import PRODUCTION, QUICK

    names = pipeline.DEFAULT if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    if not names:
        raise AlalError("--only is empty")
    for name in names:
        pipeline.module(name)  # unknown names fail here, before any calculation
    out = Path(args.out) if args.out else (Path("reports/dft-quick") if args.quick else production_out())
    if args.quick and out.resolve() == production_out().resolve():
        raise AlalError("--quick results are not converged and never go into reference_data/dft: choose another --out")
    workers = args.workers if args.workers is not None else default_workers()
    cache = None if args.no_cache else (Path(args.cache_dir) if args.cache_dir else default_cache_dir())
    log = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))
    ctx = pipeline.RunContext(settings=QUICK if args.quick else PRODUCTION, out_dir=out, workers=workers,
                              cache_dir=cache, progress=log, quick=args.quick, force=args.force)
    # `kill PID` stops the run like Ctrl-C does: the pool terminates its workers instead of orphaning them.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.time()
    log(f"alal reference: {', '.join(names)} -> {out} ({workers} worker{'s' if workers > 1 else ''}, "
        f"cache {cache or 'off'}, settings {ctx.settings.label})")
    for name in names:
        pipeline.ensure(ctx, name)
    log(f"alal reference: done in {(time.time() - started) / 60:.1f} min; written: {', '.join(ctx.written) or 'none'}"
        f"; up to date: {', '.join(ctx.skipped) or 'none'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    from alal.cli import main

    sys.exit(main(["reference", *sys.argv[1:]]))
