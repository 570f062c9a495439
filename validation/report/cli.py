"""``alal report``: re-render report.html and report.pdf from an existing results.json."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def add_arguments(p) -> None:
    p.add_argument("results", help="results.json, or the folder that holds it")
    p.add_argument("--out", default=None, help="output folder (default: the results folder)")


def run(args) -> int:
    from validation.report import render_reports
    from validation.runner import load_results

    results = load_results(Path(args.results))
    src = Path(args.results)
    out = Path(args.out) if args.out else (src if src.is_dir() else src.parent)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:  # render fully, then move: no half-written report
        paths = render_reports(results, Path(tmp))
        if (out / "figures").exists():
            shutil.rmtree(out / "figures")
        shutil.move(str(Path(tmp) / "figures"), str(out / "figures"))
        for p in paths.values():
            shutil.move(str(p), str(out / p.name))
    print(f"wrote {out / 'report.html'} and {out / 'report.pdf'}")
    return 0
