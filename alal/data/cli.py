"""``alal data check RUN_DIR`` and ``alal data rebuild RUN_DIR [--force]``: the run database's health, its
agreement with the label journal (:mod:`alal.data.journal`), and its repair from the journal.

``check`` exits 0 when the database is intact and agrees with the journal, 1 on any problem (it prints the repair
command). ``rebuild`` moves the damaged database aside (``ase.db.damaged-<timestamp>``) and builds a new one with
every journal label and every other row the old file still yields; stop the run's driver first.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    c = sub.add_parser("check", help="database integrity and agreement with the label journal (exit 1 on a problem)",
                       description="database integrity (PRAGMA integrity_check, every row readable) and agreement "
                                   "with the label journal; writes missing journal records of a healthy database "
                                   "(runs older than the journal); exit 1 on any problem")
    c.add_argument("run_dir", help="an active-learning run directory")
    r = sub.add_parser("rebuild", help="rebuild a damaged or lost run database from the label journal",
                       description="move the damaged database aside (ase.db.damaged-<timestamp>) and build a new one: "
                                   "every label from the journal, every other row the old file still yields "
                                   "(stop the run first)")
    r.add_argument("run_dir", help="an active-learning run directory")
    r.add_argument("--force", action="store_true", help="rebuild even when the database is intact")


def run(args) -> int:
    from alal.data.journal import check_run, rebuild_run

    if args.data_command == "check":
        rep = check_run(args.run_dir)
        print(rep.text())
        return 0 if rep.ok else 1
    rep = rebuild_run(args.run_dir, force=args.force)
    print(rep.text())
    return 0
