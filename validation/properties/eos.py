"""Cold curves E(V) of FCC, HCP, BCC, SC and diamond, with Birch-Murnaghan fits near each minimum.

Protocol (the paper's Fig. 2): energy per atom over 11-25 Å³/atom, relative to FCC's minimum. A wider scan
(10-32 Å³/atom) locates each structure's own minimum (diamond's lies near the top of the plotted range), then 21
points within ±10 % of it are fitted with a third-order Birch-Murnaghan equation. A second fit over ±6 % (11
points, the ACWF verification protocol) is recorded as ``fit_6pct``: for ANI-Al the two differ because its
E(V) carries sub-meV wiggles (RMS fit residual ~0.2 meV/atom) that make B' from a narrow window meaningless
(ANI-Al: B' ≈ −3 from ±6 %, 4.1 from ±10 %). HCP is evaluated both at
ideal c/a and with c/a relaxed at every volume. For ensembles the standard deviation of the members' energy
per atom is recorded at every point (the paper's error bars).

ε_x (``error_vs_dft_meV_per_atom``) = (E0_x − E0_fcc)_potential − (E0_x − E0_fcc)_DFT, the paper's measure.
DFT is our own GPAW-PBE reference (``reference_data/dft/eos.json``) when present, else the ACWF all-electron
values.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.eos import EquationOfState
from scipy.optimize import curve_fit, minimize_scalar

from alal.structures import IDEAL_HCP_C_OVER_A, crystal, lattice_constant_from_volume
from alal.units import EV_PER_A3_TO_GPA
from validation.properties.base import Comparison, PotentialContext, Property, PropertyResult, snapshot

STRUCTURES = ("fcc", "hcp", "hcp_ideal", "bcc", "sc", "diamond")
LATTICE_OF = {"fcc": "fcc", "hcp": "hcp", "hcp_ideal": "hcp", "bcc": "bcc", "sc": "sc", "diamond": "diamond"}
LABELS = {"fcc": "FCC", "hcp": "HCP (relaxed c/a)", "hcp_ideal": "HCP (ideal c/a)", "bcc": "BCC", "sc": "SC",
          "diamond": "Diamond"}


def birch_murnaghan(v, e0, v0, b0, bp):
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1.0) ** 3 * bp + (eta - 1.0) ** 2 * (6.0 - 4.0 * eta))


def fit_birch_murnaghan(volumes, energies) -> dict:
    """Fit E(V); returns V0 (Å³/atom), E0 (eV/atom), B (GPa), B' and the RMS fit residual (meV/atom).

    ASE's fit of the same equation to the same points (:func:`fit_ase_eos`) is recorded beside it (keys ending in
    ``_ase_eos``) as a cross-check: two independent implementations that must agree.
    """
    v = np.asarray(volumes, float)
    e = np.asarray(energies, float)
    c = np.polyfit(v, e, 2)
    v0_guess = -c[1] / (2 * c[0]) if c[0] > 0 else v[np.argmin(e)]
    b_guess = max(2 * c[0] * v0_guess, 1e-3)
    popt, _ = curve_fit(birch_murnaghan, v, e, p0=[e.min(), v0_guess, b_guess, 4.0], maxfev=20000)
    resid = e - birch_murnaghan(v, *popt)
    return {
        "E0_eV_per_atom": float(popt[0]),
        "V0_A3_per_atom": float(popt[1]),
        "B_GPa": float(popt[2] * EV_PER_A3_TO_GPA),
        "Bprime": float(popt[3]),
        "fit_rms_meV_per_atom": float(np.sqrt(np.mean(resid**2)) * 1e3),
        **fit_ase_eos(v, e),
    }


def fit_ase_eos(volumes, energies) -> dict:
    """ASE's third-order Birch-Murnaghan fit (``ase.eos.EquationOfState``): V0, E0, B (GPa), B' with ``_ase_eos``.

    Values are None when ASE's fit does not converge (its own parabola start can fail where ours succeeds): the
    cross-check is then missing, never the property.
    """
    eos = EquationOfState(volumes, energies, eos="birchmurnaghan")
    try:
        v0, e0, b = eos.fit(warn=False)  # our own fit reports whether the minimum lies inside the scan
    except RuntimeError:  # scipy's curve_fit: "Optimal parameters not found"
        return {"V0_A3_per_atom_ase_eos": None, "E0_eV_per_atom_ase_eos": None, "B_GPa_ase_eos": None,
                "Bprime_ase_eos": None}
    return {"V0_A3_per_atom_ase_eos": float(v0), "E0_eV_per_atom_ase_eos": float(e0),
            "B_GPa_ase_eos": float(b * EV_PER_A3_TO_GPA), "Bprime_ase_eos": float(eos.eos_parameters[2])}


class ColdCurves(Property):
    name = "eos"
    title = "Cold curves and equations of state"

    def settings(self, tier: str) -> dict:
        return {
            "plot_range_A3_per_atom": [11.0, 25.0],
            "scan_range_A3_per_atom": [10.0, 32.0],
            "scan_step_A3_per_atom": 0.5 if tier == "quick" else 0.25,
            "fit_window_fraction": 0.10,
            "fit_points": 21,
            "local_fit_window_fraction": 0.06,
            "local_fit_points": 11,
            "hcp_c_over_a_bounds": [1.45, 1.85],
            "dtype": self.dtype,
        }

    # build: volumes per structure (the HCP c/a optimisation happens in compute: it needs energies)
    def build(self, ctx: PotentialContext) -> dict:
        s = self.settings(ctx.tier)
        lo, hi = s["scan_range_A3_per_atom"]
        grid = np.round(np.arange(lo, hi + 1e-9, s["scan_step_A3_per_atom"]), 6)
        return {"settings": s, "scan_volumes": grid, "structures": list(STRUCTURES)}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        calc = ctx.calculator(self.dtype)
        s = built["settings"]
        raw: dict = {"scan": {}, "fit": {}, "isolated_atom_eV": isolated_atom_energy(calc)}
        for name in built["structures"]:
            ctx.progress(f"eos: {LABELS[name]} scan over {len(built['scan_volumes'])} volumes")
            points = [self._point(calc, name, v, s) for v in built["scan_volumes"]]
            raw["scan"][name] = points
            energies = np.array([p["E"] for p in points])
            vmin = float(built["scan_volumes"][int(np.argmin(energies))])
            window = np.linspace(vmin * (1 - s["fit_window_fraction"]), vmin * (1 + s["fit_window_fraction"]),
                                 s["fit_points"])
            raw["fit"][name] = [self._point(calc, name, v, s) for v in window]
            local = np.linspace(vmin * (1 - s["local_fit_window_fraction"]),
                                vmin * (1 + s["local_fit_window_fraction"]), s["local_fit_points"])
            raw.setdefault("local_fit", {})[name] = [self._point(calc, name, v, s) for v in local]
        return raw

    def _point(self, calc, name: str, volume: float, s: dict) -> dict:
        lattice = LATTICE_OF[name]
        if name == "hcp":
            res = minimize_scalar(
                lambda ca: _energy(calc, crystal("hcp", volume, c_over_a=ca))[0],
                bounds=tuple(s["hcp_c_over_a_bounds"]), method="bounded", options={"xatol": 1e-4},
            )
            ca = float(res.x)
            e, std = _energy(calc, crystal("hcp", volume, c_over_a=ca))
            return {"V": float(volume), "E": e, "std": std, "c_over_a": ca}
        ca = IDEAL_HCP_C_OVER_A if lattice == "hcp" else None
        atoms = crystal(lattice, volume, c_over_a=ca) if ca else crystal(lattice, volume)
        e, std = _energy(calc, atoms)
        out = {"V": float(volume), "E": e, "std": std}
        if ca:
            out["c_over_a"] = ca
        return out

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        s = self.settings(ctx.tier)
        data: dict = {}
        fits = {}
        for name, points in raw["fit"].items():
            fit = fit_birch_murnaghan([p["V"] for p in points], [p["E"] for p in points])
            if "c_over_a" in points[0]:
                cas = np.array([p["c_over_a"] for p in points])
                vs = np.array([p["V"] for p in points])
                fit["c_over_a"] = float(np.interp(fit["V0_A3_per_atom"], vs, cas))
            local = raw["local_fit"][name]
            fit["fit_6pct"] = fit_birch_murnaghan([p["V"] for p in local], [p["E"] for p in local])
            scan_v = [p["V"] for p in raw["scan"][name]]
            fit["minimum_inside_scan"] = bool(min(scan_v) < fit["V0_A3_per_atom"] < max(scan_v))
            fit["a0_A"] = lattice_constant_from_volume(
                LATTICE_OF[name], fit["V0_A3_per_atom"], fit.get("c_over_a", IDEAL_HCP_C_OVER_A)
            )
            fits[name] = fit
        e_fcc = fits["fcc"]["E0_eV_per_atom"]
        dft = dft_energy_differences(ctx.references)
        for name, fit in fits.items():
            fit["dE_meV_per_atom"] = (fit["E0_eV_per_atom"] - e_fcc) * 1e3
            ref_name = "hcp" if name == "hcp_ideal" else name
            if name != "fcc" and ref_name in dft["dE_meV_per_atom"]:
                fit["error_vs_dft_meV_per_atom"] = fit["dE_meV_per_atom"] - dft["dE_meV_per_atom"][ref_name]
            data[name] = fit
        data["fcc"]["cohesive_energy_eV_per_atom"] = raw["isolated_atom_eV"] - e_fcc
        data["dft_source"] = dft["source"]
        data["curves"] = {
            name: {
                "V_A3_per_atom": [p["V"] for p in pts],
                "E_eV_per_atom": [p["E"] for p in pts],
                "dE_meV_per_atom": [(p["E"] - e_fcc) * 1e3 for p in pts],
                "std_meV_per_atom": [p["std"] * 1e3 if p["std"] is not None else None for p in pts],
                **({"c_over_a": [p["c_over_a"] for p in pts]} if "c_over_a" in pts[0] else {}),
            }
            for name, pts in raw["scan"].items()
        }
        return PropertyResult(self.name, ctx.name, data, self.comparisons(data, ctx), settings=s,
                              notes=[f"ε_x computed against {dft['source']}"], structures=minimum_structures(fits))

    def comparisons(self, data: dict, ctx: PotentialContext) -> list[Comparison]:
        refs = ctx.references
        out: list[Comparison] = []
        # Tolerances: what a good Al potential should meet. a0 within 0.02 Å (0.5 %; the 0 K vs room-temperature
        # difference is ~0.017 Å), B within 5 GPa (~6 %), structure energies within 10 meV/atom of DFT for
        # BCC (the paper's ANI-Al error is 5.3) and 50 meV/atom for SC/diamond (paper: 37 and -44).
        checks = [
            ("fcc.a0_A", data["fcc"]["a0_A"], "a0 (Å)", 0.02),
            ("fcc.B_GPa", data["fcc"]["B_GPa"], "B from E(V) (GPa)", 5.0),
            ("fcc.V0_A3_per_atom", data["fcc"]["V0_A3_per_atom"], "V0 (Å³/atom)", 0.3),
            ("fcc.Bprime", data["fcc"]["Bprime"], "B'", 1.0),
            ("fcc.cohesive_energy_eV_per_atom", data["fcc"]["cohesive_energy_eV_per_atom"], "E_coh (eV/atom)", 0.15),
            ("bcc.dE_meV_per_atom", data["bcc"]["dE_meV_per_atom"], "E_bcc − E_fcc (meV/atom)", 10.0),
            ("sc.dE_meV_per_atom", data["sc"]["dE_meV_per_atom"], "E_sc − E_fcc (meV/atom)", 50.0),
            ("diamond.dE_meV_per_atom", data["diamond"]["dE_meV_per_atom"], "E_diamond − E_fcc (meV/atom)", 50.0),
        ]
        for key, value, label, tol in checks:
            for kind in ("experiment", "dft"):
                ref = refs.get("eos", key, kind=kind) or (
                    refs.get("eos", key, kind=kind, condition="room temperature") if kind == "experiment" else None)
                if ref is not None and ref.value is not None:
                    out.append(Comparison(key, value, ref.value, kind, ref.label, tol, label))
            own = refs.get("eos", key, kind="potential", potential=ctx.name)
            if own is not None:
                out.append(Comparison(key, value, own.value, "potential", own.label, tol, label))
        for struct in ("hcp", "bcc", "sc", "diamond"):
            key = f"{struct}.error_vs_dft_meV_per_atom"
            paper = refs.get("eos", key, kind="paper", potential=ctx.name)
            if paper is not None and "error_vs_dft_meV_per_atom" in data[struct]:
                # Our ε against the paper's ε for the same potential: differences come from the DFT reference
                # (ours vs the paper's 3x3x3 k-mesh PBE) more than from the potential.
                out.append(Comparison(key, data[struct]["error_vs_dft_meV_per_atom"], paper.value, "paper",
                                      paper.label, 5.0 if struct in ("hcp", "bcc") else 30.0, f"ε_{struct} (meV/atom)"))
        return out


def minimum_structures(fits: dict) -> dict[str, Atoms]:
    """Each structure at its fitted minimum (V0, and c/a for relaxed HCP), to keep as extended XYZ.

    Built from the fit, not evaluated: the energy in each frame's info is the fit's E0 (``E0_fit_eV_per_atom``),
    not a calculator energy.
    """
    out = {}
    for name, fit in fits.items():
        ca = fit.get("c_over_a", IDEAL_HCP_C_OVER_A)
        atoms = crystal(LATTICE_OF[name], fit["V0_A3_per_atom"], c_over_a=ca)
        out[f"{name}_minimum"] = snapshot(atoms, V0_A3_per_atom=fit["V0_A3_per_atom"],
                                          E0_fit_eV_per_atom=fit["E0_eV_per_atom"], B_GPa=fit["B_GPa"],
                                          c_over_a=ca if LATTICE_OF[name] == "hcp" else None)
    return out


def _energy(calc, atoms: Atoms) -> tuple[float, float | None]:
    """Energy per atom and, for ensembles, the members' standard deviation per atom (eV)."""
    atoms.calc = calc
    e = float(atoms.get_potential_energy()) / len(atoms)
    std = calc.results.get("energy_std") if hasattr(calc, "results") else None
    return e, (float(std) / len(atoms) if std is not None else None)


def isolated_atom_energy(calc) -> float:
    """Energy of one atom alone in a non-periodic box (the zero of the cohesive energy)."""
    atoms = Atoms("Al", positions=[[0.0, 0.0, 0.0]], cell=[30.0, 30.0, 30.0], pbc=False)
    atoms.calc = calc
    return float(atoms.get_potential_energy())


def dft_energy_differences(references) -> dict:
    """E_x − E_fcc at each minimum (meV/atom) from our GPAW reference if present, else ACWF."""
    own = references.dft_data("eos")
    if own and "structures" in own:
        d = {k: v["dE_meV_per_atom"] for k, v in own["structures"].items() if "dE_meV_per_atom" in v}
        d.setdefault("fcc", 0.0)
        return {"dE_meV_per_atom": d, "source": own.get("label", "GPAW-PBE (reference_data/dft/eos.json)")}
    d = {"fcc": 0.0}
    for struct in ("hcp", "bcc", "sc", "diamond"):
        ref = references.get("eos", f"{struct}.dE_meV_per_atom", kind="dft")
        if ref is not None:
            d[struct] = ref.value
    return {"dE_meV_per_atom": d, "source": "ACWF all-electron PBE (Bosoni et al. 2024)"}
