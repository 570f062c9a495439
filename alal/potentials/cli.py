"""``alal potentials``: list registered potentials with citation, source files, sha256 and the pin check."""

from __future__ import annotations

import json

from alal import potentials
from alal.errors import AlalError

PIN_STATUS = {True: "every file matches its pinned sha256 (the published files)",
              False: "MODIFIED: a file differs from its pinned sha256 (accepted by ALAL_ALLOW_UNPINNED=1)"}


def add_arguments(p) -> None:
    p.add_argument("names", nargs="*", help="names or model paths (default: all registered)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--no-hash", action="store_true", help="skip the sha256 of the source files")


def run(args) -> int:
    rows = []
    status = 0
    for name in args.names or potentials.names():
        try:
            info = potentials.describe(name, with_hash=not args.no_hash).as_dict()
            info["available"] = True
        except AlalError as exc:
            spec = potentials.REGISTRY.get(name)
            if spec is None:
                raise
            info = {"name": name, "kind": spec.kind, "citation": spec.citation, "description": spec.description,
                    "files": [], "sha256": None, "file_sha256": {}, "pinned_sha256_match": None,
                    "available": False, "error": str(exc)}
            status = 1
        rows.append(info)
    if args.json:
        print(json.dumps(rows, indent=2))
        return status
    for info in rows:
        print(f"{info['name']}  [{info['kind']}]  {info['description']}")
        print(f"    citation: {info['citation']}")
        if not info["available"]:
            print(f"    NOT AVAILABLE: {info['error']}")
            continue
        files = info["files"]
        if files:
            shown = files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more files)"
            print(f"    source:   {shown}")
            print(f"    sha256:   {info['sha256']}")
            if info["pinned_sha256_match"] is not None:
                print(f"    pinned:   {PIN_STATUS[info['pinned_sha256_match']]}")
        else:
            print("    source:   built into ASE")
    return status
