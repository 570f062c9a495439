"""The field's libraries beside our own code (issue 14): each replacement or cross-check against independent numbers.

- alal.units against scipy.constants (another library, CODATA 2022);
- pymatgen's polycrystal averages against the textbook cubic formulas; the Born-stability helper;
- ase.eos against our own Birch-Murnaghan fit on the same points;
- ase.calculators.fd (now behind the force and stress checks) against plain central differences;
- alal's g(r) against ase.geometry.rdf.get_rdf and OVITO's CoordinationAnalysisModifier.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.constants as si
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.geometry.rdf import get_rdf

from alal import units
from alal.analysis.rdf import rdf_per_frame
from alal.structures import crystal, density_g_cm3, fcc_cubic
from validation.properties.checks import _elastic_matrix, _forces_fd, _stress_fd
from validation.properties.elastic import born_stability, cubic_matrix, elastic_moduli, voigt_strain_tensor, \
    zener_anisotropy
from validation.properties.eos import fit_birch_murnaghan

# CODATA 2014 (ASE's default set) and 2022 (scipy) differ by < 4e-7 relative in e, h, k_B and the amu
CODATA_VINTAGES = 1e-6


def test_units_agree_with_scipy_constants():
    assert units.EV_PER_A3_TO_GPA == pytest.approx(si.e * 1e30 / 1e9, rel=CODATA_VINTAGES)
    assert units.EV_PER_A2_TO_MJ_PER_M2 == pytest.approx(si.e * 1e20 * 1e3, rel=CODATA_VINTAGES)
    assert units.KB_EV_PER_K == pytest.approx(si.k / si.e, rel=CODATA_VINTAGES)
    assert units.EV_PER_THZ == pytest.approx(si.h * 1e12 / si.e, rel=CODATA_VINTAGES)
    assert units.AMU_PER_A3_TO_G_PER_CM3 == pytest.approx(si.atomic_mass * 1e3 / 1e-24, rel=CODATA_VINTAGES)
    # FCC Al at 4.05 Å: 4 atoms of 26.9815 amu in 66.43 Å³ is the handbook 2.70 g/cm³
    assert density_g_cm3(fcc_cubic(4.05)) == pytest.approx(2.698, abs=1e-3)


# ------------------------------------------------------------------------------------------------ elastic tensor


def test_pymatgen_vrh_averages_equal_the_cubic_textbook_formulas():
    c11, c12, c44 = 108.2, 61.3, 28.5  # Al-like, anisotropic enough for Voigt and Reuss to differ
    got = elastic_moduli(cubic_matrix(c11, c12, c44))
    b = (c11 + 2 * c12) / 3
    g_v = (c11 - c12 + 3 * c44) / 5
    g_r = 5 * (c11 - c12) * c44 / (4 * c44 + 3 * (c11 - c12))
    g = (g_v + g_r) / 2
    expected = {
        "K_voigt_GPa": b, "K_reuss_GPa": b, "K_VRH_GPa": b,  # cubic: K_V = K_R
        "G_voigt_GPa": g_v, "G_reuss_GPa": g_r, "G_VRH_GPa": g,
        "E_VRH_GPa": 9 * b * g / (3 * b + g),
        "poisson_ratio_VRH": (3 * b - 2 * g) / (2 * (3 * b + g)),
        "universal_anisotropy": 5 * g_v / g_r - 5,  # 5 G_V/G_R + K_V/K_R − 6 with K_V = K_R
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key
    assert g_r < g_v  # the Reuss bound lies below the Voigt bound for an anisotropic crystal
    assert zener_anisotropy(c11, c12, c44) == pytest.approx(2 * c44 / (c11 - c12), rel=1e-15)
    # an isotropic tensor (A = 1): the bounds coincide and A_U vanishes
    iso = elastic_moduli(cubic_matrix(100.0, 40.0, 30.0))
    assert iso["G_voigt_GPa"] == pytest.approx(iso["G_reuss_GPa"], rel=1e-12)
    assert iso["universal_anisotropy"] == pytest.approx(0.0, abs=1e-12)


def test_born_stability_of_any_symmetry():
    c11, c12, c44 = 110.0, 60.0, 30.0
    born = born_stability(cubic_matrix(c11, c12, c44))
    # cubic: the eigenvalues are C11 + 2 C12, C11 − C12 (twice), C44 (three times), the classical Born conditions
    assert born["eigenvalues_GPa"] == pytest.approx(sorted([c11 + 2 * c12, c11 - c12, c11 - c12, c44, c44, c44]))
    assert born["stable"] and born["min_eigenvalue_GPa"] == pytest.approx(c44)
    assert not born_stability(cubic_matrix(c11, c12, -1.0))["stable"]
    assert not born_stability(cubic_matrix(c11, c11 + 5.0, c44))["stable"]  # C11 < C12: a tetragonal shear is soft
    # A normal-shear coupling C14 that the cubic conditions never look at: the 2×2 block [[110, 70], [70, 30]] has a
    # negative determinant, so some mixed strain lowers the energy although C11 > |C12| and C44 > 0.
    coupled = cubic_matrix(c11, c12, c44)
    coupled[0, 3] = coupled[3, 0] = 70.0
    assert not born_stability(coupled)["stable"]


def test_checks_born_value_is_the_smallest_cubic_born_expression_for_emt():
    """The eigenvalue criterion gives the number the hand-written cubic conditions gave (EMT's tensor is cubic)."""
    c = np.array(_elastic_matrix(EMT(), 3.99, 0.005))
    c11, c12, c44 = np.mean(np.diag(c)[:3]), np.mean([c[0, 1], c[0, 2], c[1, 2]]), np.mean(np.diag(c)[3:])
    # off-cubic entries of a central-difference matrix are round-off (~1e-11 GPa); 1e-8 GPa is far above them
    assert born_stability(c)["min_eigenvalue_GPa"] == pytest.approx(min(c11 - abs(c12), c11 + 2 * c12, c44),
                                                                    abs=1e-8)


# ------------------------------------------------------------------------------------------------ equation of state


def test_ase_eos_agrees_with_our_birch_murnaghan_fit_on_emt():
    calc = EMT()
    volumes = np.linspace(15.94 * 0.9, 15.94 * 1.1, 21)  # the eos property's ±10 % window around EMT's V0
    energies = []
    for v in volumes:
        atoms = crystal("fcc", float(v))
        atoms.calc = calc
        energies.append(atoms.get_potential_energy() / len(atoms))
    fit = fit_birch_murnaghan(volumes, energies)
    # The same model fitted by least squares to the same points: both optimisers stop within curve_fit's default
    # relative tolerance (1.5e-8) of one minimum, so the parameters agree far better than 1e-6 on smooth data.
    assert fit["B_GPa_ase_eos"] == pytest.approx(fit["B_GPa"], rel=1e-6)
    assert fit["V0_A3_per_atom_ase_eos"] == pytest.approx(fit["V0_A3_per_atom"], rel=1e-6)
    assert fit["E0_eV_per_atom_ase_eos"] == pytest.approx(fit["E0_eV_per_atom"], abs=1e-9)
    assert fit["Bprime_ase_eos"] == pytest.approx(fit["Bprime"], rel=1e-5)


# ------------------------------------------------------------------------------------------------ finite differences


def _rattled(seed: int = 3):
    atoms = fcc_cubic(4.0, 2)
    atoms.positions += np.random.default_rng(seed).normal(0.0, 0.05, atoms.positions.shape)
    return atoms


def _energy(atoms) -> float:
    atoms.calc = EMT()
    return atoms.get_potential_energy()


def test_ase_finite_differences_equal_plain_central_differences():
    """The force and stress checks now use ase.calculators.fd; they must reproduce the hand-written differences
    they replaced: the same central-difference formulas, so equal up to float64 round-off of the energies."""
    atoms = _rattled()
    h_x, h_eps = 1e-3, 1e-4
    picks = [(0, 0), (5, 1), (17, 2), (30, 0)]
    ref = atoms.copy()
    ref.calc = EMT()
    forces, stress = ref.get_forces(), ref.get_stress(voigt=True)
    plain_force_errors = []
    for i, k in picks:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += h_x
        minus.positions[i, k] -= h_x
        plain_force_errors.append(abs(forces[i, k] + (_energy(plus) - _energy(minus)) / (2 * h_x)))
    plain_stress_errors = []
    for comp in range(6):
        e = []
        for sign in (+1, -1):
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + voigt_strain_tensor(comp, sign * h_eps)),
                              scale_atoms=True)
            e.append(_energy(strained))
        plain_stress_errors.append(abs(stress[comp] - (e[0] - e[1]) / (2 * h_eps) / atoms.get_volume()))
    # round-off: |E| ~ 100 eV × 2e-16 / (2h) is ~1e-11 eV/Å for forces and ~1e-13 eV/Å³ (~1e-11 GPa) for stress
    new_forces = _forces_fd(EMT(), atoms, picks, h_x)
    assert new_forces["max_error_eV_A"] == pytest.approx(max(plain_force_errors), abs=1e-9)
    new_stress = _stress_fd(EMT(), atoms, h_eps)
    assert new_stress["max_error_GPa"] == pytest.approx(max(plain_stress_errors) * units.EV_PER_A3_TO_GPA, abs=1e-8)
    # and both are the truncation error of a correct potential, far below the checks' tolerances
    assert new_forces["max_error_eV_A"] < 1e-5 and new_stress["max_error_GPa"] < 1e-3


