"""The dataset store: structures, labels and run records in an ASE database (SQLite file or PostgreSQL URL),
written idempotently (rows keyed by a structure hash), plus exports to extxyz and torchani HDF5."""

from alal.data.hashing import structure_hash  # noqa: F401
from alal.data.store import Store  # noqa: F401
