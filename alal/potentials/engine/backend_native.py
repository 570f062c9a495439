"""Backend on the compiled CPU kernels: one fused pass per block of atoms (AEVs -> all member networks
forward and backward -> analytic AEV backward), then a force/virial gather.

Buffers are kept between calls (same shapes in MD), so a step allocates nothing large and touches no
fresh pages.
"""

from __future__ import annotations

import numpy as np
import torch

from alal.potentials.ani_model import ANIModel
from alal.potentials.engine.aev import AEVConstants
from alal.potentials.engine.native import NativeKernels

ATOMS_PER_BLOCK = 16  # rows of the network GEMMs; a block's angular-factor cache stays in L2/L3


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def pack_networks(model: ANIModel, width: int, np_dtype):
    """Weights in the kernels' layout: per species, member, layer: W^T [in][out], W [out][in], b [out], with
    widths padded to multiples of ``width`` (zeros: padded activations stay 0). Returns (weights, info, dims)
    with info[s] = (n_layers, offset into dims, offset into weights, member stride)."""
    chunks, info, dims = [], [], []
    offset = 0
    for sp in model.species:
        layers0 = model.members[0][sp]
        widths = [layers0[0][0].shape[1]] + [w.shape[0] for w, _ in layers0]
        padded = [_round_up(d, width) for d in widths]
        info.append((len(layers0), len(dims), offset, 0))
        dims.extend(padded)
        member_size = 0
        for member in model.members:
            layers = member[sp]
            if [layers[0][0].shape[1]] + [w.shape[0] for w, _ in layers] != widths:
                raise ValueError(f"the members' {sp} networks differ in shape; the engine needs one architecture")
            start = offset
            for (w, b), pi, po in zip(layers, padded[:-1], padded[1:]):
                wp = np.zeros((po, pi))
                wp[: w.shape[0], : w.shape[1]] = w
                bp = np.zeros(po)
                bp[: len(b)] = b
                chunks += [wp.T.ravel(), wp.ravel(), bp]
                offset += 2 * pi * po + po
            member_size = offset - start
        info[-1] = (info[-1][0], info[-1][1], info[-1][2], member_size)
    weights = np.ascontiguousarray(np.concatenate(chunks).astype(np_dtype))
    return weights, np.array(info, dtype=np.int64), np.array(dims, dtype=np.int32)


