"""``alal`` command line. Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this file only maps names to modules (imported lazily, so ``alal --help`` is fast).

Expected mistakes (:class:`alal.errors.AlalError`) print one line and exit 2; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from alal.errors import AlalError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "potentials": ("alal.potentials.cli", "list the registered potentials with citation, files and sha256"),
    "validate": ("validation.cli", "run the validation suite and write results.json, report.html, report.pdf"),
    "report": ("validation.report.cli", "re-render report.html / report.pdf from an existing results.json"),
    "bench": ("alal.bench", "benchmark the ANI engine against torchani, LAMMPS EAM and EMT"),
    "reference": ("validation.dft.cli", "compute the GPAW-PBE reference data (reference_data/dft/)"),
    "train": ("alal.al.cli", "run the active-learning loop from a TOML config"),
    "status": ("alal.al.status", "summarise an active-learning run directory"),
    "study": ("alal.al.study", "studies on an active-learning run (table1)"),
    "md-study": ("validation.studies.cli", "MD protocol studies on a potential (liquid-density: which protocol choice moves it)"),
    "discover": ("alal.al.discover", "automated discovery: AL run (resumed if present), validation against its oracle, Table I, status"),
    "data": ("alal.data.cli", "check a run database against its label journal; rebuild a damaged one from it"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alal", description=__doc__.splitlines()[0])
    from alal import __version__

    parser.add_argument("--version", action="version", version=f"alal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and module_name.startswith(exc.name):
                    p.set_defaults(_unavailable=f"'alal {name}' is not available in this build ({module_name} missing)")
                    continue
                raise
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    if getattr(args, "_unavailable", None):
        print(f"alal: {args._unavailable}", file=sys.stderr)
        return 2
    try:
        return int(args._run(args) or 0)
    except AlalError as exc:
        print(f"alal {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"alal {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
