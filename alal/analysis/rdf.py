"""Radial distribution function g(r), its first peak and minimum, coordination number, self-diffusion.

g(r) is histogrammed over all pairs (periodic images included, through ASE's neighbour list, so cells smaller
than 2 r_max are handled) and normalised per frame by N ρ 4π/3 (r₂³ − r₁³): for an ideal gas g = 1.

This g(r) equals ``ase.geometry.rdf.get_rdf`` and OVITO's ``CoordinationAnalysisModifier`` to ~1e-13 on the same
frames (orthorhombic, triclinic and small cells; pinned by tests/test_field_libraries.py). It is kept because it
returns g(r) of every frame in one call (the rdf property's block errors need them) at a cost that is negligible
beside the MD: 0.2 s for the quick tier's 30 frames of 256 atoms, where ASE's get_rdf takes 2.5 s (a Python loop
over atoms; it also refuses cells smaller than 2 r_max) and OVITO, one pipeline per frame, 0.1 s. At 2048 atoms
(full tier) OVITO is ~10× faster (0.02 s against 0.2 s per frame; ours takes 20 s for the 100 frames, beside hours of MD).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from alal.errors import AlalError


def _pair_distances(atoms: Atoms, r_max: float) -> np.ndarray:
    """All pair distances below ``r_max`` (each pair twice), periodic images included.

    Orthorhombic cells with r_max at most half the shortest edge use vectorised minimum-image distances (fast);
    anything else goes through ASE's neighbour list.
    """
    cell = atoms.cell.array
    lengths = np.diag(cell)
    if all(atoms.pbc) and np.abs(cell - np.diag(lengths)).max() < 1e-9 and r_max <= 0.5 * lengths.min():
        x = atoms.get_positions()
        out = []
        for start in range(0, len(x), 256):  # row blocks keep the memory at 256 x N x 3
            d = x[start:start + 256, None, :] - x[None, :, :]
            d -= lengths * np.round(d / lengths)
            r = np.sqrt(np.einsum("ijk,ijk->ij", d, d))
            rows = np.arange(start, min(start + 256, len(x)))
            r[np.arange(len(rows)), rows] = np.inf  # no self-pairs
            out.append(r[r < r_max])
        return np.concatenate(out)
    return neighbor_list("d", atoms, float(r_max), self_interaction=False)


def rdf_per_frame(frames: list[Atoms], r_max: float, dr: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres in Å, g(r) of each frame (n_frames, n_bins), number density of each frame in Å⁻³)."""
    if not frames:
        raise AlalError("g(r) needs at least one frame")
    if r_max <= dr:
        raise AlalError(f"g(r): r_max ({r_max} Å) must exceed the bin width ({dr} Å)")
    edges = np.arange(0.0, r_max + 0.5 * dr, dr)
    edges = edges[edges <= r_max + 1e-12]
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g, rho = [], []
    for atoms in frames:
        n = len(atoms)
        density = n / atoms.get_volume()
        hist, _ = np.histogram(_pair_distances(atoms, float(edges[-1])), bins=edges)
        g.append(hist / (n * density * shell))  # each pair counted twice: i-j and j-i
        rho.append(density)
    return 0.5 * (edges[1:] + edges[:-1]), np.array(g), np.array(rho)


def rdf(frames: list[Atoms], r_max: float, dr: float = 0.05) -> tuple[np.ndarray, np.ndarray, float]:
    """(bin centres in Å, g(r), mean number density in Å⁻³) averaged over ``frames``."""
    r, g, rho = rdf_per_frame(frames, r_max, dr)
    return r, g.mean(axis=0), float(rho.mean())


def _vertex(r: np.ndarray, g: np.ndarray, i: int, half: int = 2) -> tuple[float, float]:
    """Position and value of the extremum of a parabola through bins i-half..i+half (sub-bin resolution)."""
    lo, hi = max(i - half, 0), min(i + half + 1, len(r))
    if hi - lo < 3:
        return float(r[i]), float(g[i])
    c = np.polyfit(r[lo:hi], g[lo:hi], 2)
    if c[0] == 0:
        return float(r[i]), float(g[i])
    x = -c[1] / (2 * c[0])
    if not (r[lo] <= x <= r[hi - 1]):
        return float(r[i]), float(g[i])
    return float(x), float(np.polyval(c, x))


def first_shell(r: np.ndarray, g: np.ndarray, rho: float, r_min_search: float = 1.5) -> dict:
    """First peak (position, height), first minimum after it, and the coordination number up to that minimum."""
    r, g = np.asarray(r, float), np.asarray(g, float)
    dr = float(r[1] - r[0])
    mask = r >= r_min_search
    i_peak = int(np.argmax(np.where(mask, g, -np.inf)))
    peak_r, peak_g = _vertex(r, g, i_peak)
    smooth = np.convolve(g, np.ones(5) / 5.0, mode="same")  # 0.25 Å running mean against bin noise
    window = (r > r[i_peak]) & (r < r[i_peak] + 2.5)
    min_r = float("nan")
    if window.any():
        idx = np.where(window)[0]
        i_min = int(idx[np.argmin(smooth[idx])])
        min_r = _vertex(r, smooth, i_min)[0]
    cn = float("nan")
    if np.isfinite(min_r):
        inside = r <= min_r
        shell = 4.0 * np.pi * (r[inside] ** 2 * dr + dr**3 / 12.0)  # exact volume of each bin's shell
        cn = float(np.sum(rho * g[inside] * shell))
    return {"peak_r_A": peak_r, "peak_g": peak_g, "min_r_A": min_r, "cn": cn}


def unwrapped_positions(frames: list[Atoms]) -> np.ndarray:
    """(n_frames, N, 3) continuous trajectories: consecutive frames joined by minimum-image displacements.

    Frames must be close enough in time that no atom moves half a cell between them (true for 0.1 ps).
    """
    out = [frames[0].get_positions()]
    for prev, cur in zip(frames[:-1], frames[1:]):
        d = cur.get_positions() - prev.get_positions()
        frac = np.linalg.solve(cur.cell.array.T, d.T).T
        frac -= np.round(frac)
        out.append(out[-1] + frac @ cur.cell.array)
    return np.array(out)


def self_diffusion(frames: list[Atoms], dt_ps: float, fit_window: tuple[float, float] = (0.3, 1.0)) -> dict:
    """Einstein self-diffusion coefficient from the mean-squared displacement of frames ``dt_ps`` apart.

    MSD(τ) is averaged over all time origins; D = slope / 6 from a straight-line fit over the fraction
    ``fit_window`` of the longest lag (past the ballistic regime). Returns D in m²/s and the MSD curve.
    """
    x = unwrapped_positions(frames)
    x -= x.mean(axis=1, keepdims=True)  # remove centre-of-mass drift
    n = len(x)
    if n < 5:
        raise AlalError("self-diffusion needs at least 5 frames")
    max_lag = n // 2
    lags = np.arange(1, max_lag + 1)
    msd = np.array([np.mean(np.sum((x[k:] - x[:-k]) ** 2, axis=2)) for k in lags])
    tau = lags * dt_ps
    sel = (tau >= fit_window[0] * tau[-1]) & (tau <= fit_window[1] * tau[-1])
    slope = np.polyfit(tau[sel], msd[sel], 1)[0] if sel.sum() >= 2 else float("nan")
    return {"D_m2_s": float(slope / 6.0 * 1e-8), "tau_ps": tau, "msd_A2": msd}  # Å²/ps = 1e-8 m²/s
