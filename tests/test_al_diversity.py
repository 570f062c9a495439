"""Near-duplicate removal before labelling: farthest-point selection on ANI descriptors."""

import numpy as np
import torch

from alal.al.builder import BuilderSettings, random_cell
from alal.al.diversity import Describer, distance, select

torch.set_num_threads(1)
SMALL = BuilderSettings(side_A=(6.0, 6.8), density_g_cm3=(2.4, 2.9))


def test_near_duplicates_are_dropped_and_distinct_structures_kept():
    d = Describer()
    base = [random_cell(s, SMALL) for s in range(4)]
    twin = base[0].copy()
    twin.positions += 1e-3 * np.random.default_rng(0).normal(size=twin.positions.shape)  # a near-copy
    shifted = base[1].copy()
    shifted.positions += [0.7, -0.2, 1.1]  # the same structure, translated: descriptors are invariant
    shifted.wrap()
    cands = base + [twin, shifted]
    desc = [d(a) for a in cands]
    assert distance(desc[0], desc[0]) == 0.0
    # 0.05 is the dedup threshold used below; translation invariance is exact up to float rounding (1e-6)
    assert distance(desc[0], desc[4]) < 0.05 and distance(desc[1], desc[5]) < 1e-6
    assert min(distance(desc[i], desc[j]) for i in range(4) for j in range(i + 1, 4)) > 0.1
    kept, dropped = select(desc, [], min_distance=0.05)
    assert sorted(kept) in ([0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 3, 5], [2, 3, 4, 5])
    assert len(kept) == 4 and len(dropped) == 2
    # a candidate that duplicates a structure already queued for the oracle is dropped too
    kept, dropped = select([desc[4]], [desc[0]], min_distance=0.05)
    assert kept == [] and dropped[0][0] == -1
