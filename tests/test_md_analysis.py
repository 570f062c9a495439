"""MD analysis helpers: g(r), CNA, block averages, diffusion, and the melting/heat-cool analysis functions."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from alal import potentials
from alal.analysis.blocks import block_average, mean_and_sem
from alal.analysis.cna import cna_fractions
from alal.analysis.rdf import first_shell, rdf, self_diffusion
from alal.errors import AlalError
from alal.md import Stage, engine_for, maxwell_boltzmann, run_stages
from alal.structures import fcc_cubic


def test_rdf_of_fcc_peaks_at_a_over_sqrt2_with_12_neighbours():
    a = 4.05
    atoms = fcc_cubic(a, 3)  # 12.15 Å cell: g(r) to 6 Å needs periodic images, which the neighbour list gives
    r, g, rho = rdf([atoms], 6.0, 0.05)
    shell = first_shell(r, g, rho)
    assert abs(shell["peak_r_A"] - a / np.sqrt(2)) <= 0.025  # within half a bin
    assert shell["cn"] == pytest.approx(12.0, abs=1e-9)
    assert shell["min_r_A"] < a  # the first minimum lies before the second shell (at a)
    assert rho == pytest.approx(4 / a**3)


def test_rdf_of_an_ideal_gas_is_one():
    rng = np.random.default_rng(0)
    from ase import Atoms

    frames = [Atoms("Al500", positions=rng.uniform(0, 20.0, (500, 3)), cell=[20.0] * 3, pbc=True) for _ in range(20)]
    r, g, _ = rdf(frames, 8.0, 0.2)
    # 20 frames x 500 atoms: ~2e3 pairs per bin beyond 3 Å, so bins scatter by a few % around 1
    assert np.mean(g[r > 3.0]) == pytest.approx(1.0, abs=0.02)


def test_fast_pair_distances_match_the_neighbour_list():
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    from alal.analysis.rdf import _pair_distances

    rng = np.random.default_rng(5)
    atoms = Atoms("Al200", positions=rng.uniform(0, 1, (200, 3)) * [14.0, 15.0, 16.0], cell=[14.0, 15.0, 16.0],
                  pbc=True)
    fast = np.sort(_pair_distances(atoms, 7.0))  # r_max = half the shortest edge: the vectorised path
    ref = np.sort(neighbor_list("d", atoms, 7.0))
    np.testing.assert_allclose(fast, ref, atol=1e-12)


@pytest.mark.parametrize("lattice,expected", [("fcc", "fcc"), ("bcc", "bcc"), ("hcp", "hcp")])
def test_cna_labels_perfect_crystals(lattice, expected):
    atoms = bulk("Al", lattice, a=4.05 if lattice == "fcc" else (3.25 if lattice == "bcc" else 2.86),
                 **({"cubic": True} if lattice != "hcp" else {})).repeat(4)
    f = cna_fractions(atoms)
    assert f[expected] == pytest.approx(1.0)
    assert f["crystalline"] == pytest.approx(1.0)


def test_cna_calls_a_liquid_not_fcc():
    calc = potentials.load("eam-mendelev2008")
    atoms = fcc_cubic(4.05 * 1.12 ** (1 / 3), 4)
    maxwell_boltzmann(atoms, 2500.0, 1)
    run_stages(atoms, engine_for(calc), [Stage("langevin", 1500, T_K=2500.0, sample_every=100)], dt_fs=2.0, seed=1)
    run_stages(atoms, engine_for(calc), [Stage("nvt", 500, T_K=1100.0, sample_every=100)], dt_fs=2.0, seed=2)
    f = cna_fractions(atoms)
    # adaptive CNA mislabels a few % of a liquid's atoms as close-packed by chance; a crystal gives > 50 %
    assert f["fcc"] < 0.05
    assert f["other"] > 0.85


def test_block_average_error_of_white_and_correlated_noise():
    rng = np.random.default_rng(3)
    errs = [block_average(rng.normal(5.0, 2.0, 1024), 4)[1] for _ in range(100)]
    # white noise: every blocking level estimates 2/sqrt(1024) = 0.0625; the largest of ~9 noisy estimates sits
    # above it, by ~20 % on average
    assert 1.0 < np.mean(errs) / (2.0 / np.sqrt(1024)) < 1.4
    # AR(1) noise with correlation time tau = 20 samples: the true standard error is sqrt((1 + phi) / (1 - phi))
    # = 6.3 times the naive one; blocking recovers it, the naive estimate does not
    phi, n = np.exp(-1 / 20), 4096
    ratios = []
    for _ in range(50):
        e = rng.normal(0.0, 1.0, n)
        x = np.empty(n)
        x[0] = e[0]
        for i in range(1, n):
            x[i] = phi * x[i - 1] + np.sqrt(1 - phi**2) * e[i]
        true = np.sqrt((1 + phi) / (1 - phi)) / np.sqrt(n)
        ratios.append(block_average(x, 8)[1] / true)
    assert 0.8 < np.mean(ratios) < 1.3
    with pytest.raises(AlalError):
        block_average([1.0, 2.0], 5)
    assert np.isnan(mean_and_sem([3.0])[1])
    assert mean_and_sem([1.0, 3.0]) == pytest.approx((2.0, 1.0))


def test_self_diffusion_of_a_random_walk():
    from ase import Atoms

    rng = np.random.default_rng(4)
    D_A2_ps, dt = 0.5, 0.1  # Å²/ps; per axis the step variance is 2 D dt
    steps = rng.normal(0.0, np.sqrt(2 * D_A2_ps * dt), (200, 400, 3))
    pos = np.cumsum(steps, axis=0)
    frames = []
    for x in pos:
        a = Atoms("Al400", positions=x, cell=[30.0] * 3, pbc=True)
        a.wrap()  # the analysis must undo the wrapping
        frames.append(a)
    d = self_diffusion(frames, dt)
    assert d["D_m2_s"] == pytest.approx(D_A2_ps * 1e-8, rel=0.1)  # 400 walkers x 100 lags: ~5 % statistics


def test_melting_and_freezing_times_from_the_crystalline_fraction():
    from validation.properties.heat_cool import transition_time

    t = np.arange(0.0, 10.0, 0.5)
    c = np.where(t < 4.0, 0.95, 0.02)
    c[2] = 0.3  # a one-frame dip (thermal noise) before melting is smoothed away
    assert transition_time(t, c, falling=True) == pytest.approx(4.0, abs=0.5)
    assert transition_time(t, 1.0 - c, falling=False) == pytest.approx(4.0, abs=0.5)
    assert transition_time(t, np.full_like(t, 0.9), falling=True) is None  # never melted
    assert transition_time(t, np.full_like(t, 0.1), falling=False) is None  # never froze
