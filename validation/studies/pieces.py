"""What every protocol study shares: the potential's own a0 (computed once per output folder) and running a plan of
independent pieces, each written to ``OUT/pieces/<key>.json`` as it finishes and reused on a rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence


def cached_fcc_a0(out: Path, potential: str) -> float:
    """The potential's relaxed FCC a0 (Å, float64), kept in ``OUT/a0.json`` so that a resumed study reuses it."""
    path = Path(out) / "a0.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("potential") == potential:
            return float(saved["a0_A"])
    from alal.potentials import load
    from validation.properties.lattice import relaxed_fcc_lattice_constant

    a0 = relaxed_fcc_lattice_constant(load(potential, dtype="float64"))
    path.write_text(json.dumps({"potential": potential, "a0_A": a0}))
    return a0


def run_pieces(pieces: Sequence, out: Path, compute: Callable[[object, Callable], dict], *, potential: str,
               describe: Callable[[object], str], summary: Callable[[dict], str], echo=print) -> list[dict]:
    """Each piece's result, computed with ``compute(piece, progress)`` or read back from ``OUT/pieces/<piece.key>.json``.

    ``describe(piece)`` names a piece in the progress lines, ``summary(result)`` gives its outcome. A piece is a
    dataclass with a ``key`` (variant, seed and a hash of every setting: a changed setting reruns it) and
    ``atom_steps`` (for the share of the study done).
    """
    folder = Path(out) / "pieces"
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(p.atom_steps for p in pieces) or 1.0
    done_steps = 0.0
    results = []
    for i, piece in enumerate(pieces):
        path = folder / f"{piece.key}.json"
        head = f"[{i + 1}/{len(pieces)}] {describe(piece)}"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            echo(f"{head}: done before ({summary(results[-1])})")
        else:
            echo(f"{head}: {piece.atom_steps / 1e6:.1f} M atom-steps ({100 * done_steps / total:.0f} % of the study done)")
            res = compute(piece, lambda m: echo(f"    {m}"))
            res["potential"] = potential
            path.write_text(json.dumps(res, indent=1))
            results.append(res)
            echo(f"    {summary(res)} in {res['wall_s']:.0f} s")
        done_steps += piece.atom_steps
    return results
