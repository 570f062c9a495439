"""Block averaging: the mean of a correlated time series and an honest standard error.

Successive samples of an MD run are correlated, so their plain standard error is too small. Blocking
(Flyvbjerg & Petersen, J. Chem. Phys. 91, 461 (1989)): average neighbouring pairs again and again; once a block
is longer than the correlation time the block means are independent and the standard error of their mean
stops growing. We report the largest estimate over the levels that keep at least ``min_blocks`` blocks, which
is conservative for series only a few correlation times long (the quick tier's).
"""

from __future__ import annotations

import numpy as np

from alal.errors import AlalError


def block_average(x, min_blocks: int = 4) -> tuple[float, float]:
    """(mean, standard error) of ``x``: the largest blocking estimate with at least ``min_blocks`` blocks."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if min_blocks < 2:
        raise AlalError(f"block averaging needs at least 2 blocks, not {min_blocks}")
    if len(x) < min_blocks:
        raise AlalError(f"block averaging: {len(x)} samples are fewer than {min_blocks} blocks")
    mean = float(x.mean())
    best = 0.0
    level = x
    while len(level) >= min_blocks:
        n = len(level)
        best = max(best, float(np.sqrt(level.var(ddof=1) / n)))
        level = 0.5 * (level[: n // 2 * 2 : 2] + level[1 : n // 2 * 2 : 2])
    return mean, best


def mean_and_sem(values) -> tuple[float, float]:
    """Mean and standard error of independent values (e.g. one per seed); the error is NaN for one value."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if len(v) == 0:
        return float("nan"), float("nan")
    if len(v) == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v)))
