"""User-facing errors: one sentence naming the bad input and what to do.

The CLI prints these without a traceback and exits non-zero; anything else is a bug and keeps its traceback.
"""


class AlalError(Exception):
    """An expected mistake by the user (bad name, missing file, bad input)."""


class DataFileMissing(AlalError):
    """An external data file (potential weights, EAM table) is not in the data directory."""


class UnknownName(AlalError):
    """A potential, property or other named thing does not exist."""


class BadStructure(AlalError):
    """A structure cannot be evaluated (wrong species, degenerate cell, NaN positions, overlapping atoms)."""


class DataFileCorrupt(AlalError):
    """A potential file's sha256 differs from its pinned value (truncated, altered or a different version)."""


class UnpinnedDataWarning(UserWarning):
    """A potential file differs from its pinned sha256 and is used anyway because ALAL_ALLOW_UNPINNED=1."""


class DatabaseDamaged(AlalError):
    """A run database cannot be read (truncated, overwritten, missing); the message names the repair command."""
