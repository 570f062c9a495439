"""The MD protocol layer (alal.md): one stage means the same physics in ASE and in LAMMPS."""

from __future__ import annotations

import numpy as np
import pytest
from ase import units

from alal import potentials
from alal.errors import AlalError
from alal.md import (AseEngine, LammpsEngine, Stage, engine_for, maxwell_boltzmann, run_stages, temperature)
from alal.structures import fcc_cubic


def _perturbed_fcc(n=3, seed=1, T=600.0):
    atoms = fcc_cubic(4.05, n)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    maxwell_boltzmann(atoms, T, seed)
    return atoms


def _min_image(d, cell):
    frac = np.linalg.solve(cell.T, d.T).T
    return (frac - np.round(frac)) @ cell


def test_ase_and_lammps_agree_on_the_same_eam_trajectory():
    """Velocity Verlet in ASE (LAMMPS calculator) and fix nve in LAMMPS: same trajectory to round-off."""
    a = _perturbed_fcc()
    b = a.copy()
    stages = [Stage("nve", 150, sample_every=10, frame_every=50)]
    calc = potentials.load("eam-mendelev2008")
    ta = run_stages(a, LammpsEngine.from_calculator(calc), stages, dt_fs=1.0, seed=1)[0]
    tb = run_stages(b, AseEngine(potentials.load("eam-mendelev2008")), stages, dt_fs=1.0, seed=1)[0]
    # LAMMPS metal units carry the force-to-acceleration constant to 8 digits (ftm2v = 1/1.0364269e-4), so the
    # two integrations differ at ~1e-8 relative per step: after 150 steps positions agree to ~1e-8 Å.
    assert np.abs(_min_image(a.positions - b.positions, a.cell.array)).max() < 1e-6
    assert np.abs(a.get_velocities() - b.get_velocities()).max() * 1000 * units.fs < 1e-5  # Å/ps
    np.testing.assert_allclose(ta.Epot_eV, tb.Epot_eV, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ta.T_K, tb.T_K, rtol=1e-7)
    np.testing.assert_allclose(ta.P_GPa, tb.P_GPa, rtol=0, atol=1e-5)
    # a real trajectory: the atoms moved and energy flowed between kinetic and potential
    assert np.abs(_min_image(a.positions - _perturbed_fcc().positions, a.cell.array)).max() > 0.1
    assert np.ptp(ta.T_K) > 50.0


def test_nve_conserves_energy_in_lammps():
    a = _perturbed_fcc(T=900.0)
    tr = run_stages(a, engine_for(potentials.load("eam-mendelev2008")), [Stage("nve", 500, sample_every=10)],
                    dt_fs=2.0, seed=2)[0]
    total = tr.Epot_eV + tr.Ekin_eV
    # 2 fs on Al at 900 K: Verlet's energy error oscillates at the 1e-4 eV/atom level without drift
    assert np.ptp(total) / len(a) < 1e-3


def test_maxwell_boltzmann_is_exact_and_reproducible():
    a, b = fcc_cubic(4.05, 2), fcc_cubic(4.05, 2)
    maxwell_boltzmann(a, 750.0, 7)
    maxwell_boltzmann(b, 750.0, 7)
    assert temperature(a) == pytest.approx(750.0, rel=1e-12)
    assert np.abs(a.get_momenta().sum(axis=0)).max() < 1e-12
    np.testing.assert_array_equal(a.get_momenta(), b.get_momenta())
    maxwell_boltzmann(b, 750.0, 8)
    assert not np.allclose(a.get_momenta(), b.get_momenta())