# ------------------------------------------------------------------------------------------------ g(r)


def _ovito_rdf(atoms, r_max: float, n_bins: int) -> np.ndarray:
    from ovito.io.ase import ase_to_ovito
    from ovito.modifiers import CoordinationAnalysisModifier
    from ovito.pipeline import Pipeline, StaticSource

    pipeline = Pipeline(source=StaticSource(data=ase_to_ovito(atoms)))
    pipeline.modifiers.append(CoordinationAnalysisModifier(cutoff=r_max, number_of_bins=n_bins))
    return pipeline.compute().tables["coordination-rdf"].xy()[:, 1]


# One pair moved across a bin edge changes g by 2/(N ρ ΔV_shell) ≳ 1e-3 in these cells: a tolerance of 1e-10 sees
# any difference in the pair counts and leaves only the round-off of the normalisation.
RDF_TOL = 1e-10


@pytest.mark.parametrize("kind", ["orthorhombic", "triclinic"])
def test_rdf_equals_ase_get_rdf_and_ovito(kind):
    rng = np.random.default_rng(7)
    if kind == "orthorhombic":  # 256 atoms: alal's vectorised minimum-image path
        frames = [fcc_cubic(4.15, 4) for _ in range(3)]
        r_max = 8.0
    else:  # primitive FCC vectors: alal goes through ASE's neighbour list
        frames = [bulk("Al", "fcc", a=4.05).repeat(6) for _ in range(3)]
        r_max = 7.0
    for atoms in frames:
        atoms.positions += rng.normal(0.0, 0.3, atoms.positions.shape)  # liquid-like disorder
    dr = 0.05
    n_bins = int(round(r_max / dr))
    r, g, _ = rdf_per_frame(frames, r_max, dr)
    g_ase, r_ase = get_rdf(frames, r_max, n_bins)
    assert r == pytest.approx(r_ase, abs=1e-12)
    assert np.abs(g.mean(axis=0) - g_ase).max() < RDF_TOL
    assert g.max() > 1.5  # a real first-neighbour peak, not an empty histogram
    for atoms, g_frame in zip(frames, g):
        assert np.abs(g_frame - _ovito_rdf(atoms, r_max, n_bins)).max() < RDF_TOL


def test_rdf_in_a_cell_smaller_than_twice_r_max_equals_ovito():
    """ASE's get_rdf refuses this cell (CellTooSmall); OVITO, like alal, counts every periodic image."""
    atoms = bulk("Al", "fcc", a=4.05).repeat(2)
    atoms.positions += np.random.default_rng(11).normal(0.0, 0.2, atoms.positions.shape)
    r, g, _ = rdf_per_frame([atoms], 6.0, 0.05)
    assert np.abs(g[0] - _ovito_rdf(atoms, 6.0, 120)).max() < RDF_TOL
