"""Phonons with phonopy: dispersion along Γ-X-K-Γ-L, density of states, frequencies at X and L; optional QHA.

Protocol: finite displacements (phonopy, 0.01 Å, ±x, ±y, ±z of one atom: six force calls per supercell) in
n×n×n supercells of the conventional cubic cell at the potential's own a0.
X = (1,0,0)2π/a and L = (½,½,½)2π/a are commensurate with every even n, so their frequencies are *exact* for the
harmonic crystal in the 2×2×2 and 4×4×4 supercells alike (their agreement is a built-in check); the dispersion
between them converges with n, measured as the largest frequency change along the path between the two largest
supercells. Dispersion and DOS come from the largest supercell. Neutron data (Stedman & Nilsson 1966) are at
80 K; anharmonic shifts of Al between 0 and 80 K are below 1 %.

Mode Grüneisen parameters γ = −d ln ν/d ln V at X and L and over a mesh, from ±0.5 % lattice strain, and the
Grüneisen-model thermal expansion α = γ_th C_v / (3 B V) at 298 K (every tier: it is cheap and exposes a
potential whose frequencies do not vary smoothly with volume). Full tier: the quasi-harmonic approximation
proper (phonopy QHA over seven volumes, 3×3×3 supercells, Vinet EOS), linear α = β/3 at 298 K.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

from alal.structures import fcc_cubic
from alal.units import EV_PER_A3_TO_GPA, EV_PER_THZ, KB_EV_PER_K
from validation.properties.base import Comparison, PotentialContext, Property, PropertyResult

PRIMITIVE_F = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]
# High-symmetry points in Cartesian units of 2π/a, and the same in the primitive reciprocal basis (phonopy's).
CARTESIAN = {"Γ": (0.0, 0.0, 0.0), "X": (1.0, 0.0, 0.0), "X'": (1.0, 1.0, 0.0), "K": (0.75, 0.75, 0.0),
             "L": (0.5, 0.5, 0.5)}
# Γ-X along [ζ00]; then X' ≡ X (1,1,0) back along [ζζ0] through K to Γ; then Γ-L along [ζζζ].
SEGMENTS = [("Γ", "X"), ("X'", "K"), ("K", "Γ"), ("Γ", "L")]
THZ_NAMES = {"X": ("X_T_THz", "X_L_THz"), "L": ("L_T_THz", "L_L_THz")}


def to_primitive_fractional(q_cart_2pi_a) -> np.ndarray:
    """q in Cartesian units of 2π/a -> reduced coordinates on the FCC primitive reciprocal basis."""
    a = np.array(PRIMITIVE_F)  # primitive vectors in units of a, as rows
    return np.asarray(q_cart_2pi_a, float) @ a.T


def band_qpoints(points_per_segment: int) -> tuple[np.ndarray, np.ndarray, list[float], list[str]]:
    """Concatenated q-points (primitive reduced), the distance along the path (2π/a), tick positions and labels."""
    qs, dist, ticks, labels = [], [], [0.0], ["Γ"]
    total = 0.0
    for start, end in SEGMENTS:
        a, b = np.array(CARTESIAN[start]), np.array(CARTESIAN[end])
        for t in np.linspace(0.0, 1.0, points_per_segment):
            q = a + t * (b - a)
            if qs and t == 0.0:
                pass  # a segment starting where the last ended (or at the equivalent X') keeps the same distance
            elif qs:
                total += float(np.linalg.norm(b - a)) / (points_per_segment - 1)
            qs.append(to_primitive_fractional(q))
            dist.append(total)
        ticks.append(total)
        labels.append(end)
    return np.array(qs), np.array(dist), ticks, labels


def transverse_longitudinal(freqs) -> tuple[float, float]:
    """(mean of the two lowest, highest) of the three frequencies at a zone-boundary point."""
    f = np.sort(np.asarray(freqs, float))
    return float((f[0] + f[1]) / 2.0), float(f[2])


def _phonopy_for(a0: float, n: int):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    conv = fcc_cubic(a0)
    unit = PhonopyAtoms(symbols=conv.get_chemical_symbols(), cell=conv.cell.array,
                        scaled_positions=conv.get_scaled_positions())
    # is_symmetry=False: phonopy's symmetry search over the supercell (48 operations × every lattice translation,
    # in Python) takes ~30 s for 256 atoms; without it, the one atom of the primitive cell is displaced along x, y
    # and z (6 force calls instead of 2) and the result is identical (checked on 2x2x2, where both are cheap).
    return Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * n, primitive_matrix=PRIMITIVE_F, log_level=0,
                   is_symmetry=False)


def force_constants(calc, a0: float, n: int, distance: float):
    """A phonopy object for an n×n×n conventional supercell with force constants from ``calc``."""
    ph = _phonopy_for(a0, n)
    ph.generate_displacements(distance=distance, is_plusminus=True)
    forces = []
    for sc in ph.supercells_with_displacements:
        atoms = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        atoms.calc = calc
        f = atoms.get_forces()
        forces.append(f - f.mean(axis=0))  # remove the (tiny) net force: translational invariance
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def frequencies_at(ph, q_reduced) -> np.ndarray:
    ph.run_qpoints(np.atleast_2d(q_reduced))
    return np.array(ph.qpoints.frequencies)


class Phonons(Property):
    name = "phonons"
    title = "Phonons"
    needs_a0 = True

    def settings(self, tier: str) -> dict:
        full = tier == "full"
        return {
            "supercells": [2, 3, 4, 6] if full else [2, 3, 4],
            "displacement_A": 0.01,
            "plus_minus": True,
            "band_points_per_segment": 41,
            "dos_mesh": [30, 30, 30] if full else [20, 20, 20],
            "dos_pitch_THz": 0.05,
            # mode Grüneisen parameters γ = −d ln ν / d ln V from ±0.5 % lattice strain (central differences) on
            # the largest quick supercell, and from them the Grüneisen-model thermal expansion at 298 K:
            # α = Σ γ_i c_i / (3 B V) (c_i: mode heat capacities, B from the same three static energies)
            "gruneisen_lattice_strain": 0.005,
            "gruneisen_supercell": 4,
            "gruneisen_mesh": [16, 16, 16],
            "qha_lattice_strains": [-0.01, -0.005, 0.0, 0.005, 0.01, 0.015, 0.02] if full else [],
            "qha_supercell": 3,
            "qha_temperatures_K": [0.0, 1000.0, 10.0],
            "dtype": self.dtype,
        }

    def build(self, ctx: PotentialContext) -> dict:
        return {"a0_A": ctx.a0_A, "settings": self.settings(ctx.tier)}

    def compute(self, built: dict, ctx: PotentialContext) -> dict:
        calc = ctx.calculator(self.dtype)
        s = built["settings"]
        a0 = built["a0_A"]
        qs, dist, ticks, labels = band_qpoints(s["band_points_per_segment"])
        special = {"X": to_primitive_fractional(CARTESIAN["X"]), "L": to_primitive_fractional(CARTESIAN["L"]),
                   "K": to_primitive_fractional(CARTESIAN["K"])}
        per_size = []
        ph = None
        for n in s["supercells"]:
            ctx.progress(f"phonons: {n}x{n}x{n} conventional supercell ({4 * n**3} atoms)")
            ph = force_constants(calc, a0, n, s["displacement_A"])
            bands = frequencies_at(ph, qs)
            per_size.append({"n": n, "atoms": 4 * n**3, "bands_THz": bands,
                             **{k: frequencies_at(ph, q)[0].tolist() for k, q in special.items()}})
        ph.run_mesh(s["dos_mesh"], is_gamma_center=True)
        ph.run_total_dos(freq_pitch=s["dos_pitch_THz"])
        dos = {"frequency_points": ph.total_dos.frequency_points, "total_dos": ph.total_dos.dos}
        qha = self._qha(calc, a0, s, ctx) if s["qha_lattice_strains"] else None
        gruneisen = self._gruneisen(calc, a0, s, ctx, special) if s.get("gruneisen_lattice_strain") else None
        return {**built, "distance": dist, "ticks": ticks, "labels": labels, "per_size": per_size,
                "dos": {"frequency_THz": np.asarray(dos["frequency_points"]).tolist(),
                        "dos_states_per_THz": np.asarray(dos["total_dos"]).tolist()},
                "qha": qha, "gruneisen": gruneisen}

    def _gruneisen(self, calc, a0: float, s: dict, ctx: PotentialContext, special: dict) -> dict:
        eps = s["gruneisen_lattice_strain"]
        n = s["gruneisen_supercell"]
        ctx.progress(f"phonons: mode Grüneisen parameters from ±{eps * 100:g} % lattice strain ({n}x{n}x{n})")
        out: dict = {"lattice_strain": eps, "supercell": n}
        points, energies, volumes, meshes = {}, [], [], []
        for sign in (-1, 0, 1):
            a = a0 * (1 + sign * eps)
            bulk = fcc_cubic(a)
            bulk.calc = calc
            energies.append(float(bulk.get_potential_energy()) / len(bulk))
            volumes.append(a**3 / 4.0)
            if sign == 0:
                continue
            ph = force_constants(calc, a, n, s["displacement_A"])
            points[sign] = {k: np.sort(frequencies_at(ph, q)[0]) for k, q in special.items()}
            ph.run_mesh(s["gruneisen_mesh"], is_gamma_center=True)
            meshes.append((np.array(ph.mesh.frequencies), np.array(ph.mesh.weights)))
        dlnv = np.log(volumes[2] / volumes[0])
        for k in ("X", "L"):
            g = -np.log(points[1][k] / points[-1][k]) / dlnv
            out[f"{k}_T"] = float((g[0] + g[1]) / 2)
            out[f"{k}_L"] = float(g[2])
        (f_minus, w), (f_plus, _) = meshes
        ok = (f_minus > 0.1) & (f_plus > 0.1)  # leave out the acoustic modes at Γ
        g = np.where(ok, -np.log(np.where(ok, f_plus, 1) / np.where(ok, f_minus, 1)) / dlnv, 0.0)
        nu = np.sqrt(np.where(ok, f_plus * f_minus, 1.0))  # THz, at a0 to first order
        x = nu * EV_PER_THZ / (KB_EV_PER_K * 298.0)  # h ν / k_B T
        c = np.where(ok, x**2 * np.exp(x) / np.expm1(x) ** 2, 0.0) * w[:, None]  # mode heat capacities / k_B
        gamma_th = float((g * c).sum() / c.sum())
        out["mean_mode_gamma"] = float((g * ok * w[:, None]).sum() / (ok * w[:, None]).sum())
        out["thermal_gamma_298K"] = gamma_th
        cv_per_atom = 3.0 * c.sum() / (3 * w.sum())  # k_B per atom (3 modes per atom)
        # B = V d²E/dV² from the three static energies (eV/Å³)
        v = np.array(volumes)
        curv = np.polyfit(v, energies, 2)[0] * 2.0
        b = volumes[1] * curv
        out["B_GPa"] = float(b * EV_PER_A3_TO_GPA)
        out["heat_capacity_298K_kB_per_atom"] = float(cv_per_atom)
        out["thermal_expansion_298K_per_K"] = float(gamma_th * cv_per_atom * KB_EV_PER_K / (3 * b * volumes[1]))
        return out

    def _qha(self, calc, a0: float, s: dict, ctx: PotentialContext) -> dict:
        from phonopy import PhonopyQHA

        t_min, t_max, t_step = s["qha_temperatures_K"]
        volumes, energies, free, cv, entropy = [], [], [], [], []
        temps = None
        ctx.progress(f"phonons: quasi-harmonic approximation at {len(s['qha_lattice_strains'])} volumes")
        for eps in s["qha_lattice_strains"]:
            a = a0 * (1.0 + eps)
            prim = fcc_cubic(a)
            prim.calc = calc
            energies.append(float(prim.get_potential_energy()) / len(prim))  # eV per primitive cell (1 atom)
            volumes.append(a**3 / 4.0)
            ph = force_constants(calc, a, s["qha_supercell"], s["displacement_A"])
            ph.run_mesh(s["dos_mesh"], is_gamma_center=True)
            # the three acoustic modes at Γ (ν = 0) carry no free energy; phonopy warns unless told to skip them
            ph.run_thermal_properties(t_min=t_min, t_max=t_max, t_step=t_step, exclude_gamma_acoustic=True)
            tp = ph.thermal_properties
            temps = tp.temperatures
            free.append(tp.free_energy)
            cv.append(tp.heat_capacity)
            entropy.append(tp.entropy)
        qha = PhonopyQHA(volumes=volumes, electronic_energies=energies, temperatures=temps,
                         free_energy=np.array(free).T, cv=np.array(cv).T, entropy=np.array(entropy).T, eos="vinet",
                         t_max=t_max - 10 * t_step)
        t = np.asarray(temps)[: len(qha.thermal_expansion)]
        linear = np.asarray(qha.thermal_expansion) / 3.0  # phonopy's is volumetric
        return {"temperatures_K": t.tolist(), "linear_expansion_per_K": linear.tolist(),
                "volume_A3_per_atom": np.asarray(qha.volume_temperature).tolist(), "volumes_A3_per_atom": volumes,
                "static_energies_eV": energies}

    def analyse(self, raw: dict, ctx: PotentialContext) -> PropertyResult:
        sizes = raw["per_size"]
        last = sizes[-1]
        data: dict = {"a0_A": raw["a0_A"]}
        for point, (t_key, l_key) in THZ_NAMES.items():
            t, l_ = transverse_longitudinal(last[point])
            data[t_key], data[l_key] = t, l_
        data["K_THz"] = sorted(last["K"])
        conv = {"n": [p["n"] for p in sizes], "atoms": [p["atoms"] for p in sizes]}
        for point, (t_key, l_key) in THZ_NAMES.items():
            conv[t_key] = [transverse_longitudinal(p[point])[0] for p in sizes]
            conv[l_key] = [transverse_longitudinal(p[point])[1] for p in sizes]
        if len(sizes) >= 2:
            conv["max_band_change_THz"] = float(np.max(np.abs(sizes[-1]["bands_THz"] - sizes[-2]["bands_THz"])))
        data["convergence"] = conv
        bands = np.asarray(last["bands_THz"])
        data["dispersion"] = {"distance_2pi_over_a": np.asarray(raw["distance"]).tolist(),
                              "frequencies_THz": bands.tolist(), "ticks": raw["ticks"], "labels": raw["labels"],
                              "supercell": f"{last['n']}x{last['n']}x{last['n']} conventional ({last['atoms']} atoms)"}
        data["min_frequency_THz"] = float(bands.min())
        data["max_frequency_THz"] = float(bands.max())
        data["dos"] = raw["dos"]
        n = last["n"]
        notes = [f"X and L are commensurate with the even supercells; dispersion from {n}x{n}x{n}"]
        if raw.get("gruneisen"):
            data["gruneisen"] = raw["gruneisen"]
            data["thermal_expansion_gruneisen_298K_per_K"] = raw["gruneisen"]["thermal_expansion_298K_per_K"]
        if raw.get("qha"):
            q = raw["qha"]
            data["qha"] = q
            data["thermal_expansion_298K_per_K"] = float(np.interp(298.0, q["temperatures_K"],
                                                                   q["linear_expansion_per_K"]))
        return PropertyResult(self.name, ctx.name, data, self.comparisons(data, ctx), settings=raw["settings"],
                              notes=notes)

    def comparisons(self, data: dict, ctx: PotentialContext) -> list[Comparison]:
        refs = ctx.references
        out = []
        own_dft = refs.dft_data("phonons")
        for key in ("X_T_THz", "X_L_THz", "L_T_THz", "L_L_THz"):
            label = f"ν {key[0]} {'TA' if key[2] == 'T' else 'LA'} (THz)"
            exp = refs.get("phonons", key, kind="experiment", condition="80 K")
            if exp is not None:
                # 0.3 THz (3-7 %): neutron error bars are ~1 %, the 80 K -> 0 K shift is < 1 %, and PBE itself
                # misses Al zone-boundary frequencies by a few per cent.
                out.append(Comparison(key, data[key], exp.value, "experiment", exp.label, 0.3, label))
            if own_dft and own_dft.get(key) is not None:
                # 0.2 THz: k-point/supercell convergence of the DFT frequencies.
                out.append(Comparison(key, data[key], own_dft[key], "dft", own_dft.get("label", "GPAW-PBE (ours)"),
                                      0.2, label))
        exp = refs.get("phonons", "thermal_expansion_per_K", kind="experiment", condition="298 K")
        for key, how in (("thermal_expansion_298K_per_K", "QHA"),
                         ("thermal_expansion_gruneisen_298K_per_K", "Grüneisen model")):
            if key in data and exp is not None:
                # 20 %: the quasi-harmonic picture misses part of the anharmonicity even at room temperature.
                out.append(Comparison(key, data[key], exp.value, "experiment", exp.label, 0.2 * exp.value,
                                      f"α at 298 K (1/K), {how}"))
        return out
