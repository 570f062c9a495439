"""alal: validation suite and active-learning trainer for interatomic potentials of aluminium."""

__version__ = "0.1.0"