class NativeBackend:
    name = "native"

    def __init__(self, kernels: NativeKernels, const: AEVConstants, model: ANIModel, dtype: str):
        if len(const.sections) > kernels.max_sections:
            raise ValueError(f"at most {kernels.max_sections} angle sections are supported by the compiled kernels")
        self.k = kernels
        self.const = const
        self.dtype = dtype
        self.np_dtype = np.float32 if dtype == "float32" else np.float64
        self.width = 8 if dtype == "float32" else 4  # SIMD lanes of the kernels
        c = const
        self._dims = np.array([c.n_species, c.n_radial, len(c.shifts_a), len(c.sections)], dtype=np.int32)
        self._scal = np.array([c.radial_cutoff, c.angular_cutoff, c.eta_r, c.eta_a, c.zeta], dtype=np.float64)
        self._shift_r = np.ascontiguousarray(c.shifts_r)
        self._shift_a = np.ascontiguousarray(c.shifts_a)
        self._cos_s = np.cos(c.sections)
        self._sin_s = np.sin(c.sections)
        self._triu = np.ascontiguousarray(c.triu_index())
        self.n_members = model.n_members
        self.alpha = float(model.celu_alpha)
        self._weights, self._net_info, self._net_dims = pack_networks(model, 2 * self.width, self.np_dtype)
        self._buffers: dict[str, np.ndarray] = {}
        self._blocks_key = None
        self.nl = None

    # -- buffers reused across calls
    def _buffer(self, name: str, shape: tuple, dtype) -> np.ndarray:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._buffers[name] = buf
        return buf

    @staticmethod
    def _threads() -> int:
        return max(1, torch.get_num_threads())

    def set_structure(self, nl, species: np.ndarray) -> None:
        """``nl``: a VerletList (one system) or a BatchList (flat list of several, ``atom_system`` set)."""
        self.nl = nl
        self.n_systems = 1 if nl.atom_system is None else len(nl.atom_offsets) - 1
        self.species = np.ascontiguousarray(species, dtype=np.int32)
        self.n = len(species)
        key = self.species.tobytes()
        if key != self._blocks_key:  # atoms grouped by species, blocks never straddle two species
            order = np.argsort(self.species, kind="stable").astype(np.int32)
            starts = []
            sorted_species = self.species[order]
            run_starts = np.flatnonzero(np.r_[True, sorted_species[1:] != sorted_species[:-1]])
            run_ends = np.r_[run_starts[1:], self.n]
            for a, b in zip(run_starts, run_ends):
                starts.extend(range(a, b, ATOMS_PER_BLOCK))
            starts.append(self.n)
            self._order = order
            self._block_starts = np.array(starts, dtype=np.int64)
            self._blocks_key = key

    def _aev_args(self):
        return (self._dims.ctypes.data, self._scal.ctypes.data, self._shift_r.ctypes.data, self._shift_a.ctypes.data,
                self._cos_s.ctypes.data, self._sin_s.ctypes.data, self._triu.ctypes.data)

    def geometry(self, positions: np.ndarray, cells: np.ndarray) -> float:
        """Displacements, distances and cutoff values of every entry, each system's shifts applied with its
        own cell (``cells``: (B, 3, 3)); returns the smallest distance."""
        nl = self.nl
        e = nl.n_entries
        self.epad = max(self.width, _round_up(e, self.width))
        self.geo = self._buffer("geo", (8, self.epad), self.np_dtype)
        self._pos = np.ascontiguousarray(positions, dtype=np.float64)
        self._cells = np.ascontiguousarray(cells, dtype=np.float64)
        return self.k.fn("geometry", self.dtype)(
            self.n, nl.offsets.ctypes.data, nl.nbr.ctypes.data, nl.shift.ctypes.data, self._pos.ctypes.data,
            self._cells.ctypes.data, None if nl.atom_system is None else nl.atom_system.ctypes.data,
            self._dims.ctypes.data, self._scal.ctypes.data, self.epad, self.geo.ctypes.data, self._threads())

    def distances(self) -> np.ndarray:
        """Entry distances (E,) of the last geometry pass (to find the system of an overlap)."""
        return self.geo[3, : self.nl.n_entries].astype(np.float64)

    def aev(self) -> np.ndarray:
        """AEVs of all atoms (N, F) (diagnostics and tests; :meth:`run` never materialises them)."""
        nl = self.nl
        aev = np.empty((self.n, self.const.n_features), dtype=self.np_dtype)
        self.k.fn("aev_forward", self.dtype)(
            self.n, nl.offsets.ctypes.data, nl.nbr.ctypes.data, self.species.ctypes.data, self.geo.ctypes.data,
            self.epad, *self._aev_args(), aev.ctypes.data, self._threads())
        return aev

    def run(self, grad: str | None, unit: float) -> np.ndarray:
        """Per-atom outputs (M, N) of every member (network units) and, for grad "mean" or "members", the entry
        gradients of the energy in eV (1 or M channels) kept for :meth:`gather`."""
        nl = self.nl
        M = self.n_members
        if grad is None:
            C, cw = 0, np.zeros(M)
        elif grad == "mean":
            C, cw = 1, np.full(M, unit / M)
        else:
            C, cw = M, np.full(M, unit)
        cw = np.ascontiguousarray(cw, dtype=self.np_dtype)
        out = self._buffer("out", (M, self.n), self.np_dtype)
        self.gv = self._buffer(f"gv{C}", (max(C, 1), nl.n_entries, 3), self.np_dtype)
        self.k.fn("evaluate", self.dtype)(
            self.n, nl.offsets.ctypes.data, nl.nbr.ctypes.data, self.species.ctypes.data, self.geo.ctypes.data,
            self.epad, *self._aev_args(), self._order.ctypes.data, self._block_starts.ctypes.data,
            len(self._block_starts) - 1, self._net_info.ctypes.data, self._net_dims.ctypes.data,
            self._weights.ctypes.data, M, self.alpha, C, cw.ctypes.data, out.ctypes.data, self.gv.ctypes.data,
            self._threads())
        self.channels = C
        return out.astype(np.float64)

    def gather(self, virial_weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Forces (C, N, 3) and, with weights per channel, each system's virial sum_e d_e (x) dE/dd_e (B, 3, 3)."""
        nl = self.nl
        C = self.channels
        B = self.n_systems
        forces = np.empty((C, self.n, 3), dtype=np.float64)
        virial = np.zeros((B, 9), dtype=np.float64) if virial_weights is not None else None
        weights = np.ascontiguousarray(virial_weights if virial_weights is not None else np.zeros(C), dtype=np.float64)
        self.k.fn("gather", self.dtype)(
            self.n, nl.offsets.ctypes.data, nl.partner.ctypes.data, self.geo.ctypes.data, self.epad,
            self.gv.ctypes.data, C, weights.ctypes.data,
            None if nl.atom_system is None else nl.atom_system.ctypes.data, B, forces.ctypes.data,
            virial.ctypes.data if virial is not None else None, self._threads())
        return forces, (virial.reshape(B, 3, 3) if virial is not None else None)
