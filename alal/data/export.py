"""Exports of a run's labels: extended XYZ (ASE) and torchani's HDF5 dataset format.

extxyz: one frame per label with energy (eV), forces (eV/Å) and stress (eV/Å³) as ASE results and the
row's metadata (hash, split, source, generation, traj_id, oracle) in the frame info.

HDF5: written with torchani's own ``ANIDataset`` writer (grouping "by_num_atoms"), so
``torchani.datasets.ANIDataset(path)`` reads it back. Properties follow torchani's conventions:
``species`` (atomic numbers), ``coordinates`` (Å), ``cell`` (Å), ``pbc``, ``energies`` (Hartree),
``forces`` (Hartree/Å); energies and forces are converted from eV with torchani's own constant.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alal.data.store import Store
from alal.errors import AlalError

INFO_KEYS = ("hash", "split", "source", "generation", "traj_id", "oracle", "oracle_hash")


def select_labels(store: Store, sources: tuple[str, ...] | None = None, split: str | None = None) -> list:
    return store.labels(sources=sources, split=split)


def to_extxyz(rows: list, path: Path) -> int:
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    for r in rows:
        a = r.toatoms()
        results = {"energy": float(r.energy), "forces": np.asarray(r.forces)}
        if r.get("stress") is not None:
            results["stress"] = np.asarray(r.stress)
        a.calc = SinglePointCalculator(a, **results)
        a.info = {k: r.get(k) for k in INFO_KEYS if r.get(k) not in (None, "")}
        frames.append(a)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp), frames, format="extxyz")
    tmp.replace(path)
    return len(frames)


def to_torchani_hdf5(rows: list, path: Path) -> int:
    from torchani.datasets import ANIDataset
    from torchani.units import HARTREE_TO_EV

    path = Path(path)
    if path.exists():
        raise AlalError(f"'{path}' exists; torchani appends to HDF5 files, so choose a new name")
    tmp = path.with_name(path.name + ".tmp.h5")
    tmp.unlink(missing_ok=True)
    ds = ANIDataset(str(tmp), grouping="by_num_atoms")
    groups: dict[int, dict[str, list]] = {}
    for r in rows:
        g = groups.setdefault(int(r.natoms), {k: [] for k in ("species", "coordinates", "cell", "pbc", "energies", "forces")})
        g["species"].append(np.asarray(r.numbers, dtype=np.int64))
        g["coordinates"].append(np.asarray(r.positions, dtype=np.float64))
        g["cell"].append(np.asarray(r.cell, dtype=np.float64))
        g["pbc"].append(np.asarray(r.pbc, dtype=bool))
        g["energies"].append(float(r.energy) / HARTREE_TO_EV)
        g["forces"].append(np.asarray(r.forces, dtype=np.float64) / HARTREE_TO_EV)
    for n, g in sorted(groups.items()):
        ds.append_conformers(str(n).zfill(3), {k: np.asarray(v) for k, v in g.items()})
    tmp.replace(path)
    return len(rows)


def export(store: Store, path: Path, *, sources: tuple[str, ...] | None = None, split: str | None = None) -> int:
    rows = select_labels(store, sources, split)
    suffix = Path(path).suffix.lower()
    if suffix in (".xyz", ".extxyz"):
        return to_extxyz(rows, Path(path))
    if suffix in (".h5", ".hdf5"):
        return to_torchani_hdf5(rows, Path(path))
    raise AlalError(f"export file '{path}': use a .extxyz/.xyz (extended XYZ) or .h5/.hdf5 (torchani) name")
