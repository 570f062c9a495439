"""Vacancy formation energy with supercell convergence.

Protocol: cubic FCC supercells of n×n×n conventional cells (4n³ sites) at the potential's own a0; one atom removed;
positions relaxed at fixed cell (LBFGS, fmax 0.01 eV/Å quick, 0.002 full);
``Ef = E(N−1 sites, relaxed) − (N−1)/N · E(N, perfect)`` with the perfect supercell's own energy (exact
cancellation of any cell-shape dependence of the potential's numerics). The constant-volume and constant-pressure
formation energies differ by O(1/N), which the size series shows; the headline ``Ef_eV`` is the largest cell,
``Ef_extrapolated_eV`` a linear fit of Ef against 1/N over the cells with N ≥ 108. The relaxed defect cells are
kept (extended XYZ), each with its energy and the perfect cell's (``E_perfect_supercell_eV``), so Ef can be redone.
"""

from __future__ import annotations

import numpy as np

from alal.structures import fcc_cubic
from validation.properties.base import KEPT, Comparison, PotentialContext, Property, PropertyResult, snapshot
from validation.properties.relax import energy_with_members, relax


class VacancyFormation(Property):
    name = "vacancy"
    title = "Vacancy formation energy"
    needs_a0 = True

    def settings(self, tier: str) -> dict:
        full = tier == "full"
        return {
            "supercells": [2, 3, 4, 5] if full else [2, 3, 4],
            "removed_site": 0,
            "relaxation": "positions at fixed cell (own a0), LBFGS",
            # 0.003 eV/Å: the residual relaxation energy (~N f²/2k over the atoms still moving) stays below
            # 0.1 meV; at 0.01 eV/Å the relaxed Ef of Mishin 1999 (256 sites) still moved by 0.6 meV
            "relax_fmax_eV_A": 0.001 if full else 0.003,
            "relax_max_steps": 300,
            "dtype": self.dtype,
        }

    def build(self, ctx: PotentialContext) -> dict:
        s = self.settings(ctx.tier)
        a0 = ctx.a0_A
        cells = []
        for n in s["supercells"]:
            perfect = fcc_cubic(a0, n)
            defect = perfect.copy()
            del defect[s["removed_site"]]
            cells.append({"n": n, "perfect": perfect, "defect": defect})
        return {"a0_A": a0, "cells": cells, "settings": s}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        calc = ctx.calculator(self.dtype)
        s = built["settings"]
        out, kept = [], {}
        for cell in built["cells"]:
            n_sites = len(cell["perfect"])
            size = f"{cell['n']}x{cell['n']}x{cell['n']}"
            ctx.progress(f"vacancy: {size} supercell ({n_sites} sites), relaxing")
            e_perfect, m_perfect = energy_with_members(cell["perfect"], calc)
            r = relax(cell["defect"], calc, fmax=s["relax_fmax_eV_A"], steps=s["relax_max_steps"])
            disp = np.linalg.norm(r.atoms.positions - cell["defect"].positions, axis=1)
            out.append({"n": cell["n"], "sites": n_sites, "E_perfect": e_perfect, "members_perfect": m_perfect,
                        "E_unrelaxed": r.initial_energy_eV, "E_relaxed": r.energy_eV,
                        "members_relaxed": r.member_energies_eV, "steps": r.steps, "converged": r.converged,
                        "max_displacement_A": float(disp.max())})
            kept[f"{size}_relaxed"] = snapshot(
                r.atoms, r.energy_eV, supercell=size, sites=n_sites, a0_A=built["a0_A"],
                E_perfect_supercell_eV=e_perfect, relax_converged=r.converged)
        return {**built, "results": out, KEPT: kept}

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        rows = raw["results"]
        sizes, ef, ef_unrelaxed, spread = [], [], [], []
        for r in rows:
            n = r["sites"]
            frac = (n - 1) / n
            sizes.append(n)
            ef.append(r["E_relaxed"] - frac * r["E_perfect"])
            ef_unrelaxed.append(r["E_unrelaxed"] - frac * r["E_perfect"])
            if r["members_relaxed"] is not None:
                m = np.asarray(r["members_relaxed"]) - frac * np.asarray(r["members_perfect"])
                spread.append(float(np.std(m)))
            else:
                spread.append(None)
        data = {
            "a0_A": raw["a0_A"],
            "Ef_eV": ef[-1],
            "Ef_unrelaxed_eV": ef_unrelaxed[-1],
            "relaxation_energy_eV": ef_unrelaxed[-1] - ef[-1],
            "supercell": f"{rows[-1]['n']}x{rows[-1]['n']}x{rows[-1]['n']} conventional ({sizes[-1]} sites)",
            "convergence": {
                "sites": sizes,
                "Ef_eV": ef,
                "Ef_unrelaxed_eV": ef_unrelaxed,
                "Ef_std_eV": spread,
                "relax_steps": [r["steps"] for r in rows],
                "converged": [r["converged"] for r in rows],
                "max_displacement_A": [r["max_displacement_A"] for r in rows],
            },
            "size_change_eV": abs(ef[-1] - ef[-2]) if len(ef) > 1 else None,
        }
        if spread[-1] is not None:
            data["Ef_std_eV"] = spread[-1]
        big = [i for i, n in enumerate(sizes) if n >= 108]
        if len(big) >= 2:
            slope, intercept = np.polyfit(1.0 / np.array(sizes)[big], np.array(ef)[big], 1)
            data["Ef_extrapolated_eV"] = float(intercept)
        notes = [f"relaxed at fixed cell; sizes {', '.join(str(n) for n in sizes)} sites"]
        if not all(r["converged"] for r in rows):
            notes.append("some relaxations did not reach fmax: " + ", ".join(
                str(r["sites"]) for r in rows if not r["converged"]))
        return PropertyResult(self.name, ctx.name, data, self.comparisons(data, ctx), settings=raw["settings"],
                              notes=notes)

    def comparisons(self, data: dict, ctx: PotentialContext) -> list[Comparison]:
        refs = ctx.references
        out = []
        label = "E_f vacancy (eV)"
        exp = refs.get("vacancy", "Ef_eV", kind="experiment")
        if exp is not None:
            # 0.1 eV: the experimental range is 0.66-0.70 eV, and PBE itself lies ~0.07 eV below it (0.61 eV), so a
            # PBE-trained potential is only expected within ~0.1 eV of experiment.
            out.append(Comparison("Ef_eV", data["Ef_eV"], exp.value, "experiment", exp.label, 0.1, label))
        own_dft = refs.dft_data("vacancy")
        if own_dft and own_dft.get("Ef_eV") is not None:
            # 0.05 eV: the spread of converged PBE values for Al (0.56-0.67 eV) across codes and supercells.
            out.append(Comparison("Ef_eV", data["Ef_eV"], own_dft["Ef_eV"], "dft",
                                  own_dft.get("label", "GPAW-PBE (ours)"), 0.05, label))
        else:
            dft = refs.get("vacancy", "Ef_eV", kind="dft")
            if dft is not None:
                out.append(Comparison("Ef_eV", data["Ef_eV"], dft.value, "dft", dft.label, 0.05, label))
        for kind in ("paper", "potential"):
            pub = refs.get("vacancy", "Ef_eV", kind=kind, potential=ctx.name)
            if pub is not None:
                # A potential's own published value: 0.02 eV covers supercell size and relaxation differences.
                out.append(Comparison("Ef_eV", data["Ef_eV"], pub.value, kind, pub.label, 0.02, label))
        return out
