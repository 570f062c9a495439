"""``alal validate``: run the validation suite on one or more potentials."""

from __future__ import annotations

import json
from pathlib import Path

from alal.errors import AlalError
from validation import properties as property_registry


def add_arguments(p) -> None:
    p.add_argument("--potentials", required=True,
                   help="comma-separated registry names, model directories, 'package.module:callable' (returns an "
                        "ASE calculator) or entry points of the group alal.potentials, e.g. ani-al,mypkg.calc:make")
    p.add_argument("--against", default=None, metavar="ORACLE",
                   help="also validate ORACLE (a registry name, model directory or 'package.module:callable', as in "
                        "--potentials) and compare every other potential with it: model-minus-oracle differences "
                        "with the student-vs-teacher tolerances of validation/against.py, in results.json under "
                        "potentials.<MODEL>.against.<ORACLE> and in an 'Against ORACLE' report section")
    p.add_argument("--potential-options", default=None, metavar="JSON",
                   help="keyword arguments (a JSON object) for the module:callable and entry-point potentials, "
                        "e.g. '{\"model\": \"al.model\", \"device\": \"cpu\"}'")
    p.add_argument("--properties", default=None,
                   help=f"comma-separated subset of: {', '.join(property_registry.names())} (default: all of the tier)")
    p.add_argument("--tier", default="quick", choices=["quick", "full"],
                   help="quick: minutes on 2 cores; full: the paper's sizes and lengths (GPU/cluster)")
    p.add_argument("--out", default="reports/latest", help="output folder (default reports/latest)")
    p.add_argument("--seed", type=int, default=20210301, help="seed for every random choice (recorded)")
    p.add_argument("--execution", default=None, metavar="PROFILE.toml",
                   help="run every independent piece (a property for a potential) as a Parsl task on a cluster "
                        "profile, the same file as 'alal train --profile' (configs/cluster-slurm.toml; provider "
                        "slurm, lsf, pbspro or local); pieces go to the executor named by 'validate = ...' under "
                        "[profile], else to that of 'label'. results.json is the same as without it "
                        "(default: compute here, no Parsl)")
    p.add_argument("--no-report", action="store_true", help="write results.json only")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]


def _options(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AlalError(f"--potential-options is not valid JSON ({exc.msg} at character {exc.pos}): {text}") from None
    if not isinstance(value, dict):
        raise AlalError(f"--potential-options must be a JSON object of keyword arguments, not {type(value).__name__}")
    return value


def run(args) -> int:
    from validation.runner import run_validation

    log = (lambda *a, **k: None) if args.quiet else (lambda msg: print(msg, flush=True))
    results = run_validation(
        _split(args.potentials),
        _split(args.properties),
        out=Path(args.out),
        tier=args.tier,
        seed=args.seed,
        render=not args.no_report,
        log=log,
        potential_options=_options(args.potential_options),
        against=args.against.strip() if args.against else None,
        execution=args.execution,
    )
    if args.against:  # one line per model, then its failing quantities; the exit status stays that of failures
        from validation.against import summary_lines

        for line in summary_lines(results):
            print(line)
    errors = results["meta"]["errors"]
    if errors:
        print(f"alal validate: {len(errors)} failure{'' if len(errors) == 1 else 's'} (potential / property: reason):")
        for e in errors:
            print(f"  - {e}")
        return 1
    return 0