@pytest.mark.parametrize("engine_name", ["ase", "lammps"])
def test_langevin_ramp_and_npt_reach_their_targets(engine_name):
    """A Langevin ramp ends near its final temperature; NPT holds the pressure near zero on average."""
    calc = potentials.load("eam-mendelev2008")
    engine = engine_for(calc, prefer=engine_name)
    a = _perturbed_fcc(T=300.0)
    a.set_cell(a.cell.array * 0.99, scale_atoms=True)  # compressed: the barostats must expand the cell
    ramp, npt, nptl = run_stages(a, engine, [
        Stage("langevin", 400, T_K=300.0, T_end_K=700.0, tdamp_fs=20.0, sample_every=10),
        Stage("npt", 600, T_K=700.0, P_GPa=0.0, tdamp_fs=50.0, pdamp_fs=300.0, sample_every=5),
        Stage("npt_langevin", 600, T_K=700.0, P_GPa=1.0, barostat="aniso", tdamp_fs=100.0, pdamp_fs=200.0,
              bulk_modulus_GPa=80.0, sample_every=5),
    ], dt_fs=2.0, seed=3)
    # the temperature follows the ramp: 108 atoms fluctuate by ~8 % (50 K) per sample, so the mean deviation over
    # 40 samples scatters by ~10 K, and a 20 fs coupling lags a 500 K/ps ramp by ~10-20 K
    target = 300.0 + 400.0 * ramp.t_ps / ramp.t_ps[-1]
    assert abs(np.mean(ramp.T_K - target)) < 40.0
    assert np.mean(ramp.T_K[-10:]) - np.mean(ramp.T_K[:10]) > 250.0  # it really heated (by 400 K nominally)
    # over the last 0.6 ps the pressure of 108 atoms fluctuates by ~0.5 GPa; its mean is within 0.4 GPa of 0
    assert abs(np.mean(npt.P_GPa[len(npt.P_GPa) // 2:])) < 0.4
    # Langevin + Berendsen: the same tolerance on the pressure, now at a 1 GPa target, and on the temperature
    assert abs(np.mean(nptl.P_GPa[len(nptl.P_GPa) // 2:]) - 1.0) < 0.4
    assert np.mean(nptl.T_K) == pytest.approx(700.0, rel=0.05)
    # 1 GPa compresses the crystal by ~1.3 % (B ≈ 76 GPa); volume fluctuations of 108 atoms are ~0.8 % per
    # sample, so compare means over the second halves
    assert np.mean(nptl.V_A3[len(nptl.V_A3) // 2:]) < np.mean(npt.V_A3[len(npt.V_A3) // 2:])


def test_nph_berendsen_same_formula_in_both_engines():
    """NPH (velocity Verlet + Berendsen barostat) in ASE and LAMMPS: near-identical short trajectories."""
    a = _perturbed_fcc(T=600.0)
    a.set_cell(a.cell.array * 1.01, scale_atoms=True)  # start under tension so the barostat has work to do
    b = a.copy()
    stage = [Stage("nph", 100, P_GPa=0.0, barostat="aniso", pdamp_fs=200.0, bulk_modulus_GPa=80.0, sample_every=10)]
    calc = potentials.load("eam-mendelev2008")
    ta = run_stages(a, engine_for(calc), stage, dt_fs=1.0, seed=1)[0]
    tb = run_stages(b, engine_for(potentials.load("eam-mendelev2008"), prefer="ase"), stage, dt_fs=1.0, seed=1)[0]
    # the cell shrank (tension relaxes) by the same amount in both engines; LAMMPS counts 3N-3 degrees of freedom
    # in the kinetic pressure, ASE 3N, a 1 % difference of the ~0.4 GPa kinetic term, hence 1e-3 relative
    assert ta.V_A3[-1] < ta.V_A3[0]
    np.testing.assert_allclose(ta.V_A3, tb.V_A3, rtol=1e-3)
    np.testing.assert_allclose(ta.T_K, tb.T_K, rtol=1e-2)


def test_bad_stages_give_clear_errors():
    a = _perturbed_fcc()
    engine = engine_for(potentials.load("emt"))
    with pytest.raises(AlalError, match="unknown MD ensemble"):
        run_stages(a, engine, [Stage("nvx", 10)], dt_fs=1.0, seed=1)
    with pytest.raises(AlalError, match="positive temperature"):
        run_stages(a, engine, [Stage("nvt", 10)], dt_fs=1.0, seed=1)
    with pytest.raises(AlalError, match="time step"):
        run_stages(a, engine, [Stage("nve", 10)], dt_fs=0.0, seed=1)
    with pytest.raises(AlalError, match="LAMMPS"):
        engine_for(potentials.load("emt"), prefer="lammps")


def test_lammps_engine_needs_an_orthorhombic_cell():
    from ase.build import bulk

    atoms = bulk("Al", "fcc", a=4.05).repeat(3)  # primitive: triclinic cell
    maxwell_boltzmann(atoms, 300.0, 1)
    with pytest.raises(AlalError, match="orthorhombic"):
        run_stages(atoms, engine_for(potentials.load("eam-mendelev2008")), [Stage("nve", 10)], dt_fs=1.0, seed=1)
