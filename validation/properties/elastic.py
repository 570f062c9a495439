"""Cubic elastic constants C11, C12, C44 and B = (C11 + 2 C12)/3 from stress-strain.

Protocol: the potential's own relaxed FCC lattice constant (float64), a 2×2×2 conventional cell (32 atoms),
symmetric strain set ±δ along each of the six Voigt components for δ = 0.25, 0.5, 1 and 2 %, stress from the
calculator. FCC atoms sit at inversion centres, so no internal relaxation is needed. Per amplitude, central
differences give the 6×6 matrix; the reported constants come from one least-squares fit of the cubic
stress-strain model σ = C(C11, C12, C44)·ε to every strained state with δ ≤ 1 %, with the RMS residual of that
fit. The 2 % values are reported, not fitted: they show the anharmonicity (and, for ANI-Al, the roughness of
the energy surface) that a single-amplitude number would hide.

Derived from the fitted constants: Voigt, Reuss and Hill bulk and shear moduli, Young's modulus, Poisson ratio and
the universal anisotropy index (pymatgen's ``ElasticTensor``), the Zener ratio 2 C44/(C11 − C12); and the Born
stability of the measured 6×6 matrix (its eigenvalues, no symmetry assumed).
"""

from __future__ import annotations

import numpy as np
from pymatgen.analysis.elasticity import ElasticTensor

from alal.structures import fcc_cubic
from alal.units import EV_PER_A3_TO_GPA
from validation.properties.base import Comparison, PotentialContext, Property, PropertyResult

VOIGT = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]


def voigt_strain_tensor(component: int, delta: float) -> np.ndarray:
    """Symmetric strain tensor for engineering Voigt strain ``delta`` in ``component`` (shear: γ = δ)."""
    eps = np.zeros((3, 3))
    i, j = VOIGT[component]
    if i == j:
        eps[i, i] = delta
    else:
        eps[i, j] = eps[j, i] = delta / 2.0
    return eps


def cubic_matrix(c11: float, c12: float, c44: float) -> np.ndarray:
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


def cubic_average(c: np.ndarray) -> dict:
    c11 = float(np.mean([c[0, 0], c[1, 1], c[2, 2]]))
    c12 = float(np.mean([c[0, 1], c[0, 2], c[1, 2], c[1, 0], c[2, 0], c[2, 1]]))
    c44 = float(np.mean([c[3, 3], c[4, 4], c[5, 5]]))
    return {"C11_GPa": c11, "C12_GPa": c12, "C44_GPa": c44, "B_GPa": (c11 + 2 * c12) / 3.0}


def elastic_moduli(c_voigt) -> dict:
    """Polycrystal averages of a 6×6 elastic tensor (GPa, Voigt notation, any symmetry), through pymatgen.

    Voigt, Reuss and Hill (VRH) bulk and shear moduli, Young's modulus and Poisson ratio from the VRH averages,
    and the universal anisotropy index A_U = 5 G_V/G_R + K_V/K_R − 6 (Ranganathan & Ostoja-Starzewski, PRL 101,
    055504 (2008); zero for an isotropic crystal). The tensor is symmetrised first: a finite-difference C_ij carries round-off
    asymmetry, which pymatgen would warn about.
    """
    c = np.asarray(c_voigt, float)
    t = ElasticTensor.from_voigt(0.5 * (c + c.T))
    return {
        "K_voigt_GPa": float(t.k_voigt), "K_reuss_GPa": float(t.k_reuss), "K_VRH_GPa": float(t.k_vrh),
        "G_voigt_GPa": float(t.g_voigt), "G_reuss_GPa": float(t.g_reuss), "G_VRH_GPa": float(t.g_vrh),
        "E_VRH_GPa": float(t.y_mod) / 1e9,  # pymatgen returns Young's modulus in Pa
        "poisson_ratio_VRH": float(t.homogeneous_poisson),
        "universal_anisotropy": float(t.universal_anisotropy),
    }


def zener_anisotropy(c11: float, c12: float, c44: float) -> float:
    """Zener ratio A = 2 C44 / (C11 − C12) of a cubic crystal (1 for an isotropic one)."""
    return 2.0 * c44 / (c11 - c12)


def born_stability(c_voigt) -> dict:
    """Born mechanical stability of a 6×6 elastic tensor (GPa, Voigt notation) of any symmetry.

    A crystal is stable under small homogeneous strain when the strain energy ½ εᵀCε is positive for every ε, i.e.
    when every eigenvalue of the symmetrised Voigt matrix is positive (Mouhat & Coudert, PRB 90, 224104 (2014)).
    For a cubic crystal the eigenvalues are C11 + 2 C12, C11 − C12 (twice) and C44 (three times): the familiar
    three Born conditions. Returns the eigenvalues, the smallest one and the verdict.
    """
    c = np.asarray(c_voigt, float)
    eig = np.linalg.eigvalsh(0.5 * (c + c.T))
    return {"eigenvalues_GPa": [float(x) for x in eig], "min_eigenvalue_GPa": float(eig[0]),
            "stable": bool(eig[0] > 0.0)}


def fit_cubic(strains: np.ndarray, stresses: np.ndarray) -> tuple[dict, float]:
    """Least-squares C11, C12, C44 (and a constant residual stress) from Voigt strains/stresses (GPa).

    Returns the constants and the RMS residual (GPa) over all components of all states.
    """
    rows, rhs = [], []
    for e, s in zip(strains, stresses):
        for i in range(6):
            # σ_i = C11 e_i + C12 (sum of the other two normal strains) for i < 3; σ_i = C44 e_i for shear
            if i < 3:
                others = sum(e[k] for k in range(3) if k != i)
                row = [e[i], others, 0.0]
            else:
                row = [0.0, 0.0, e[i]]
            offset = [0.0] * 6
            offset[i] = 1.0  # residual stress of the reference state (≈0 at the potential's own a0)
            rows.append(row + offset)
            rhs.append(s[i])
    a = np.array(rows)
    b = np.array(rhs)
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    resid = b - a @ x
    c11, c12, c44 = (float(v) for v in x[:3])
    return {"C11_GPa": c11, "C12_GPa": c12, "C44_GPa": c44, "B_GPa": (c11 + 2 * c12) / 3.0}, float(
        np.sqrt(np.mean(resid**2)))


