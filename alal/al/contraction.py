"""The fast trainer's force contraction: per atom, its Jacobian blocks times the ensemble's dE/dAEV.

For every atom a of a batch and every member m (see :mod:`alal.al.descriptors` for the Jacobian layout):

  t_rad[a, k, m]    = Σ_r  rad_drT[a, k, r]  · g[m, a, r]      · inv_scale[r]        (k: radial slots)
  t_ang[a, s·3+c, m] = Σ_f ang_JT[a, s·3+c, f] · g[m, a, R + f] · inv_scale[R + f]   (s: angular slots)

where g is dE/dAEV with respect to the standardised AEV (the networks' input) and inv_scale undoes the
standardisation. Two implementations with the same result (to float32 round-off, tested):

- ``native``: the engine's C++ kernels (``csrc/contract.h``), CPU, float32, at most 8 members (one SIMD
  vector); an autograd Function whose backward is the transposed kernel. The contraction is linear in g
  and the Jacobian is constant, so the backward is needed once and is never differentiated again.
- ``torch``: one ``torch.bmm`` per structure (any device, any member count): the GPU path and the fallback.

Why a kernel of our own: bmm runs the thousands of tiny per-atom products (≈100 × 64 by 64 × 8) far from
the machine's peak; measured on 500 EMT cells of 32-128 atoms, 2 threads, it was a third of an epoch.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from alal.potentials.engine import native


def native_usable(device, n_members: int) -> bool:
    """The kernels apply: CPU tensors, ≤ one SIMD vector of members, kernels built (and not switched off)."""
    if torch.device(device).type != "cpu" or os.environ.get("ALAL_TRAINER_NATIVE", "1") == "0":
        return False
    try:
        kernels = native.load()
    except native.NativeUnavailable:
        return False
    return n_members <= kernels.contract_max_members


class Addresses:
    """Per-atom addresses of the Jacobian blocks and row offsets of the outputs, for one batch.

    ``blocks``: per structure a (A_s, rows_s, F) contiguous float32 tensor; they must outlive the calls
    (the batch holds them).
    """

    def __init__(self, blocks: list[torch.Tensor]):
        counts = np.array([b.shape[0] for b in blocks], dtype=np.int64)
        rows = np.array([b.shape[1] for b in blocks], dtype=np.int64)
        strides = np.array([b.stride(0) * b.element_size() for b in blocks], dtype=np.int64)
        base = np.array([b.data_ptr() for b in blocks], dtype=np.int64)
        local = np.arange(counts.sum(), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        self.jac = np.repeat(base, counts) + local * np.repeat(strides, counts)
        self.rows = np.repeat(rows, counts)
        self.row_start = np.concatenate([[0], np.cumsum(self.rows)[:-1]]).astype(np.int64)
        self.total_rows = int(self.rows.sum())
        self.n_features = blocks[0].shape[2]
        self._out_off: dict[int, np.ndarray] = {}

    def out_off(self, M: int) -> np.ndarray:
        if M not in self._out_off:
            self._out_off[M] = self.row_start * M
        return self._out_off[M]


def _call(fn, A, M, addr: Addresses, f0, ldg, src, scale, dst):
    fn(A, M, addr.n_features, f0, ldg, src.data_ptr(), scale.data_ptr(), addr.jac.ctypes.data,
       addr.rows.ctypes.data, addr.out_off(M).ctypes.data, dst.data_ptr(), torch.get_num_threads())


class _NativeContraction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, g, inv_scale, rad: Addresses, ang: Addresses, n_radial: int):
        lib = native.load().lib
        g = g.contiguous()
        M, A, F = g.shape
        t_rad = g.new_empty(rad.total_rows, M)
        t_ang = g.new_empty(ang.total_rows, M)
        _call(lib.alal_jac_contract_f32, A, M, rad, 0, F, g, inv_scale, t_rad)
        _call(lib.alal_jac_contract_f32, A, M, ang, n_radial, F, g, inv_scale, t_ang)
        ctx.inv_scale, ctx.rad, ctx.ang, ctx.n_radial, ctx.shape = inv_scale, rad, ang, n_radial, (M, A, F)
        return t_rad, t_ang

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rad, grad_ang):
        lib = native.load().lib
        M, A, F = ctx.shape
        grad_g = grad_rad.new_empty(M, A, F)  # the two calls write all features: radial [0, R), angular [R, F)
        _call(lib.alal_jac_contract_t_f32, A, M, ctx.rad, 0, F, grad_rad.contiguous(), ctx.inv_scale, grad_g)
        _call(lib.alal_jac_contract_t_f32, A, M, ctx.ang, ctx.n_radial, F, grad_ang.contiguous(), ctx.inv_scale,
              grad_g)
        return grad_g, None, None, None, None


def contract(g, inv_scale, rad_blocks: list, ang_blocks: list, atom_counts: list[int], n_radial: int, *,
             addresses: tuple[Addresses, Addresses] | None = None):
    """(t_rad (Σ A_s·K_s, M), t_ang (Σ A_s·S_s·3, M)) for g (M, A, F) standardised dE/dAEV.

    ``addresses`` (radial, angular) selects the native kernels; None the torch path.
    """
    if addresses is not None:
        return _NativeContraction.apply(g, inv_scale, addresses[0], addresses[1], n_radial)
    M = g.shape[0]
    g = g * inv_scale
    g_rad = g[:, :, :n_radial].permute(1, 2, 0).contiguous()  # (A, R, M)
    g_ang = g[:, :, n_radial:].permute(1, 2, 0).contiguous()  # (A, F_ang, M)
    # split, not slicing: the backward of a split is one concatenation, that of a slice a full-size zero fill
    t_rad = torch.cat([torch.bmm(J, gk).reshape(-1, M) for J, gk in zip(rad_blocks, g_rad.split(atom_counts))])
    t_ang = torch.cat([torch.bmm(J, gk).reshape(-1, M) for J, gk in zip(ang_blocks, g_ang.split(atom_counts))])
    return t_rad, t_ang
