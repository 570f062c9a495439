"""The fast ANI inference engine (issue 3): compiled AEV kernels + batched ensemble networks.

``FastANIEngine(model, dtype="float32"|"float64", device="cpu"|"cuda")`` implements the engine protocol of
:mod:`alal.potentials.ani`; ``alal.potentials.load("ani-al")`` uses it by default. See ``engine.py`` for
the evaluation pipeline, ``csrc/`` for the CPU kernels and ``native.py`` for how they are built.
"""

from alal.potentials.engine.engine import DEFAULT_SKIN_A, FastANIEngine

__all__ = ["FastANIEngine", "DEFAULT_SKIN_A"]