class ElasticConstants(Property):
    name = "elastic"
    title = "Elastic constants"
    needs_a0 = True

    def settings(self, tier: str) -> dict:
        return {
            "supercell": [2, 2, 2],
            "amplitudes": [0.0025, 0.005, 0.01, 0.02],
            "fit_max_amplitude": 0.01,
            "dtype": self.dtype,
            "lattice_constant": "own relaxed a0 (zero pressure, float64)",
        }

    def build(self, ctx: PotentialContext) -> dict:
        s = self.settings(ctx.tier)
        a0 = ctx.a0_A
        reference = fcc_cubic(a0, tuple(s["supercell"]))
        states = []
        for delta in s["amplitudes"]:
            for comp in range(6):
                for sign in (+1, -1):
                    eps = voigt_strain_tensor(comp, sign * delta)
                    atoms = reference.copy()
                    atoms.set_cell(reference.cell.array @ (np.eye(3) + eps), scale_atoms=True)
                    states.append({"delta": delta, "component": comp, "sign": sign, "atoms": atoms})
        return {"a0_A": a0, "reference": reference, "states": states, "settings": s}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        calc = ctx.calculator(self.dtype)
        ref = built["reference"]
        ref.calc = calc
        stress0 = ref.get_stress(voigt=True) * EV_PER_A3_TO_GPA
        ctx.progress(f"elastic: {len(built['states'])} strained states of {len(ref)} atoms at a0 = {built['a0_A']:.5f} Å")
        stresses = []
        for st in built["states"]:
            atoms = st["atoms"]
            atoms.calc = calc
            stresses.append(atoms.get_stress(voigt=True) * EV_PER_A3_TO_GPA)
        return {"a0_A": built["a0_A"], "stress0_GPa": stress0, "states": built["states"], "stresses_GPa": stresses,
                "settings": built["settings"]}

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = raw["settings"]
        by_strain = {}
        matrices = {}
        for delta in s["amplitudes"]:
            c = np.zeros((6, 6))
            for comp in range(6):
                plus = next(st_i for st_i, st in enumerate(raw["states"])
                            if st["delta"] == delta and st["component"] == comp and st["sign"] == +1)
                minus = next(st_i for st_i, st in enumerate(raw["states"])
                             if st["delta"] == delta and st["component"] == comp and st["sign"] == -1)
                c[:, comp] = (raw["stresses_GPa"][plus] - raw["stresses_GPa"][minus]) / (2 * delta)
            matrices[delta] = c
            by_strain[f"{delta * 100:g}%"] = cubic_average(c)
        fit_idx = [i for i, st in enumerate(raw["states"]) if st["delta"] <= s["fit_max_amplitude"] + 1e-12]
        strains = np.array([
            [st["sign"] * st["delta"] if k == st["component"] else 0.0 for k in range(6)]
            for st in (raw["states"][i] for i in fit_idx)
        ])
        stresses = np.array([raw["stresses_GPa"][i] for i in fit_idx])
        fitted, residual = fit_cubic(strains, stresses)
        c_ref = matrices[min(s["amplitudes"], key=lambda d: abs(d - 0.005))]
        data = {
            **fitted,
            # averages of the fitted cubic tensor, so that they are consistent with the reported C11, C12, C44
            **elastic_moduli(cubic_matrix(fitted["C11_GPa"], fitted["C12_GPa"], fitted["C44_GPa"])),
            "zener_anisotropy": zener_anisotropy(fitted["C11_GPa"], fitted["C12_GPa"], fitted["C44_GPa"]),
            # stability of the measured 6×6 matrix as it is, without assuming cubic symmetry
            "born_stability": born_stability(c_ref),
            "residual_GPa": residual,
            "a0_A": raw["a0_A"],
            "residual_stress_GPa": [float(x) for x in raw["stress0_GPa"]],
            "by_strain": by_strain,
            "C_matrix_GPa": c_ref.tolist(),
            "C_matrix_strain": 0.005,
        }
        return PropertyResult(self.name, ctx.name, data, self.comparisons(data, ctx), settings=s)

    def comparisons(self, data: dict, ctx: PotentialContext) -> list[Comparison]:
        refs = ctx.references
        out = []
        # Tolerance 10 % of the experimental value: the spread of good DFT-PBE and EAM fits around the 0 K
        # extrapolated experiment (the paper's own C12 is 8 % off experiment and it calls that on par with DFT).
        for key, label in (("C11_GPa", "C11 (GPa)"), ("C12_GPa", "C12 (GPa)"), ("C44_GPa", "C44 (GPa)"),
                           ("B_GPa", "B (GPa)")):
            exp = refs.get("elastic", key, kind="experiment")
            if exp is not None:
                out.append(Comparison(key, data[key], exp.value, "experiment", exp.label, 0.10 * exp.value, label))
            for kind in ("paper", "potential"):
                own = refs.get("elastic", key, kind=kind, potential=ctx.name)
                if own is not None:
                    # A potential's own published numbers: 5 % covers lattice-constant and strain-protocol
                    # differences between their calculation and ours.
                    out.append(Comparison(key, data[key], own.value, kind, own.label, 0.05 * own.value, label))
        return out
